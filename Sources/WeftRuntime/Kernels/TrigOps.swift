import RealModule

/// The trigonometric and hyperbolic ops beyond `Sin`, `Cos` and `Tanh`: `Tan`, `Asin`, `Acos`,
/// `Atan`, `Sinh`, `Cosh`, `Asinh`, `Acosh`, `Atanh`. TensorFlow's CPU registers each for
/// `half`, `float`, `double`, `complex64` and `complex128` (and `bfloat16`, through
/// `BFloat16Kernels`); other dtypes are refused with its `invalidArgument`. `half` computes in
/// single precision and rounds once, as Eigen does.
enum TrigOp: String, Sendable, CaseIterable {
    case tan = "Tan"
    case asin = "Asin"
    case acos = "Acos"
    case atan = "Atan"
    case sinh = "Sinh"
    case cosh = "Cosh"
    case asinh = "Asinh"
    case acosh = "Acosh"
    case atanh = "Atanh"

    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = allCases.map { operation in
        OpDefinition(
            operation.rawValue,
            inputCount: 1,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let declared = try node.optionalType("T")
                return ClosureKernel { context throws(WeftError) in
                    let x = try context.input(0)
                    try KernelChecks.dtype(x, input: 0, expected: declared, op: operation.rawValue, node: context.node)
                    let out = try KernelChecks.allocate(x.dtype, x.shape, node: context.node)
                    try x.dtype.visit(Visitor(operation: operation, input: x, out: out, node: context.node))
                    return [.tensor(out)]
                }
            }
        )
    }

    /// The op on a real number.
    @inline(__always)
    func real<R: Real>(_ x: R) -> R {
        switch self {
        case .tan: R.tan(x)
        case .asin: R.asin(x)
        case .acos: R.acos(x)
        case .atan: R.atan(x)
        case .sinh: R.sinh(x)
        case .cosh: R.cosh(x)
        case .asinh: R.asinh(x)
        case .acosh: R.acosh(x)
        case .atanh: R.atanh(x)
        }
    }

    /// The op on a complex number (principal branches, as C's `ctan`, `casin`, … have them).
    @inline(__always)
    func complex<R: ComplexReal>(_ z: ComplexElement<R>) -> ComplexElement<R> {
        switch self {
        case .tan: ComplexElement.tan(z)
        case .asin: ComplexElement.asin(z)
        case .acos: ComplexElement.acos(z)
        case .atan: ComplexElement.atan(z)
        case .sinh: ComplexElement.sinh(z)
        case .cosh: ComplexElement.cosh(z)
        case .asinh: ComplexElement.asinh(z)
        case .acosh: ComplexElement.acosh(z)
        case .atanh: ComplexElement.atanh(z)
        }
    }

    private struct Visitor: ElementVisitor {
        let operation: TrigOp
        let input: Tensor
        let out: Tensor
        let node: String
        var op: String { operation.rawValue }

        func float<T: FloatElement>(_ type: T.Type) {
            // The switch on the op sits inside the loop, but is the same for every element,
            // so it is hoisted out once the loop is specialised.
            if T.self == Double.self {
                ElementMap.unary(input, out, Double.self) { operation.real($0) }
            } else {
                ElementMap.unary(input, out, T.self) { T(operation.real(Float($0))) }
            }
        }

        func complex<R: ComplexReal>(_ type: R.Type) {
            ElementMap.unary(input, out, ComplexElement<R>.self) { operation.complex($0) }
        }
    }
}

extension ComplexElement {
    /// `i·z`.
    @inline(__always) private var timesI: Self { Self(-imaginary, real) }
    /// `−i·z`.
    @inline(__always) private var timesMinusI: Self { Self(imaginary, -real) }
    /// `z + r` for a real `r`: the imaginary part, a signed zero included, stays as it is, so
    /// points on a branch cut keep their side.
    @inline(__always) private func plus(_ r: RealType) -> Self { Self(real + r, imaginary) }

    /// sinh z = sinh x cos y + i cosh x sin y.
    static func sinh(_ z: Self) -> Self {
        Self(
            RealType.sinh(z.real) * RealType.cos(z.imaginary),
            RealType.cosh(z.real) * RealType.sin(z.imaginary)
        )
    }

    /// cosh z = cosh x cos y + i sinh x sin y.
    static func cosh(_ z: Self) -> Self {
        Self(
            RealType.cosh(z.real) * RealType.cos(z.imaginary),
            RealType.sinh(z.real) * RealType.sin(z.imaginary)
        )
    }

    /// tan z = −i·tanh(i·z).
    static func tan(_ z: Self) -> Self { tanh(z.timesI).timesMinusI }

    /// asinh z = log(z + √(z² + 1)), taken for Re z ≥ 0 and by oddness otherwise, so the sum
    /// never cancels.
    static func asinh(_ z: Self) -> Self {
        if z.real < 0 {
            let w = asinh(Self(-z.real, -z.imaginary))
            return Self(-w.real, -w.imaginary)
        }
        return log(z + sqrt((z * z).plus(1)))
    }

    /// asin z = −i·asinh(i·z).
    static func asin(_ z: Self) -> Self { asinh(z.timesI).timesMinusI }

    /// acos z = π/2 − asin z.
    static func acos(_ z: Self) -> Self {
        let w = asin(z)
        return Self(RealType.pi / 2 - w.real, -w.imaginary)
    }

    /// acosh z = log(z + √(z + 1)·√(z − 1)): the product of roots keeps the principal branch.
    static func acosh(_ z: Self) -> Self {
        log(z + sqrt(z.plus(1)) * sqrt(z.plus(-1)))
    }

    /// atanh z = (log(1 + z) − log(1 − z)) / 2, each logarithm exact for small |z|.
    static func atanh(_ z: Self) -> Self {
        let difference = log1p(z) - log1p(Self(-z.real, -z.imaginary))
        return Self(difference.real / 2, difference.imaginary / 2)
    }

    /// atan z = −i·atanh(i·z).
    static func atan(_ z: Self) -> Self { atanh(z.timesI).timesMinusI }
}
