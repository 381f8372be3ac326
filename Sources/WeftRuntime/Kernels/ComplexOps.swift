import CBLAS

/// The ops that make complex numbers and take them apart: `Complex`, `Real`, `Imag`, `Angle`,
/// `ComplexAbs` and `Conj`. The element-wise arithmetic, reductions and products on complex
/// tensors are the `complex` cases of the math kernels' visitors.
///
/// Each op takes the pairs TensorFlow registers: `complex64` with `float` parts and
/// `complex128` with `double`; any other input is `invalidArgument`, as in TensorFlow.
enum ComplexOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = ComplexPart.allCases.map(part) + [conj, complex]

    /// A real number from each complex element, of the type in attribute `Tout` (`float` by
    /// default).
    private static func part(_ part: ComplexPart) -> OpDefinition {
        let name = part.rawValue
        return OpDefinition(
            name,
            inputCount: 1,
            outputTypes: { node, _ throws(WeftError) in [OutputType(try node.optionalType("Tout") ?? .float)] },
            makeKernel: { node throws(WeftError) in
                let output = try node.optionalType("Tout") ?? .float
                let declared = try node.optionalType("T")
                return ClosureKernel { context throws(WeftError) in
                    let x = try context.input(0)
                    try KernelChecks.dtype(x, input: 0, expected: declared, op: name, node: context.node)
                    let real = try realType(of: x.dtype, op: name, node: context.node)
                    guard output == real else {
                        throw .invalidArgument(
                            "No OpKernel was registered to support Op '\(name)' with these attrs: [T=\(x.dtype), Tout=\(output)]",
                            node: context.node
                        )
                    }
                    let out = Tensor(uninitialized: output, shape: x.shape)
                    if real == .float { part.extract(x, into: out, Float.self) } else { part.extract(x, into: out, Double.self) }
                    return [.tensor(out)]
                }
            }
        )
    }

    /// `Conj`: the complex conjugate of every element.
    private static let conj = OpDefinition(
        "Conj",
        inputCount: 1,
        outputTypes: OpDefinition.outputOfInput(0),
        makeKernel: { _ in
            ClosureKernel { context throws(WeftError) in [.tensor(try conjugate(try context.input(0), node: context.node))] }
        }
    )

    /// `Complex`: `real + imag·i` element-wise with broadcasting, `complex64` from `float`
    /// parts and `complex128` from `double` (attribute `Tout`).
    private static let complex = OpDefinition(
        "Complex",
        inputCount: 2,
        outputTypes: { node, _ throws(WeftError) in [OutputType(try node.optionalType("Tout") ?? .complex64)] },
        makeKernel: { node throws(WeftError) in
            let output = try node.optionalType("Tout") ?? .complex64
            return ClosureKernel { context throws(WeftError) in
                let real = try context.input(0)
                let imaginary = try context.input(1)
                try KernelChecks.sameDType(real, imaginary, op: "Complex", node: context.node)
                guard (real.dtype == .float && output == .complex64) || (real.dtype == .double && output == .complex128)
                else {
                    throw .invalidArgument(
                        "No OpKernel was registered to support Op 'Complex' with these attrs: [T=\(real.dtype), Tout=\(output)]",
                        node: context.node
                    )
                }
                let broadcast: Broadcast
                do throws(WeftError) {
                    broadcast = try Broadcast(real.shape, imaginary.shape)
                } catch {
                    throw .invalidArgument(error.message, node: context.node)
                }
                let out = try KernelChecks.allocate(output, broadcast.shape, node: context.node)
                if output == .complex64 {
                    combine(Float.self, real, imaginary, into: out, broadcast)
                } else {
                    combine(Double.self, real, imaginary, into: out, broadcast)
                }
                return [.tensor(out)]
            }
        }
    )

    private static func combine<R: ComplexReal>(
        _ type: R.Type,
        _ real: Tensor,
        _ imaginary: Tensor,
        into out: Tensor,
        _ broadcast: Broadcast
    ) {
        real.withElements(of: R.self) { x in
            imaginary.withElements(of: R.self) { y in
                out.withMutableElements(of: ComplexElement<R>.self) { z in
                    broadcast.combine(x, y, into: z) { ComplexElement($0, $1) }
                }
            }
        }
    }

    /// The complex conjugate of a complex tensor; `invalidArgument` for any other dtype.
    static func conjugate(_ x: Tensor, node: String) throws(WeftError) -> Tensor {
        _ = try realType(of: x.dtype, op: "Conj", node: node)
        let out = Tensor(uninitialized: x.dtype, shape: x.shape)
        if x.dtype == .complex64 {
            map(x, into: out, Float.self) { $0.conjugate }
        } else {
            map(x, into: out, Double.self) { $0.conjugate }
        }
        return out
    }

    private static func map<R: ComplexReal>(
        _ x: Tensor,
        into out: Tensor,
        _ type: R.Type,
        _ body: (ComplexElement<R>) -> ComplexElement<R>
    ) {
        x.withElements(of: ComplexElement<R>.self) { input in
            out.withMutableElements(of: ComplexElement<R>.self) { output in
                for i in input.indices { output[i] = body(input[i]) }
            }
        }
    }

    /// The part type of a complex dtype.
    private static func realType(of dtype: DType, op: String, node: String) throws(WeftError) -> DType {
        switch dtype {
        case .complex64: .float
        case .complex128: .double
        default: throw .unsupported(op: op, dtype: dtype, node: node)
        }
    }
}

