import Foundation
import Testing
import WeftProto

@testable import WeftRuntime

// MARK: - Harness

/// Builds nodes and runs single kernels the way the executor does: the registry's definition,
/// `outputTypes` from the inputs' types, `makeKernel` once, then `compute`.
enum KernelHarness {
    static func type(_ dtype: DType) -> Tensorflow_AttrValue {
        var value = Tensorflow_AttrValue()
        value.value = .type(dtype.proto)
        return value
    }

    static func bool(_ flag: Bool) -> Tensorflow_AttrValue {
        var value = Tensorflow_AttrValue()
        value.value = .b(flag)
        return value
    }

    static func int(_ number: Int) -> Tensorflow_AttrValue {
        var value = Tensorflow_AttrValue()
        value.value = .i(Int64(number))
        return value
    }

    static func ints(_ numbers: [Int]) -> Tensorflow_AttrValue {
        var list = Tensorflow_AttrValue.ListValue()
        list.i = numbers.map { Int64($0) }
        var value = Tensorflow_AttrValue()
        value.value = .list(list)
        return value
    }

    static func string(_ text: String) -> Tensorflow_AttrValue {
        var value = Tensorflow_AttrValue()
        value.value = .s(Data(text.utf8))
        return value
    }

    /// A node `op` reading `inputs` placeholders, with `attrs`.
    static func node(_ op: String, inputs: Int, attrs: [String: Tensorflow_AttrValue]) throws -> NodeInfo {
        var def = Tensorflow_NodeDef()
        def.name = "k_\(op)"
        def.op = op
        def.input = (0..<inputs).map { "in\($0)" }
        def.attr = attrs
        return try NodeInfo(def)
    }

    /// Runs `op` on `inputs`. Attribute `T` is set to the first input's dtype unless given
    /// (or `setT` is false). Checks that the outputs have the types `outputTypes` promised.
    static func run(
        _ op: String,
        _ inputs: [Tensor],
        _ attrs: [String: Tensorflow_AttrValue] = [:],
        setT: Bool = true
    ) throws -> [Tensor] {
        var attrs = attrs
        if setT, attrs["T"] == nil, let first = inputs.first { attrs["T"] = type(first.dtype) }
        let info = try node(op, inputs: inputs.count, attrs: attrs)
        let definition = try OpRegistry.standard.definition(of: op, node: info.name)
        let promised = try definition.outputTypes(info, inputs.map { OutputType($0.dtype) })
        let kernel = try definition.makeKernel(info)
        let context = OpKernelContext(
            node: info.name,
            inputs: inputs.map { .tensor($0) },
            step: StepContext(id: 1, resources: ResourceContainer())
        )
        let outputs = try kernel.compute(context).map { try $0.read() }
        #expect(outputs.map(\.dtype) == promised.map(\.dtype), "\(op) output types")
        return outputs
    }

    /// The single output of `op`.
    static func run1(
        _ op: String,
        _ inputs: [Tensor],
        _ attrs: [String: Tensorflow_AttrValue] = [:],
        setT: Bool = true
    ) throws -> Tensor {
        let outputs = try run(op, inputs, attrs, setT: setT)
        try #require(outputs.count == 1)
        return outputs[0]
    }

    /// The error `op` throws on `inputs`.
    static func error(
        _ op: String,
        _ inputs: [Tensor],
        _ attrs: [String: Tensorflow_AttrValue] = [:]
    ) -> WeftError? {
        do {
            _ = try run(op, inputs, attrs)
            return nil
        } catch let error as WeftError {
            return error
        } catch {
            return WeftError(.unknown, "\(error)")
        }
    }
}

func tensor<T: TensorElement>(_ values: [T], _ shape: TensorShape) -> Tensor {
    try! Tensor(values, shape: shape)
}

func close(_ a: [Double], _ b: [Double], tolerance: Double = 1e-5) -> Bool {
    a.count == b.count
        && zip(a, b).allSatisfy { x, y in
            (x.isNaN && y.isNaN) || x == y || abs(x - y) <= tolerance * max(1, abs(x), abs(y))
        }
}

/// Row-major `[rows, columns]` values of `op(matrix)` where `op` transposes when asked.
func naiveMatMul(
    _ a: [Double],
    _ aShape: (Int, Int),
    _ ta: Bool,
    _ b: [Double],
    _ bShape: (Int, Int),
    _ tb: Bool
) -> [Double] {
    let (m, k) = ta ? (aShape.1, aShape.0) : aShape
    let n = tb ? bShape.0 : bShape.1
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let x = ta ? a[p * aShape.1 + i] : a[i * aShape.1 + p]
                let y = tb ? b[j * bShape.1 + p] : b[p * bShape.1 + j]
                sum += x * y
            }
            c[i * n + j] = sum
        }
    }
    return c
}

// MARK: - Element-wise math

@Suite struct BinaryKernelTests {
    typealias H = KernelHarness

    @Test func matrixPlusRow_broadcastsAlongRows() throws {
        let out = try H.run1(
            "AddV2",
            [tensor([1, 2, 3, 4, 5, 6] as [Float], [2, 3]), tensor([10, 20, 30] as [Float], [3])]
        )
        #expect(out.shape == [2, 3])
        #expect(try out.scalars(as: Float.self) == [11, 22, 33, 14, 25, 36])
    }

    @Test func columnTimesRow_isOuterProduct() throws {
        let out = try H.run1("Mul", [tensor([1, 2] as [Int32], [2, 1]), tensor([3, 4, 5] as [Int32], [1, 3])])
        #expect(out.shape == [2, 3])
        #expect(try out.scalars(as: Int32.self) == [3, 4, 5, 6, 8, 10])
    }

