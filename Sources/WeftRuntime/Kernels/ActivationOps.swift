/// Activations beyond `NNOps`' (`Relu`, `Relu6`, `Elu`, `Softplus`): `Softsign`, `Selu` and
/// `LeakyRelu` (attribute `alpha`), on `float`, `double` and `half` as in TensorFlow.
enum ActivationOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = FloatActivation.allCases.map(definition)

    private static func definition(_ function: FloatActivation) -> OpDefinition {
        OpDefinition(
            function.rawValue,
            inputCount: 1,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let alpha = Double(try node.attributes.floatAttribute("alpha", default: 0.2))
                let declared = try node.optionalType("T")
                return ClosureKernel { context throws(WeftError) in
                    let x = try context.input(0)
                    try KernelChecks.dtype(x, input: 0, expected: declared, op: function.rawValue, node: context.node)
                    let out = try KernelChecks.allocate(x.dtype, x.shape, node: context.node)
                    try x.dtype.visit(
                        FloatActivation.Visitor(
                            function: function,
                            alpha: alpha,
                            input: x,
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

/// The constants of SELU (Klambauer et al., 2017).
enum SELU {
    /// λ, the scale of the positive part.
    static let scale = 1.0507009873554804934193349852946
    /// α, the saturation of the negative part.
    static let alpha = 1.6732632423543772848170429916717
    /// λ·α.
    static let scaleAlpha = 1.7580993408473768599402175208123
}

extension NodeAttributes {
    /// A `float` attribute (`alpha`, `epsilon`), or `default` when absent.
    func floatAttribute(_ key: String, default value: Float) throws(WeftError) -> Float {
        guard let attr = values[key] else { return value }
        guard case .f(let number)? = attr.value else {
            throw WeftError(.invalidArgument, "node '\(node)' needs a float attribute '\(key)'")
        }
        return number
    }
}

/// An activation defined on floating-point types only.
enum FloatActivation: String, CaseIterable, Sendable {
    /// `x / (1 + |x|)`.
    case softsign = "Softsign"
    /// `λx` for `x > 0`, `λα(eˣ − 1)` otherwise.
    case selu = "Selu"
    /// `x` for `x > 0`, `αx` otherwise.
    case leakyRelu = "LeakyRelu"

    struct Visitor: ElementVisitor {
        let function: FloatActivation
        let alpha: Double
        let input: Tensor
        let out: Tensor
        let node: String
        var op: String { function.rawValue }

        func float<T: FloatElement>(_ type: T.Type) {
            switch function {
            case .softsign: ElementMap.unary(input, out, T.self) { $0 / (1 + Swift.abs($0)) }
            case .selu:
                // exp(x) − 1 rather than expm1, as TensorFlow's kernel computes it.
                let scale = T(SELU.scale)
                let scaleAlpha = T(SELU.scaleAlpha)
                ElementMap.unary(input, out, T.self) { $0 < 0 ? scaleAlpha * (T.exp($0) - 1) : scale * $0 }
            case .leakyRelu:
                let alpha = T(alpha)
                ElementMap.unary(input, out, T.self) { $0 > 0 ? $0 : $0 * alpha }
            }
        }
    }
}

/// Element-wise loops over whole buffers, fetched once per tensor.
enum ElementMap {
    /// `out[i] = body(x[i])`.
    @inline(__always)
    static func unary<T: TensorElement, R: TensorElement>(_ x: Tensor, _ out: Tensor, _ type: T.Type, _ body: (T) -> R)
    {
        x.withElements(of: T.self) { x in
            out.withMutableElements(of: R.self) { y in
                guard let source = x.baseAddress, let target = y.baseAddress else { return }
                for i in 0..<x.count { target[i] = body(source[i]) }
            }
        }
    }

    /// `out[i] = body(a[i], b[i])` for two tensors of one shape.
    @inline(__always)
    static func binary<T: TensorElement>(_ a: Tensor, _ b: Tensor, _ out: Tensor, _ type: T.Type, _ body: (T, T) -> T) {
        a.withElements(of: T.self) { a in
            b.withElements(of: T.self) { b in
                out.withMutableElements(of: T.self) { y in
                    guard let l = a.baseAddress, let r = b.baseAddress, let target = y.baseAddress else { return }
                    for i in 0..<y.count { target[i] = body(l[i], r[i]) }
                }
            }
        }
    }
}
