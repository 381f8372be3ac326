/// The gradients TensorFlow's autodiff emits for activations and element-wise math
/// (`ReluGrad`, `TanhGrad`, …).
///
/// Each element-wise gradient takes two tensors of one shape (no broadcasting, as in
/// TensorFlow) and computes on `float`, `double` and `half`; `ReluGrad` and `Relu6Grad` also on
/// integers, like `Relu`.
enum GradientOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = ElementGradient.allCases.map(definition)

    private static func definition(_ gradient: ElementGradient) -> OpDefinition {
        OpDefinition(
            gradient.rawValue,
            inputCount: 2,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let alpha = Double(try node.attributes.floatAttribute("alpha", default: 0.2))
                let declared = try node.optionalType("T")
                return ClosureKernel { context throws(WeftError) in
                    let a = try context.input(0)
                    let b = try context.input(1)
                    let op = gradient.rawValue
                    try KernelChecks.dtype(a, input: 0, expected: declared, op: op, node: context.node)
                    try KernelChecks.sameDType(a, b, op: op, node: context.node)
                    guard a.shape == b.shape else {
                        throw .invalidArgument(
                            "Inputs to operation \(context.node) of type \(op) must have the same size and shape.  Input 0: \(a.shape) != input 1: \(b.shape)",
                            node: context.node
                        )
                    }
                    let out = try KernelChecks.allocate(a.dtype, a.shape, node: context.node)
                    try a.dtype.visit(
                        ElementGradient.Visitor(
                            gradient: gradient,
                            alpha: alpha,
                            a: a,
                            b: b,
                            out: out,
                            node: context.node
                        )
                    )
                    return [.tensor(out)]
                }
            }
        )
    }
}

/// A gradient computed element by element from two tensors of one shape. The first input is
/// the incoming gradient for the activations' gradients, and the forward output `y` for
/// `TanhGrad`, `SigmoidGrad`, `SqrtGrad`, `RsqrtGrad` and `ReciprocalGrad` (whose second
/// input is the incoming gradient), in TensorFlow's input order.
enum ElementGradient: String, CaseIterable, Sendable {
    /// `(gradients, features)`: `g` where `features > 0`, else 0.
    case relu = "ReluGrad"
    /// `(gradients, features)`: `g` where `0 < features < 6`, else 0.
    case relu6 = "Relu6Grad"
    /// `(gradients, outputs)`: `g · (y + 1)` where `y < 0`, else `g`.
    case elu = "EluGrad"
    /// `(gradients, outputs)`: `g · (y + λα)` where `y < 0`, else `g · λ`.
    case selu = "SeluGrad"
    /// `(gradients, features)`: `g` where `features > 0`, else `g · alpha`.
    case leakyRelu = "LeakyReluGrad"
    /// `(gradients, features)`: `g · sigmoid(features)`.
    case softplus = "SoftplusGrad"
    /// `(gradients, features)`: `g / (1 + |features|)²`.
    case softsign = "SoftsignGrad"
    /// `(y, dy)`: `dy · (1 − y²)`.
    case tanh = "TanhGrad"
    /// `(y, dy)`: `dy · y · (1 − y)`.
    case sigmoid = "SigmoidGrad"
    /// `(y, dy)`: `0.5 · dy / y`.
    case sqrt = "SqrtGrad"
    /// `(y, dy)`: `−0.5 · dy · y³`.
    case rsqrt = "RsqrtGrad"
    /// `(y, dy)`: `−dy · y²`.
    case reciprocal = "ReciprocalGrad"

    struct Visitor: ElementVisitor {
        let gradient: ElementGradient
        let alpha: Double
        let a: Tensor
        let b: Tensor
        let out: Tensor
        let node: String
        var op: String { gradient.rawValue }

        func float<T: FloatElement>(_ type: T.Type) {
            switch gradient {
            case .relu: map(T.self) { g, x in x > 0 ? g : 0 }
            case .relu6: map(T.self) { g, x in x > 0 && x < 6 ? g : 0 }
            case .elu: map(T.self) { g, y in y < 0 ? g * (y + 1) : g }
            case .selu:
                let scale = T(SELU.scale)
                let scaleAlpha = T(SELU.scaleAlpha)
                map(T.self) { g, y in y < 0 ? g * (y + scaleAlpha) : g * scale }
            case .leakyRelu:
                let alpha = T(alpha)
                map(T.self) { g, x in x > 0 ? g : g * alpha }
            case .softplus: map(T.self) { g, x in g / (1 + T.exp(-x)) }
            case .softsign:
                map(T.self) { g, x in
                    let denominator = 1 + Swift.abs(x)
                    return g / (denominator * denominator)
                }
            case .tanh: map(T.self) { y, dy in dy * (1 - y * y) }
            case .sigmoid: map(T.self) { y, dy in dy * y * (1 - y) }
            case .sqrt: map(T.self) { y, dy in 0.5 * dy / y }
            case .rsqrt: map(T.self) { y, dy in -0.5 * (dy * y) * (y * y) }
            case .reciprocal: map(T.self) { y, dy in dy * -y * y }
            }
        }

        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) {
            switch gradient {
            case .relu: map(T.self) { g, x in x > 0 ? g : 0 }
            case .relu6: map(T.self) { g, x in x > 0 && x < 6 ? g : 0 }
            default: throw .unsupported(op: op, dtype: T.dtype, node: node)
            }
        }

        @inline(__always)
        private func map<T: TensorElement>(_ type: T.Type, _ body: (T, T) -> T) {
            ElementMap.binary(a, b, out, T.self, body)
        }
    }
}