    @Test func scalarOperands_onEitherSide() throws {
        let matrix = tensor([1, 2, 3, 4] as [Double], [2, 2])
        let left = try H.run1("Sub", [Tensor(10.0), matrix])
        #expect(left.shape == [2, 2])
        #expect(try left.scalars(as: Double.self) == [9, 8, 7, 6])
        let right = try H.run1("RealDiv", [matrix, Tensor(2.0)])
        #expect(try right.scalars(as: Double.self) == [0.5, 1, 1.5, 2])
        let oneElement = try H.run1("AddV2", [tensor([100] as [Double], [1, 1]), tensor([1, 2] as [Double], [2])])
        #expect(oneElement.shape == [1, 2])
        #expect(try oneElement.scalars(as: Double.self) == [101, 102])
    }

    @Test func generalBroadcast_matchesNaiveIndexing() throws {
        // [2,1,3] + [4,1] -> [2,4,3]
        let a = (0..<6).map { Float($0) }
        let b = (0..<4).map { Float($0 * 100) }
        let out = try H.run1("AddV2", [tensor(a, [2, 1, 3]), tensor(b, [4, 1])])
        #expect(out.shape == [2, 4, 3])
        var expected: [Float] = []
        for i in 0..<2 { for j in 0..<4 { for k in 0..<3 { expected.append(a[i * 3 + k] + b[j]) } } }
        #expect(try out.scalars(as: Float.self) == expected)
        // [3,1,2] * [1,4,1]: both operands repeat along different axes.
        let x = (1...6).map { Int64($0) }
        let y = (1...4).map { Int64($0) }
        let product = try H.run1("Mul", [tensor(x, [3, 1, 2]), tensor(y, [1, 4, 1])])
        var naive: [Int64] = []
        for i in 0..<3 { for j in 0..<4 { for k in 0..<2 { naive.append(x[i * 2 + k] * y[j]) } } }
        #expect(product.shape == [3, 4, 2])
        #expect(try product.scalars(as: Int64.self) == naive)
    }

    @Test func incompatibleShapes_areInvalidArgument() throws {
        let error = H.error(
            "AddV2",
            [tensor([1, 2, 3, 4, 5, 6] as [Float], [2, 3]), tensor([1, 2, 3, 4] as [Float], [4])]
        )
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("Incompatible shapes: [2,3] vs. [4]") == true)
    }

    @Test func mixedDTypes_areInvalidArgument() throws {
        let error = H.error("Mul", [Tensor(Float(1)), Tensor(Int32(1))])
        #expect(error?.code == .invalidArgument)
        let info = try H.node("Mul", inputs: 2, attrs: [:])
        let definition = try OpRegistry.standard.definition(of: "Mul", node: info.name)
        #expect(throws: WeftError.self) { try definition.outputTypes(info, [OutputType(.float), OutputType(.int32)]) }
    }

    @Test(arguments: ["Div", "FloorDiv", "FloorMod", "RealDiv"])
    func integerDivisionByZero_isInvalidArgument(op: String) throws {
        let error = H.error(op, [tensor([4, 5] as [Int32], [2]), tensor([2, 0] as [Int32], [2])])
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("Integer division by zero") == true)
    }

    @Test func floorDivAndMod_roundTowardNegativeInfinity() throws {
        let x = tensor([7, -7, 7, -7] as [Int32], [4])
        let y = tensor([2, 2, -2, -2] as [Int32], [4])
        #expect(try H.run1("FloorDiv", [x, y]).scalars(as: Int32.self) == [3, -4, -4, 3])
        #expect(try H.run1("FloorMod", [x, y]).scalars(as: Int32.self) == [1, 1, -1, -1])
        #expect(try H.run1("Div", [x, y]).scalars(as: Int32.self) == [3, -3, -3, 3])
        let fx = tensor([7.5, -7.5, 7.5, -7.5] as [Double], [4])
        let fy = tensor([2, 2, -2, -2] as [Double], [4])
        #expect(try H.run1("FloorDiv", [fx, fy]).scalars(as: Double.self) == [3, -4, -4, 3])
        #expect(try H.run1("FloorMod", [fx, fy]).scalars(as: Double.self) == [1.5, 0.5, -0.5, -1.5])
    }

    @Test func integerOverflow_wrapsInsteadOfTrapping() throws {
        let big = tensor([Int32.max, Int32.min] as [Int32], [2])
        #expect(try H.run1("AddV2", [big, Tensor(Int32(1))]).scalars(as: Int32.self) == [Int32.min, Int32.min + 1])
        #expect(try H.run1("Div", [big, Tensor(Int32(-1))]).scalars(as: Int32.self) == [-Int32.max, Int32.min])
        #expect(try H.run1("FloorMod", [big, Tensor(Int32(-1))]).scalars(as: Int32.self) == [0, 0])
    }

    @Test func powAndSquaredDifference() throws {
        #expect(
            try H.run1("Pow", [tensor([2, 3, -2] as [Int64], [3]), tensor([10, 0, 3] as [Int64], [3])])
                .scalars(as: Int64.self) == [1024, 1, -8]
        )
        let negative = H.error("Pow", [Tensor(Int32(2)), Tensor(Int32(-1))])
        #expect(negative?.code == .invalidArgument)
        #expect(try H.run1("Pow", [Tensor(Float(2)), Tensor(Float(-1))]).scalars(as: Float.self) == [0.5])
        #expect(
            try H.run1("SquaredDifference", [tensor([1, 5] as [Float], [2]), Tensor(Float(3))])
                .scalars(as: Float.self) == [4, 4]
        )
    }

    @Test func maximumAndMinimum_propagateNaN() throws {
        let a = tensor([1, .nan, 3] as [Float], [3])
        let b = tensor([.nan, 2, 1] as [Float], [3])
        let max = try H.run1("Maximum", [a, b]).scalars(as: Float.self)
        #expect(max[0].isNaN && max[1].isNaN && max[2] == 3)
        let min = try H.run1("Minimum", [a, b]).scalars(as: Float.self)
        #expect(min[0].isNaN && min[1].isNaN && min[2] == 1)
        #expect(
            try H.run1("Maximum", [tensor([1, 9] as [UInt8], [2]), Tensor(UInt8(5))]).scalars(as: UInt8.self) == [5, 9]
        )
    }

    @Test func comparisons_giveBool() throws {
        let a = tensor([1, 2, 3] as [Int32], [3])
        let b = Tensor(Int32(2))
        #expect(try H.run1("Less", [a, b]).scalars(as: Bool.self) == [true, false, false])
        #expect(try H.run1("LessEqual", [a, b]).scalars(as: Bool.self) == [true, true, false])
        #expect(try H.run1("Greater", [a, b]).scalars(as: Bool.self) == [false, false, true])
        #expect(try H.run1("GreaterEqual", [a, b]).scalars(as: Bool.self) == [false, true, true])
        #expect(try H.run1("Equal", [a, b]).scalars(as: Bool.self) == [false, true, false])
        #expect(try H.run1("NotEqual", [a, b]).scalars(as: Bool.self) == [true, false, true])
        let nan = try H.run1("Equal", [tensor([Float.nan], [1]), tensor([Float.nan], [1])])
        #expect(try nan.scalars(as: Bool.self) == [false])
        let flags = try H.run1("Equal", [tensor([true, false], [2]), Tensor(true)])
        #expect(try flags.scalars(as: Bool.self) == [true, false])
        #expect(H.error("Less", [Tensor(true), Tensor(false)])?.code == .invalidArgument)
    }

    @Test func logicalOps() throws {
        let a = tensor([true, true, false, false], [2, 2])
        let b = tensor([true, false], [2])
        #expect(try H.run1("LogicalAnd", [a, b], setT: false).scalars(as: Bool.self) == [true, false, false, false])
        #expect(try H.run1("LogicalOr", [a, b], setT: false).scalars(as: Bool.self) == [true, true, true, false])
        #expect(try H.run1("LogicalNot", [b], setT: false).scalars(as: Bool.self) == [false, true])
        #expect(H.error("LogicalAnd", [Tensor(Float(1)), Tensor(Float(1))])?.code == .invalidArgument)
    }

    @Test func addN_sumsAllInputs() throws {
        let inputs = (1...3).map { i in tensor([Float(i), Float(10 * i)], [2]) }
        #expect(try H.run1("AddN", inputs, ["N": H.int(3)]).scalars(as: Float.self) == [6, 60])
        #expect(try H.run1("AddN", [Tensor(Int32(4))], ["N": H.int(1)]).scalars(as: Int32.self) == [4])
        let mismatch = H.error("AddN", [tensor([1, 2] as [Float], [2]), tensor([1] as [Float], [1])], ["N": H.int(2)])
        #expect(mismatch?.code == .invalidArgument)
    }
}