/// A real number that `Real`, `Imag`, `Angle` and `ComplexAbs` take from a complex one.
enum ComplexPart: String, CaseIterable, Sendable {
    case real = "Real"
    case imaginary = "Imag"
    case angle = "Angle"
    case magnitude = "ComplexAbs"

    /// Writes the part of every element of `x` (complex with parts `R`) into `out`.
    func extract<R: ComplexReal>(_ x: Tensor, into out: Tensor, _ type: R.Type) {
        x.withElements(of: ComplexElement<R>.self) { input in
            out.withMutableElements(of: R.self) { output in
                switch self {
                case .real: for i in input.indices { output[i] = input[i].real }
                case .imaginary: for i in input.indices { output[i] = input[i].imaginary }
                case .angle: for i in input.indices { output[i] = input[i].argument }
                case .magnitude: for i in input.indices { output[i] = input[i].magnitude }
                }
            }
        }
    }
}

extension Gemm {
    /// `C = op(A) · op(B)` on complex numbers through OpenBLAS (`cblas_cgemm` for
    /// `complex64`, `cblas_zgemm` for `complex128`); `op` transposes without conjugating, as
    /// `MatMul`'s `transpose_a` does.
    static func multiply<R: ComplexReal>(
        _ a: UnsafePointer<ComplexElement<R>>,
        _ b: UnsafePointer<ComplexElement<R>>,
        into c: UnsafeMutablePointer<ComplexElement<R>>,
        _ s: GemmShape
    ) {
        guard s.m > 0, s.n > 0 else { return }
        guard s.k > 0 else { return c.initialize(repeating: ComplexElement(real: 0), count: s.m * s.n) }
        let routine = R.self == Float.self ? cblas_cgemm : cblas_zgemm
        withUnsafePointer(to: ComplexElement<R>(real: 1)) { one in
            withUnsafePointer(to: ComplexElement<R>(real: 0)) { zero in
                routine(
                    CblasRowMajor,
                    s.transposeA ? CblasTrans : CblasNoTrans,
                    s.transposeB ? CblasTrans : CblasNoTrans,
                    Int32(s.m),
                    Int32(s.n),
                    Int32(s.k),
                    one,
                    a,
                    Int32(s.transposeA ? s.m : s.k),
                    b,
                    Int32(s.transposeB ? s.k : s.n),
                    zero,
                    c,
                    Int32(s.n)
                )
            }
        }
    }
}
