import Foundation
import Testing
import WeftProto

@testable import WeftRuntime

/// The vectorised single-precision `Tanh`, complex optimizers, `bfloat16` sparse updates and
/// depth-window max pooling.
@Suite struct NN4Tests {
    typealias H = KernelHarness

    /// Distance from `value` to `exact` in units of the last place of `exact` rounded to float.
    private static func ulps(_ value: Float, from exact: Double) -> Double {
        abs(Double(value) - exact) / Double(Float(exact).magnitude.ulp)
    }

    @Test func tanhStaysWithinSixUlpOnADenseSweep() throws {
        let count = 1_000_001
        let x = (0..<count).map { Float(-10 + 20 * Double($0) / Double(count - 1)) }
        let y = try H.run1("Tanh", [tensor(x, [count])]).scalars(as: Float.self)
        var worst = 0.0
        for (input, output) in zip(x, y) { worst = max(worst, Self.ulps(output, from: Foundation.tanh(Double(input)))) }
        // TensorFlow's own float32 kernel is 5.5 ulp off at worst on the same sweep.
        #expect(worst <= 6, "max error \(worst) ulp")
        #expect(worst > 0)
    }

    @Test func tanhKeepsSpecialValuesAndTinyInputs() throws {
        let x: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, 1e-30, -1e-20, 9, -9, 100, .greatestFiniteMagnitude]
        let y = try H.run1("Tanh", [tensor(x, [x.count])]).scalars(as: Float.self)
        #expect(y[0].isNaN)
        #expect(Array(y[1...2]) == [1, -1])
        #expect(y[3] == 0 && y[3].sign == .plus && y[4] == 0 && y[4].sign == .minus)
        #expect(Array(y[5...6]) == [1e-30, -1e-20])
        #expect(y[7...].allSatisfy { Swift.abs($0) <= 1 && Swift.abs($0) > 0.9999 })
    }

    @Test func tanhTailTakesTheVectorArithmetic() throws {
        // The last elements of a buffer whose size is not a multiple of eight give the same
        // values as the same inputs inside a full vector.
        let x = (0..<13).map { Float($0) * 0.37 - 2 }
        let whole = try H.run1("Tanh", [tensor(x, [13])]).scalars(as: Float.self)
        let padded = try H.run1("Tanh", [tensor(Array(x[..<8]) + Array(x[8...]) + [0, 0, 0], [16])])
        #expect(whole == Array(try padded.scalars(as: Float.self)[..<13]))
    }

    @Test func tanhInDoubleAndHalfStaysExact() throws {
        let x: [Double] = [-3, -0.5, 0.001, 2.5]
        let y = try H.run1("Tanh", [tensor(x, [4])]).scalars(as: Double.self)
        #expect(y == x.map { Foundation.tanh($0) })
        let h = try H.run1("Tanh", [tensor(x.map { Float16($0) }, [4])]).scalars(as: Float16.self)
        #expect(h == x.map { Float16(Foundation.tanhf(Float(Float16($0)))) })
    }
}

/// Optimizer and scatter kernels on complex and `bfloat16` variables.
@Suite struct NN4UpdateTests {
    typealias H = KernelHarness

    @Test(arguments: [("ApplyFtrl", DType.complex64), ("ResourceApplyProximalAdagrad", .complex128),
                      ("SparseApplyRMSProp", .bfloat16), ("ApplyProximalGradientDescent", .bfloat16)])
    func dtypesWithoutATensorFlowKernelAreRefusedBeforeAnyStep(op: String, dtype: DType) throws {
        let node = try H.node(op, inputs: 0, attrs: ["T": H.type(dtype)])
        let definition = try OpRegistry.standard.definition(of: op, node: node.name)
        #expect(throws: WeftError.self) { try definition.makeKernel(node) }
        do {
            _ = try definition.makeKernel(node)
        } catch {
            #expect(error.code == .invalidArgument)
        }
    }

    @Test func complexRulesKeepTheirKernels() throws {
        for op in ["ApplyAdam", "ResourceSparseApplyCenteredRMSProp", "SparseApplyAdadelta", "ResourceApplyKerasMomentum"] {
            let node = try H.node(op, inputs: 0, attrs: ["T": H.type(.complex64)])
            _ = try OpRegistry.standard.definition(of: op, node: node.name).makeKernel(node)
        }
    }