@Suite struct UnaryKernelTests {
    typealias H = KernelHarness

    @Test func roundHalvesToEven() throws {
        let out = try H.run1("Round", [tensor([0.5, 1.5, 2.5, -0.5, -1.5, 2.4] as [Float], [6])])
        #expect(try out.scalars(as: Float.self) == [0, 2, 2, -0, -2, 2])
    }

    @Test func floatFunctions() throws {
        let x = tensor([-4, -1, 0, 1, 4] as [Double], [5])
        let values: [Double] = [-4, -1, 0, 1, 4]
        func check(_ op: String, _ f: (Double) -> Double) throws {
            let out = try H.run1(op, [x]).scalars(as: Double.self)
            #expect(close(out, values.map(f)), "\(op)")
        }
        try check("Neg") { -$0 }
        try check("Abs") { abs($0) }
        try check("Square") { $0 * $0 }
        try check("Exp") { exp($0) }
        try check("Tanh") { tanh($0) }
        try check("Sigmoid") { 1 / (1 + exp(-$0)) }
        try check("Sign") { $0 > 0 ? 1 : $0 < 0 ? -1 : 0 }
        try check("Floor") { $0.rounded(.down) }
        try check("Ceil") { $0.rounded(.up) }
        let positive = tensor([0.25, 1, 4] as [Float], [3])
        #expect(try H.run1("Sqrt", [positive]).scalars(as: Float.self) == [0.5, 1, 2])
        #expect(try H.run1("Rsqrt", [positive]).scalars(as: Float.self) == [2, 1, 0.5])
        #expect(try H.run1("Reciprocal", [positive]).scalars(as: Float.self) == [4, 1, 0.25])
        #expect(close(try H.run1("Log", [positive]).doubleValues, [log(0.25), 0, log(4)]))
        let sign = try H.run1("Sign", [tensor([Float.nan], [1])]).scalars(as: Float.self)
        #expect(sign[0].isNaN)
    }

    @Test func integerUnaryOps() throws {
        let x = tensor([-3, 0, 5, Int32.min] as [Int32], [4])
        #expect(try H.run1("Neg", [x]).scalars(as: Int32.self) == [3, 0, -5, Int32.min])
        #expect(try H.run1("Abs", [x]).scalars(as: Int32.self) == [3, 0, 5, Int32.min])
        #expect(try H.run1("Sign", [x]).scalars(as: Int32.self) == [-1, 0, 1, -1])
        #expect(try H.run1("Square", [tensor([-3, 4] as [Int64], [2])]).scalars(as: Int64.self) == [9, 16])
        let error = H.error("Sqrt", [x])
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("Sqrt") == true && error?.message.contains("int32") == true)
    }

    @Test func vectorisedFloatExp_matchesLibm() throws {
        // Values across the whole range, including the scalar fallbacks (overflow, subnormal
        // results, infinities, NaN) mixed into vector-sized chunks, and a ragged tail.
        var values: [Float] = stride(from: -90, through: 90, by: 0.37).map { Float($0) }
        values += [0, -0, 1e-8, -1e-8, 88.7, 88.8, -103, -110, .infinity, -.infinity, .nan, 3]
        let out = try H.run1("Exp", [tensor(values, [values.count])]).scalars(as: Float.self)
        for (x, y) in zip(values, out) {
            let expected = expf(x)
            if expected.isNaN {
                #expect(y.isNaN)
            } else if expected.isInfinite || expected < Float.leastNormalMagnitude {
                #expect(y == expected, "exp(\(x))")
            } else {
                #expect(abs(y - expected) <= 2 * expected.ulp, "exp(\(x)) = \(y), libm \(expected)")
            }
        }
        let sigmoid = try H.run1("Sigmoid", [tensor([-200, -1, 0, 1, 200] as [Float], [5])]).doubleValues
        #expect(close(sigmoid, [0, 1 / (1 + exp(1.0)), 0.5, 1 / (1 + exp(-1.0)), 1]))
    }

    @Test func halfPrecisionWorks() throws {
        let out = try H.run1("Exp", [tensor([0, 1] as [Float16], [2])])
        #expect(close(out.doubleValues, [1, exp(1)], tolerance: 1e-3))
    }
}

