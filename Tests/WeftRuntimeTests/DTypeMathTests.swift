import Testing

@testable import WeftRuntime

private typealias H = KernelHarness
private typealias C64 = ComplexElement<Float>

/// bfloat16 and complex math: rounding, the dtypes each op refuses, complex special values and
/// Einsum's diagonals.
@Suite struct DTypeMathTests {
    private func bf16(_ values: [Float]) -> Tensor { tensor(values.map(BFloat16.init), [values.count]) }
    private func bits(_ tensor: Tensor) throws -> [UInt16] { try tensor.scalars(as: BFloat16.self).map(\.bitPattern) }

    @Test(arguments: [
        // Halfway between 1 and the next bfloat16 (1.0078125): ties go to the even one, 1.
        (Float(1.00390625), UInt16(0x3F80)),
        // Halfway between 1.0078125 and 1.015625: ties go to the even one, 1.015625.
        (Float(1.01171875), UInt16(0x3F82)),
        // Just above halfway rounds up.
        (Float(bitPattern: 0x3F80_8001), UInt16(0x3F81)),
        // The largest float rounds past the largest bfloat16: infinity.
        (Float.greatestFiniteMagnitude, UInt16(0x7F80)),
        (-Float(0), UInt16(0x8000)),
    ])
    func bfloat16_roundsToNearestEven(_ value: Float, _ expected: UInt16) {
        #expect(BFloat16(value).bitPattern == expected)
    }

    @Test func bfloat16_keepsNaN_aNaN_withItsSign() {
        // A NaN whose payload lies only in the low bits would truncate to infinity.
        let low = Float(bitPattern: 0x7F80_0001)
        #expect(BFloat16(low).float.isNaN)
        #expect(BFloat16(-Float.nan).float.isNaN && BFloat16(-Float.nan).float.sign == .minus)
    }

    @Test func bfloat16_arithmetic_roundsEachResultOnce() throws {
        // 1 + 2⁻⁸ is a tie (rounds to 1); 1 + 3·2⁻⁸ rounds up to 1 + 2⁻⁶.
        let sum = try H.run1("AddV2", [bf16([1, 1]), bf16([0.00390625, 0.01171875])])
        #expect(sum.dtype == .bfloat16)
        #expect(try bits(sum) == [0x3F80, 0x3F82])
        let product = try H.run1("MatMul", [tensor([BFloat16(1), BFloat16(3)], [1, 2]), tensor([BFloat16(3), BFloat16(1)], [2, 1])])
        #expect(try product.scalars(as: BFloat16.self) == [BFloat16(6)])
        let less = try H.run1("Less", [bf16([1, .nan]), bf16([2, 2])])
        #expect(try less.scalars(as: Bool.self) == [true, false])
    }

    @Test func bfloat16_node_refusesAFloatOperand() {
        let error = H.error("AddV2", [bf16([1]), tensor([Float(1)], [1])])
        #expect(error?.code == .invalidArgument)
    }

    @Test func bfloat16_whereTensorFlowHasNoKernel_isInvalidArgument() {
        // InTopKV2 takes float32 predictions only, in TensorFlow as here.
        let error = H.error("InTopKV2", [tensor([BFloat16(1), BFloat16(2)], [1, 2]), tensor([Int32(0)], [1]), Tensor(Int32(1))], ["T": H.type(.int32)])
        #expect(error?.code == .invalidArgument)
    }

    @Test(arguments: ["Maximum", "FloorMod", "FloorDiv", "Less", "Greater"])
    func complex_orderedBinaryOps_areInvalidArgument(_ op: String) {
        let z = tensor([C64(1, 2)], [1])
        #expect(H.error(op, [z, z])?.code == .invalidArgument)
    }

    @Test(arguments: ["Abs", "Floor", "Ceil", "Round", "Erf"])
    func complex_realOnlyUnaryOps_areInvalidArgument(_ op: String) {
        #expect(H.error(op, [tensor([C64(1, 2)], [1])])?.code == .invalidArgument)
    }

    @Test func complexParts_refuseRealInputsAndMismatchedTout() throws {
        #expect(H.error("Conj", [tensor([Float(1)], [1])])?.code == .invalidArgument)
        #expect(H.error("Real", [tensor([Float(1)], [1])])?.code == .invalidArgument)
        let wide = tensor([ComplexElement<Double>(1, 2)], [1])
        #expect(H.error("Real", [wide], ["Tout": H.type(.float)])?.code == .invalidArgument)
        #expect(try H.run1("Real", [wide], ["Tout": H.type(.double)]).scalars(as: Double.self) == [1])
        let ints = tensor([Int32(1)], [1])
        #expect(H.error("Complex", [ints, ints], ["T": H.type(.int32)])?.code == .invalidArgument)
    }

    @Test func complexDivision_byZero_isNaN_asTensorFlowsVectorisedKernel() throws {
        let quotient = try H.run1("RealDiv", [tensor([C64(1, 2), C64(0, 0)], [2]), tensor([C64(0, 0), C64(0, 0)], [2])])
        #expect(try quotient.scalars(as: C64.self).allSatisfy { $0.real.isNaN && $0.imaginary.isNaN })
        // An ordinary quotient: (1 + 2i)/(3 − 4i) = (−5 + 10i)/25.
        let plain = try H.run1("RealDiv", [tensor([C64(1, 2)], [1]), tensor([C64(3, -4)], [1])])
        let z = try plain.scalars(as: C64.self)[0]
        #expect(abs(z.real + 0.2) < 1e-7 && abs(z.imaginary - 0.4) < 1e-7)
    }

    @Test func batchMatMul_adjoint_conjugates_matMulTranspose_doesNot() throws {
        let a = tensor([C64(0, 1), C64(2, 0)], [2, 1])
        let b = tensor([C64(1, 0), C64(0, 1)], [2, 1])
        let adjoint = try H.run1("BatchMatMulV2", [a, b], ["adj_x": H.bool(true)])
        // conj(i)·1 + 2·i = −i + 2i = i.
        #expect(try adjoint.scalars(as: C64.self) == [C64(0, 1)])
        let transposed = try H.run1("MatMul", [a, b], ["transpose_a": H.bool(true)])
        // i·1 + 2·i = 3i.
        #expect(try transposed.scalars(as: C64.self) == [C64(0, 3)])
    }

    @Test func einsum_takesDiagonals_andPlacesOnThem() throws {
        let m = tensor((0..<9).map(Float.init), [3, 3])
        let einsum = { (equation: String, inputs: [Tensor]) throws -> Tensor in
            try H.run1("Einsum", inputs, ["equation": H.string(equation), "N": H.int(inputs.count)])
        }
        #expect(try einsum("ii->i", [m]).scalars(as: Float.self) == [0, 4, 8])
        #expect(try einsum("ii->", [m]).scalars(as: Float.self) == [12])
        let inflated = try einsum("i->ii", [tensor([Float(1), 2], [2])])
        #expect(try inflated.shape == [2, 2] && inflated.scalars(as: Float.self) == [1, 0, 0, 2])
        let complex = try einsum("ii->i", [tensor([C64(1, 1), C64(9, 9), C64(9, 9), C64(2, -1)], [2, 2])])
        #expect(try complex.scalars(as: C64.self) == [C64(1, 1), C64(2, -1)])
        let mismatch = H.error("Einsum", [tensor([Float](repeating: 0, count: 6), [2, 3])], ["equation": H.string("ii->i"), "N": H.int(1)])
        #expect(mismatch?.code == .invalidArgument)
    }
}