    @Test func complexGradientDescentMultipliesByAComplexRate() {
        typealias C = ComplexElement<Double>
        var variable = C(1, 1)
        var gradient = C(2, 0)
        withUnsafeMutablePointer(to: &variable) { v in
            withUnsafeMutablePointer(to: &gradient) { g in
                let row = UpdateRow(variable: v, slot1: v, slot2: v, slot3: v, gradient: UnsafePointer(g), count: 1)
                C.update(.gradientDescent, row, [C(0, 1)])
            }
        }
        #expect(variable == C(1, -1))
    }

    @Test func bfloat16ScatterAddRoundsEveryAddition() throws {
        // 1 + 2⁻⁸ rounds back to 1 (ties to even) each time; one rounding of the sum would not.
        let params = tensor([BFloat16(1)], [1])
        let updates = tensor([BFloat16(Float(1) / 256), BFloat16(Float(1) / 256)], [2])
        let result = try ScatterOp.add.apply(params, indices: tensor([Int32(0), 0], [2]), updates: updates, op: "ScatterAdd", node: "s")
        #expect(result.failure == nil)
        #expect(try result.value.scalars(as: BFloat16.self).map(\.float) == [1])
    }
}

/// `MaxPool` with a window over depth alone.
@Suite struct NN4DepthPoolTests {
    typealias H = KernelHarness

    private static func attributes(_ ksize: [Int], _ strides: [Int]) -> [String: Tensorflow_AttrValue] {
        ["ksize": H.ints(ksize), "strides": H.ints(strides), "padding": H.string("SAME")]
    }

    @Test func depthWindowKeepsTheFirstNaNAndSkipsLaterOnes() throws {
        let x = tensor([Float.nan, 1, 2, 3, Float.nan, 5], [1, 1, 1, 6])
        let y = try H.run1("MaxPool", [x], Self.attributes([1, 1, 1, 3], [1, 4, 4, 3]))
        #expect(y.shape == [1, 1, 1, 2])
        let values = try y.scalars(as: Float.self)
        #expect(values[0].isNaN && values[1] == 5)
    }

    @Test func depthRulesAreTensorFlowsUnimplemented() {
        let x = tensor([Int32](repeating: 1, count: 12), [1, 2, 1, 6])
        for (ksize, strides) in [([1, 1, 1, 4], [1, 1, 1, 4]), ([1, 1, 1, 3], [1, 1, 1, 1]), ([1, 2, 1, 3], [1, 1, 1, 3])] {
            #expect(H.error("MaxPool", [x], Self.attributes(ksize, strides))?.code == .unimplemented)
        }
        #expect(H.error("AvgPool", [tensor([Float](repeating: 1, count: 6), [1, 1, 1, 6])], Self.attributes([1, 1, 1, 3], [1, 1, 1, 3]))?.code == .unimplemented)
        #expect(H.error("MaxPool", [x], Self.attributes([1, 1, 1, 0], [1, 1, 1, 1]))?.code == .invalidArgument)
    }

    @Test func spatialWindowIgnoresTheDepthStride() throws {
        let x = tensor((0..<8).map(Float.init), [1, 2, 2, 2])
        let y = try H.run1("MaxPool", [x], Self.attributes([1, 2, 2, 1], [1, 1, 1, 2]))
        #expect(y.shape == [1, 2, 2, 2])
        #expect(try y.scalars(as: Float.self) == [6, 7, 6, 7, 6, 7, 6, 7])
    }
}

/// How bulk element-wise routines are split across cores.
@Suite struct BulkSplitTests {
    @Test(arguments: [(1 << 18, 2), (1_000_001, 2), (1_000_003, 3), (1 << 20, 7)])
    func parts_coverTheRangeOnceWithAlignedStarts(count: Int, parts: Int) {
        let ranges = (0..<parts).map { BulkSplit.bounds($0, of: parts, count: count) }
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == count)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(ranges.allSatisfy { $0.lowerBound % BulkSplit.alignment == 0 && !$0.isEmpty })
    }

    @Test func aLargeTensor_isComputedWhole() throws {
        let count = BulkSplit.minimumCount * 3 + 5
        let x = (0..<count).map { Float($0 % 1000) / 100 - 5 }
        let y = try KernelHarness.run1("Exp", [tensor(x, [count])]).scalars(as: Float.self)
        #expect(zip(x, y).allSatisfy { Swift.abs($1 - Foundation.exp($0)) <= 1e-5 * Foundation.exp($0) })
    }
}