@Suite struct CastKernelTests {
    typealias H = KernelHarness

    static func cast(_ x: Tensor, to dtype: DType) throws -> Tensor {
        try H.run1("Cast", [x], ["SrcT": H.type(x.dtype), "DstT": H.type(dtype)], setT: false)
    }

    @Test func floatToInt_truncatesAndNeverTraps() throws {
        let out = try Self.cast(tensor([1.7, -1.7, .nan, 1e10, -1e10] as [Float], [5]), to: .int32)
        #expect(try out.scalars(as: Int32.self) == [1, -1, Int32.min, Int32.min, Int32.min])
        // TensorFlow 2.21 on x86: through a 32-bit conversion, keeping the low bits.
        let unsigned = try Self.cast(tensor([3.9, -1, 300, .nan] as [Double], [4]), to: .uint8)
        #expect(try unsigned.scalars(as: UInt8.self) == [3, 255, 44, 0])
        let wide = try Self.cast(tensor([-2.5, 1e30, .infinity, 0x1.8p63] as [Double], [4]), to: .uint64)
        #expect(try wide.scalars(as: UInt64.self) == [UInt64.max - 1, 1 << 63, 1 << 63, 0xC000_0000_0000_0000])
    }

    @Test func integerConversions_wrap() throws {
        #expect(try Self.cast(tensor([300, -1] as [Int64], [2]), to: .int8).scalars(as: Int8.self) == [44, -1])
        #expect(try Self.cast(tensor([-1] as [Int32], [1]), to: .uint32).scalars(as: UInt32.self) == [UInt32.max])
        #expect(try Self.cast(tensor([Int64(1) << 40], [1]), to: .double).scalars(as: Double.self) == [0x1p40])
    }

    @Test func boolConversions() throws {
        #expect(
            try Self.cast(tensor([0, 2, -1] as [Int32], [3]), to: .bool).scalars(as: Bool.self) == [false, true, true]
        )
        #expect(try Self.cast(tensor([0.0, 0.5] as [Float], [2]), to: .bool).scalars(as: Bool.self) == [false, true])
        #expect(try Self.cast(tensor([true, false], [2]), to: .float).scalars(as: Float.self) == [1, 0])
        #expect(try Self.cast(tensor([1.25] as [Float], [1]), to: .half).scalars(as: Float16.self) == [1.25])
    }

    @Test func srcTMismatch_isInvalidArgument() throws {
        let error = H.error("Cast", [Tensor(Int32(1))], ["SrcT": H.type(.float), "DstT": H.type(.double)])
        #expect(error?.code == .invalidArgument)
    }
}

// MARK: - Reductions

@Suite struct ReductionKernelTests {
    typealias H = KernelHarness
    static let matrix = tensor([1, 2, 3, 4, 5, 6] as [Float], [2, 3])

    static func reduce(
        _ op: String,
        _ x: Tensor,
        _ axes: [Int32],
        keepDims: Bool = false,
        axesShape: TensorShape? = nil
    ) throws -> Tensor {
        try H.run1(
            op,
            [x, tensor(axes, axesShape ?? [axes.count])],
            ["keep_dims": H.bool(keepDims), "Tidx": H.type(.int32)]
        )
    }

    @Test func sumOverRowsAndColumns() throws {
        let rows = try Self.reduce("Sum", Self.matrix, [1])
        #expect(rows.shape == [2])
        #expect(try rows.scalars(as: Float.self) == [6, 15])
        let columns = try Self.reduce("Sum", Self.matrix, [0], keepDims: true)
        #expect(columns.shape == [1, 3])
        #expect(try columns.scalars(as: Float.self) == [5, 7, 9])
        let all = try Self.reduce("Sum", Self.matrix, [0, 1], keepDims: true)
        #expect(all.shape == [1, 1])
        #expect(try all.scalars(as: Float.self) == [21])
    }

    @Test func negativeAndScalarAxes() throws {
        let last = try Self.reduce("Sum", Self.matrix, [-1], axesShape: .scalar)
        #expect(last.shape == [2])
        #expect(try last.scalars(as: Float.self) == [6, 15])
        let int64Axes = try H.run1("Max", [Self.matrix, Tensor(Int64(-2))])
        #expect(try int64Axes.scalars(as: Float.self) == [4, 5, 6])
    }

    @Test func emptyAxes_isIdentity() throws {
        let out = try Self.reduce("Sum", Self.matrix, [])
        #expect(out == Self.matrix)
    }

    @Test func badAxes_areInvalidArgument() throws {
        let duplicate = H.error("Sum", [Self.matrix, tensor([1, -1] as [Int32], [2])])
        #expect(duplicate?.code == .invalidArgument)
        #expect(duplicate?.message.contains("duplicate") == true)
        let outOfRange = H.error("Sum", [Self.matrix, tensor([2] as [Int32], [1])])
        #expect(outOfRange?.code == .invalidArgument)
        #expect(outOfRange?.message.contains("Invalid reduction dimension (2 for input with 2 dimension(s)") == true)
    }

    @Test func meanOfIntegers_usesIntegerDivision() throws {
        let x = tensor([1, 2, 3, 4, 6, 7] as [Int32], [2, 3])
        #expect(try Self.reduce("Mean", x, [1]).scalars(as: Int32.self) == [2, 5])
        #expect(try Self.reduce("Mean", x, [0]).scalars(as: Int32.self) == [2, 4, 5])
        #expect(try Self.reduce("Mean", Self.matrix, [0, 1]).scalars(as: Float.self) == [3.5])
    }

    @Test func maxMinProd() throws {
        #expect(try Self.reduce("Max", Self.matrix, [1]).scalars(as: Float.self) == [3, 6])
        #expect(try Self.reduce("Min", Self.matrix, [0]).scalars(as: Float.self) == [1, 2, 3])
        #expect(try Self.reduce("Prod", Self.matrix, [1]).scalars(as: Float.self) == [6, 120])
        let withNaN = try Self.reduce("Max", tensor([1, .nan, 3] as [Double], [3]), [0])
        #expect(try withNaN.scalars(as: Double.self)[0].isNaN)
        let empty = try Self.reduce("Max", tensor([] as [Float], [0]), [0])
        #expect(try empty.scalars(as: Float.self) == [-.infinity])
        #expect(try Self.reduce("Sum", tensor([] as [Int32], [2, 0]), [1]).scalars(as: Int32.self) == [0, 0])
    }

    @Test func allAndAny() throws {
        let x = tensor([true, true, false, true], [2, 2])
        #expect(try Self.reduce("All", x, [1]).scalars(as: Bool.self) == [true, false])
        #expect(try Self.reduce("Any", x, [0]).scalars(as: Bool.self) == [true, true])
        #expect(H.error("Sum", [x, Tensor(Int32(0))])?.code == .invalidArgument)
    }

    @Test func generalAxes_matchNaiveSum() throws {
        // [2, 3, 4] reduced over axes 0 and 2, including a size-1 dimension in between: [2,3,1,4].
        let values = (0..<24).map { Double($0 * $0 % 17) }
        let x = tensor(values, [2, 3, 1, 4])
        let out = try Self.reduce("Sum", x, [0, 3], keepDims: true)
        #expect(out.shape == [1, 3, 1, 1])
        var expected = [Double](repeating: 0, count: 3)
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { expected[j] += values[(i * 3 + j) * 4 + k] } } }
        #expect(try out.scalars(as: Double.self) == expected)
        let middle = try Self.reduce("Sum", x, [1])
        #expect(middle.shape == [2, 1, 4])
        var naive = [Double](repeating: 0, count: 8)
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { naive[i * 4 + k] += values[(i * 3 + j) * 4 + k] } } }
        #expect(try middle.scalars(as: Double.self) == naive)
    }

    @Test func argMaxAndArgMin() throws {
        let x = tensor([1, 9, 9, 4, 0, 7] as [Float], [2, 3])
        let rows = try H.run1("ArgMax", [x, Tensor(Int32(1))])
        #expect(rows.dtype == .int64)
        #expect(try rows.scalars(as: Int64.self) == [1, 2])
        let columns = try H.run1("ArgMin", [x, Tensor(Int32(0))], ["output_type": H.type(.int32)])
        #expect(columns.dtype == .int32)
        #expect(try columns.scalars(as: Int32.self) == [0, 1, 1])
        #expect(try H.run1("ArgMax", [x, Tensor(Int64(-2))]).scalars(as: Int64.self) == [1, 0, 0])
        #expect(H.error("ArgMax", [tensor([] as [Float], [0]), Tensor(Int32(0))])?.code == .invalidArgument)
        #expect(H.error("ArgMax", [x, Tensor(Int32(2))])?.code == .invalidArgument)
    }
}

// MARK: - MatMul

@Suite struct MatMulKernelTests {
    typealias H = KernelHarness

    static let transposes = [(false, false), (true, false), (false, true), (true, true)]

    /// Stored shapes for a [m,k]·[k,n] product under the given transposes.
    static func operands(m: Int, k: Int, n: Int, _ ta: Bool, _ tb: Bool) -> ([Double], (Int, Int), [Double], (Int, Int))
    {
        let a = (0..<(m * k)).map { Double(($0 * 7) % 11) - 5 }
        let b = (0..<(k * n)).map { Double(($0 * 5) % 13) - 6 }
        return (a, ta ? (k, m) : (m, k), b, tb ? (n, k) : (k, n))
    }

    static func attrs(_ ta: Bool, _ tb: Bool) -> [String: Tensorflow_AttrValue] {
        ["transpose_a": H.bool(ta), "transpose_b": H.bool(tb)]
    }

    @Test(arguments: [DType.float, .double, .int32, .int64, .half])
    func matMul_matchesNaiveLoop(dtype: DType) throws {
        for (ta, tb) in Self.transposes {
            let (a, aShape, b, bShape) = Self.operands(m: 5, k: 7, n: 3, ta, tb)
            func make(_ values: [Double], _ shape: (Int, Int)) -> Tensor {
                let dims: TensorShape = [shape.0, shape.1]
                switch dtype {
                case .float: return tensor(values.map { Float($0) }, dims)
                case .double: return tensor(values, dims)
                case .int32: return tensor(values.map { Int32($0) }, dims)
                case .int64: return tensor(values.map { Int64($0) }, dims)
                default: return tensor(values.map { Float16($0) }, dims)
                }
            }
            let out = try H.run1("MatMul", [make(a, aShape), make(b, bShape)], Self.attrs(ta, tb))
            #expect(out.dtype == dtype)
            #expect(out.shape == [5, 3])
            #expect(close(out.doubleValues, naiveMatMul(a, aShape, ta, b, bShape, tb)), "transpose \(ta) \(tb)")
        }
    }

    @Test func largerFloatProduct_matchesNaiveLoop() throws {
        let (m, k, n) = (37, 64, 29)
        let (a, aShape, b, bShape) = Self.operands(m: m, k: k, n: n, false, true)
        let out = try H.run1(
            "MatMul",
            [tensor(a.map { Float($0) }, [aShape.0, aShape.1]), tensor(b.map { Float($0) }, [bShape.0, bShape.1])],
            Self.attrs(false, true)
        )
        #expect(close(out.doubleValues, naiveMatMul(a, aShape, false, b, bShape, true)))
    }

    /// Large enough to be split into row blocks that run in parallel (on a machine with more
    /// than one core), with row counts that do not divide evenly, in both precisions and every
    /// transpose.
    @Test(arguments: [DType.float, .double])
    func productSplitIntoRowBlocks_matchesNaiveLoop(dtype: DType) throws {
        let (m, k, n) = (131, 129, 127)
        let shape = try GemmShape((m, k), (k, n), transposeA: false, transposeB: false, node: "m")
        #expect(Gemm.blockCount(shape, parallelism: 4) == 4)
        for (ta, tb) in Self.transposes {
            let (a, aShape, b, bShape) = Self.operands(m: m, k: k, n: n, ta, tb)
            func make(_ values: [Double], _ shape: (Int, Int)) -> Tensor {
                dtype == .float
                    ? tensor(values.map { Float($0) }, [shape.0, shape.1]) : tensor(values, [shape.0, shape.1])
            }
            let out = try H.run1("MatMul", [make(a, aShape), make(b, bShape)], Self.attrs(ta, tb))
            #expect(out.shape == [m, n])
            #expect(close(out.doubleValues, naiveMatMul(a, aShape, ta, b, bShape, tb)), "transpose \(ta) \(tb)")
        }
    }

    @Test func smallProducts_runAsOneCall() throws {
        let small = try GemmShape((64, 64), (64, 64), transposeA: false, transposeB: false, node: "m")
        #expect(Gemm.blockCount(small, parallelism: 4) == 1)
        let fewRows = try GemmShape((24, 4096), (4096, 4096), transposeA: false, transposeB: false, node: "m")
        #expect(Gemm.blockCount(fewRows, parallelism: 4) == 1)  // fewer rows than two blocks' minimum
    }

    @Test func sizeMismatch_isInvalidArgument() throws {
        let error = H.error(
            "MatMul",
            [tensor([Float](repeating: 1, count: 6), [2, 3]), tensor([Float](repeating: 1, count: 20), [4, 5])]
        )
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("Matrix size-incompatible: In[0]: [2,3], In[1]: [4,5]") == true)
        let vector = H.error("MatMul", [tensor([1, 2] as [Float], [2]), tensor([1, 2] as [Float], [2])])
        #expect(vector?.code == .invalidArgument)
    }

    @Test func emptyContraction_givesZeros() throws {
        let out = try H.run1("MatMul", [tensor([] as [Float], [2, 0]), tensor([] as [Float], [0, 3])])
        #expect(out.shape == [2, 3])
        #expect(try out.scalars(as: Float.self) == [0, 0, 0, 0, 0, 0])
    }

    @Test func batchMatMulV2_broadcastsBatches() throws {
        // [2,1,2,3] x [3,3,2] -> [2,3,2,2]
        let a = (0..<12).map { Double($0) }
        let b = (0..<18).map { Double($0 % 5) }
        let out = try H.run1(
            "BatchMatMulV2",
            [tensor(a.map { Float($0) }, [2, 1, 2, 3]), tensor(b.map { Float($0) }, [3, 3, 2])],
            ["adj_x": H.bool(false), "adj_y": H.bool(false)]
        )
        #expect(out.shape == [2, 3, 2, 2])
        var expected: [Double] = []
        for i in 0..<2 {
            for j in 0..<3 {
                expected += naiveMatMul(
                    Array(a[(i * 6)..<(i * 6 + 6)]),
                    (2, 3),
                    false,
                    Array(b[(j * 6)..<(j * 6 + 6)]),
                    (3, 2),
                    false
                )
            }
        }
        #expect(close(out.doubleValues, expected))
        let transposed = try H.run1(
            "BatchMatMulV2",
            [tensor(a.map { Int32($0) }, [2, 3, 2]), tensor(a.map { Int32($0) }, [2, 3, 2])],
            ["adj_x": H.bool(true)]
        )
        #expect(transposed.shape == [2, 2, 2])
        var naive: [Double] = []
        for i in 0..<2 {
            let block = Array(a[(i * 6)..<(i * 6 + 6)])
            naive += naiveMatMul(block, (3, 2), true, block, (3, 2), false)
        }
        #expect(transposed.doubleValues == naive)
    }
}

// MARK: - Neural-network ops

@Suite struct NNKernelTests {
    typealias H = KernelHarness

    @Test func reluFamily() throws {
        let x = tensor([-2, -0.5, 0, 3, 7] as [Float], [5])
        #expect(try H.run1("Relu", [x]).scalars(as: Float.self) == [0, 0, 0, 3, 7])
        #expect(try H.run1("Relu6", [x]).scalars(as: Float.self) == [0, 0, 0, 3, 6])
        #expect(close(try H.run1("Elu", [x]).doubleValues, [expm1(-2), expm1(-0.5), 0, 3, 7]))
        #expect(try H.run1("Relu", [tensor([-3, 4] as [Int32], [2])]).scalars(as: Int32.self) == [0, 4])
        let softplus = try H.run1("Softplus", [tensor([-100, -1, 0, 1, 100] as [Double], [5])]).doubleValues
        #expect(close(softplus, [exp(-100), log1p(exp(-1)), log(2), log1p(exp(1)), 100], tolerance: 1e-12))
    }

    @Test func softmax_rowsSumToOne() throws {
        let logits: [Float] = [1, 2, 3, 1000, 1000, 1000]
        let out = try H.run1("Softmax", [tensor(logits, [2, 3])]).doubleValues
        let e = [exp(-2.0), exp(-1.0), 1]
        let total = e.reduce(0, +)
        let scaled: [Double] = e.map { (value: Double) -> Double in value / total }
        let third: Double = 1.0 / 3
        let expected: [Double] = scaled + [third, third, third]
        #expect(close(out, expected))
        let logOut = try H.run1("LogSoftmax", [tensor(logits, [2, 3])]).doubleValues
        let firstRow: [Double] = e.map { (value: Double) -> Double in log(value / total) }
        let expectedLog: [Double] = firstRow + [Double](repeating: log(1.0 / 3), count: 3)
        #expect(close(logOut, expectedLog))
        #expect(H.error("Softmax", [Tensor(Float(1))])?.code == .invalidArgument)
    }

    @Test func softmax_wideRowsMatchDirectFormula() throws {
        let width = 21  // not a multiple of the vector width
        let logits = (0..<(3 * width)).map { Float(($0 * 37) % 23) / 4 - 2 }
        let out = try H.run1("Softmax", [tensor(logits, [3, width])]).doubleValues
        let logOut = try H.run1("LogSoftmax", [tensor(logits, [3, width])]).doubleValues
        for row in 0..<3 {
            let x = logits[(row * width)..<((row + 1) * width)].map { Double($0) }
            let total = x.map { exp($0) }.reduce(0, +)
            #expect(close(Array(out[(row * width)..<((row + 1) * width)]), x.map { exp($0) / total }))
            #expect(close(Array(logOut[(row * width)..<((row + 1) * width)]), x.map { $0 - log(total) }))
        }
    }

    @Test func biasAdd_addsAlongLastDimension() throws {
        let value = tensor([1, 2, 3, 4, 5, 6] as [Float], [2, 3])
        let bias = tensor([10, 20, 30] as [Float], [3])
        #expect(try H.run1("BiasAdd", [value, bias]).scalars(as: Float.self) == [11, 22, 33, 14, 25, 36])
        #expect(H.error("BiasAdd", [value, tensor([1, 2] as [Float], [2])])?.code == .invalidArgument)
        // NCHW's channel dimension is dimension 1, which for a matrix is also the last.
        let nchw = try H.run1("BiasAdd", [value, bias], ["data_format": H.string("NCHW")])
        #expect(try nchw.scalars(as: Float.self) == [11, 22, 33, 14, 25, 36])
    }
}

// MARK: - Array ops

@Suite struct ArrayKernelTests {
    typealias H = KernelHarness
    static let x = tensor((0..<6).map { Float($0) }, [2, 3])

    @Test func reshape_infersOneDimension() throws {
        let out = try H.run1("Reshape", [Self.x, tensor([3, -1] as [Int32], [2])])
        #expect(out.shape == [3, 2])
        #expect(try try out.scalars(as: Float.self) == Self.x.scalars(as: Float.self))
        let scalar = try H.run1("Reshape", [tensor([7] as [Float], [1, 1]), tensor([] as [Int64], [0])])
        #expect(try scalar.shape == .scalar && scalar.scalars(as: Float.self) == [7])
        #expect(H.error("Reshape", [Self.x, tensor([4, -1] as [Int32], [2])])?.code == .invalidArgument)
        #expect(H.error("Reshape", [Self.x, tensor([-1, -1] as [Int32], [2])])?.code == .invalidArgument)
        #expect(H.error("Reshape", [Self.x, tensor([7] as [Int32], [1])])?.code == .invalidArgument)
    }

    @Test func shapeSizeRank() throws {
        #expect(try H.run1("Shape", [Self.x]).scalars(as: Int32.self) == [2, 3])
        let shape64 = try H.run1("Shape", [Self.x], ["out_type": H.type(.int64)])
        #expect(try shape64.scalars(as: Int64.self) == [2, 3])
        #expect(try H.run1("Size", [Self.x]).scalars(as: Int32.self) == [6])
        let rank = try H.run1("Rank", [Self.x])
        #expect(try rank.shape == .scalar && rank.scalars(as: Int32.self) == [2])
    }

    @Test func fillAndLikes() throws {
        let filled = try H.run1("Fill", [tensor([2, 2] as [Int32], [2]), Tensor(Double(1.5))], ["T": H.type(.double)])
        #expect(try filled.shape == [2, 2] && filled.scalars(as: Double.self) == [1.5, 1.5, 1.5, 1.5])
        #expect(try H.run1("ZerosLike", [Self.x]).scalars(as: Float.self) == [0, 0, 0, 0, 0, 0])
        #expect(try H.run1("OnesLike", [tensor([5, 6] as [Int64], [2])]).scalars(as: Int64.self) == [1, 1])
        #expect(try H.run1("OnesLike", [tensor([false], [1])]).scalars(as: Bool.self) == [true])
    }

    @Test func expandDimsAndSqueeze() throws {
        #expect(try H.run1("ExpandDims", [Self.x, Tensor(Int32(0))]).shape == [1, 2, 3])
        #expect(try H.run1("ExpandDims", [Self.x, Tensor(Int32(-1))]).shape == [2, 3, 1])
        #expect(H.error("ExpandDims", [Self.x, Tensor(Int32(4))])?.code == .invalidArgument)
        let padded = tensor((0..<6).map { Float($0) }, [1, 2, 1, 3, 1])
        #expect(try H.run1("Squeeze", [padded]).shape == [2, 3])
        #expect(try H.run1("Squeeze", [padded], ["squeeze_dims": H.ints([0, -1])]).shape == [2, 1, 3])
        #expect(H.error("Squeeze", [padded], ["squeeze_dims": H.ints([1])])?.code == .invalidArgument)
    }

    @Test func transpose_matchesNaivePermutation() throws {
        let values = (0..<24).map { Int32($0) }
        let input = tensor(values, [2, 3, 4])
        let out = try H.run1("Transpose", [input, tensor([2, 0, 1] as [Int32], [3])])
        #expect(out.shape == [4, 2, 3])
        var expected: [Int32] = []
        for k in 0..<4 { for i in 0..<2 { for j in 0..<3 { expected.append(values[(i * 3 + j) * 4 + k]) } } }
        #expect(try out.scalars(as: Int32.self) == expected)
        let matrix = try H.run1("Transpose", [Self.x, tensor([1, 0] as [Int64], [2])])
        #expect(try matrix.scalars(as: Float.self) == [0, 3, 1, 4, 2, 5])
        #expect(H.error("Transpose", [Self.x, tensor([0, 0] as [Int32], [2])])?.code == .invalidArgument)
    }

    @Test(arguments: [[1, 0], [0, 2, 1], [2, 1, 0], [1, 2, 0]])
    func transposeOfLargerTensors_matchesNaive(perm: [Int]) throws {
        let dims = perm.count == 2 ? [37, 53] : [3, 40, 17]
        let count = dims.reduce(1, *)
        let values = (0..<count).map { Int16(truncatingIfNeeded: $0) }
        let out = try H.run1(
            "Transpose",
            [tensor(values, TensorShape(dims)), tensor(perm.map { Int32($0) }, [perm.count])]
        )
        let outDims = perm.map { dims[$0] }
        #expect(out.shape == TensorShape(outDims))
        var strides = [Int](repeating: 1, count: dims.count)
        for d in (0..<(dims.count - 1)).reversed() { strides[d] = strides[d + 1] * dims[d + 1] }
        var expected: [Int16] = []
        for index in 0..<count {
            var rest = index
            var offset = 0
            for d in (0..<outDims.count).reversed() {
                offset += (rest % outDims[d]) * strides[perm[d]]
                rest /= outDims[d]
            }
            expected.append(values[offset])
        }
        #expect(try out.scalars(as: Int16.self) == expected)
    }

    @Test func hugeOutputs_areResourceExhausted() throws {
        let fill = H.error(
            "Fill",
            [tensor([1 << 40, 1 << 40] as [Int64], [2]), Tensor(Float(0))],
            ["T": H.type(.float)]
        )
        #expect(fill?.code == .resourceExhausted)
        let column = tensor([Float](repeating: 1, count: 1 << 20), [1 << 20, 1])
        let row = tensor([Float](repeating: 1, count: 1 << 20), [1, 1 << 20])
        #expect(H.error("AddV2", [column, row])?.code == .resourceExhausted)
        #expect(H.error("Tile", [column, tensor([1, 1 << 40] as [Int64], [2])])?.code == .resourceExhausted)
        #expect(
            H.error("Reshape", [column, tensor([1 << 40, 1 << 40, 1 << 40] as [Int64], [3])])?.code == .invalidArgument
        )
    }

    @Test func concatAndPack() throws {
        let y = tensor([10, 11] as [Float], [2, 1])
        let joined = try H.run1("ConcatV2", [Self.x, y, Tensor(Int32(-1))], ["N": H.int(2)])
        #expect(joined.shape == [2, 4])
        #expect(try joined.scalars(as: Float.self) == [0, 1, 2, 10, 3, 4, 5, 11])
        let rows = try H.run1("ConcatV2", [Self.x, Self.x, Tensor(Int32(0))], ["N": H.int(2)])
        #expect(rows.shape == [4, 3])
        #expect(H.error("ConcatV2", [Self.x, y, Tensor(Int32(0))], ["N": H.int(2)])?.code == .invalidArgument)
        let a = tensor([1, 2] as [Int32], [2])
        let b = tensor([3, 4] as [Int32], [2])
        let stacked = try H.run1("Pack", [a, b], ["N": H.int(2), "axis": H.int(1)])
        #expect(stacked.shape == [2, 2])
        #expect(try stacked.scalars(as: Int32.self) == [1, 3, 2, 4])
        let stacked0 = try H.run1("Pack", [a, b], ["N": H.int(2)])
        #expect(try stacked0.scalars(as: Int32.self) == [1, 2, 3, 4])
    }

    @Test func range() throws {
        let ints = try H.run1(
            "Range",
            [Tensor(Int32(3)), Tensor(Int32(18)), Tensor(Int32(5))],
            ["Tidx": H.type(.int32)]
        )
        #expect(try ints.scalars(as: Int32.self) == [3, 8, 13])
        let down = try H.run1("Range", [Tensor(Int64(5)), Tensor(Int64(0)), Tensor(Int64(-2))])
        #expect(try down.scalars(as: Int64.self) == [5, 3, 1])
        let floats = try H.run1("Range", [Tensor(Float(0)), Tensor(Float(1)), Tensor(Float(0.25))])
        #expect(try floats.scalars(as: Float.self) == [0, 0.25, 0.5, 0.75])
        #expect(H.error("Range", [Tensor(Int32(0)), Tensor(Int32(5)), Tensor(Int32(0))])?.code == .invalidArgument)
        #expect(H.error("Range", [Tensor(Int32(5)), Tensor(Int32(0)), Tensor(Int32(1))])?.code == .invalidArgument)
    }

    @Test func tile() throws {
        let out = try H.run1("Tile", [tensor([1, 2, 3, 4] as [Int32], [2, 2]), tensor([2, 3] as [Int32], [2])])
        #expect(out.shape == [4, 6])
        #expect(
            try out.scalars(as: Int32.self) == [
                1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4,
            ]
        )
        #expect(try H.run1("Tile", [Self.x, tensor([0, 1] as [Int32], [2])]).shape == [0, 3])
    }
}

// MARK: - Variables use BinaryOp too

@Suite struct StateKernelTests {
    @Test func assignAdd_updatesTheVariable() throws {
        let resources = ResourceContainer()
        let variable = try resources.variable(named: "v", dtype: .float, shape: PartialShape([2]))
        try variable.assign(tensor([1, 2] as [Float], [2]), validateShape: true)
        let info = try KernelHarness.node("AssignAdd", inputs: 2, attrs: ["T": KernelHarness.type(.float)])
        let kernel = try OpRegistry.standard.definition(of: "AssignAdd", node: info.name).makeKernel(info)
        let context = OpKernelContext(
            node: info.name,
            inputs: [.ref(variable), .tensor(tensor([10, 20] as [Float], [2]))],
            step: StepContext(id: 1, resources: resources)
        )
        _ = try kernel.compute(context)
        #expect(try variable.read().scalars(as: Float.self) == [11, 22])
    }
}
