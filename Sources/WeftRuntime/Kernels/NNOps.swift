/// Neural-network ops: activations, `Softmax` / `LogSoftmax` over the last axis, `BiasAdd`
/// (NHWC and NCHW).
enum NNOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] =
        Activation.allCases.map(activation) + [
            softmax("Softmax", logarithmic: false), softmax("LogSoftmax", logarithmic: true), biasAdd,
        ]

    private static func activation(_ activation: Activation) -> OpDefinition {
        OpDefinition(
            activation.rawValue,
            inputCount: 1,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    [.tensor(try activation.apply(try context.input(0), node: context.node))]
                }
            }
        )
    }

    private static func softmax(_ name: String, logarithmic: Bool) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 1,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let logits = try context.input(0)
                    guard logits.shape.rank >= 1 else {
                        throw .invalidArgument(
                            "logits must have >= 1 dimension, got \(logits.shape)",
                            node: context.node
                        )
                    }
                    let out = Tensor(uninitialized: logits.dtype, shape: logits.shape)
                    try logits.dtype.visit(
                        SoftmaxVisitor(logits: logits, out: out, logarithmic: logarithmic, op: name, node: context.node)
                    )
                    return [.tensor(out)]
                }
            }
        )
    }

    /// `BiasAdd`: adds a vector along the channel dimension: the last for NHWC (the default),
    /// dimension 1 for NCHW.
    private static let biasAdd = OpDefinition(
        "BiasAdd",
        inputCount: 2,
        outputTypes: OpDefinition.outputOfInput(0),
        makeKernel: { node throws(WeftError) in
            let channelsLast = try BiasLayout.channelsLast(node)
            return ClosureKernel { context throws(WeftError) in
                let value = try context.input(0)
                let bias = try context.input(1)
                try check(value: value, bias: bias, channelsLast: channelsLast, node: context.node)
                guard channelsLast else {
                    return [.tensor(try BiasOps.addChannelsFirst(value, bias, node: context.node))]
                }
                return [.tensor(try BinaryOp.add.apply(value, bias, op: "BiasAdd", node: context.node))]
            }
        }
    )

    /// TensorFlow's shape rules for `BiasAdd`; with them met, NHWC is a broadcast add of `[C]`
    /// onto `[..., C]`, whose row-contiguous loop is the one `Broadcast` already has.
    private static func check(value: Tensor, bias: Tensor, channelsLast: Bool, node: String) throws(WeftError) {
        guard value.shape.rank >= 2 else {
            throw .invalidArgument("Input tensor must be at least 2D: \(value.shape)", node: node)
        }
        guard bias.shape.rank == 1 else {
            throw .invalidArgument("Biases must be 1D: \(bias.shape)", node: node)
        }
        let channels = value.shape.dimensions[channelsLast ? value.shape.rank - 1 : 1]
        guard bias.shape.dimensions[0] == channels else {
            throw .invalidArgument(
                "Must provide as many biases as the channel dimension of the input tensor: \(bias.shape) vs. \(value.shape)",
                node: node
            )
        }
    }
}

/// An element-wise activation function.
enum Activation: String, Sendable, CaseIterable {
    /// `max(x, 0)`.
    case relu = "Relu"
    /// `min(max(x, 0), 6)`.
    case relu6 = "Relu6"
    /// `x` for `x > 0`, `exp(x) - 1` otherwise.
    case elu = "Elu"
    /// `log(exp(x) + 1)`, computed without overflow.
    case softplus = "Softplus"

    /// Applies the function to every element of `x` into a new tensor.
    func apply(_ x: Tensor, node: String) throws(WeftError) -> Tensor {
        let out = Tensor(uninitialized: x.dtype, shape: x.shape)
        try x.dtype.visit(Visitor(activation: self, input: x, out: out, node: node))
        return out
    }

    private struct Visitor: ElementVisitor {
        let activation: Activation
        let input: Tensor
        let out: Tensor
        let node: String
        var op: String { activation.rawValue }

        func float<T: FloatElement>(_ type: T.Type) {
            switch activation {
            // `x < 0 ? 0 : x` lets NaN through, as TensorFlow's Relu does.
            case .relu: map(T.self) { $0 < 0 ? 0 : $0 }
            case .relu6: map(T.self) { $0 < 0 ? 0 : $0 > 6 ? 6 : $0 }
            // exp(x) − 1 rather than expm1, as TensorFlow's kernel computes it.
            case .elu: map(T.self) { $0 < 0 ? T.exp($0) - 1 : $0 }
            case .softplus:
                // TensorFlow's thresholds: above -threshold, softplus(x) == x to machine
                // precision; below threshold it equals exp(x); log1p(exp(x)) in between.
                let threshold = T.log(T.ulpOfOne) + 2
                map(T.self) { x in
                    x > -threshold ? x : x < threshold ? T.exp(x) : T.log1p(T.exp(x))
                }
            }
        }

        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) {
            switch activation {
            case .relu: map(T.self) { $0 < 0 ? 0 : $0 }
            case .relu6: map(T.self) { $0 < 0 ? 0 : $0 > 6 ? 6 : $0 }
            case .elu, .softplus: throw .unsupported(op: op, dtype: T.dtype, node: node)
            }
        }

        @inline(__always)
        private func map<T: TensorElement>(_ type: T.Type, _ body: (T) -> T) {
            input.withElements(of: T.self) { x in
                out.withMutableElements(of: T.self) { y in
                    guard let source = x.baseAddress, let target = y.baseAddress else { return }
                    for i in 0..<x.count { target[i] = body(source[i]) }
                }
            }
        }
    }
}

/// The sum of `count` elements, with four accumulators so the additions pipeline.
@inline(__always)
private func sum<T: FloatElement>(_ values: UnsafeMutablePointer<T>, _ count: Int) -> T {
    var partial: (T, T, T, T) = (0, 0, 0, 0)
    var i = 0
    while i + 4 <= count {
        partial.0 += values[i]
        partial.1 += values[i + 1]
        partial.2 += values[i + 2]
        partial.3 += values[i + 3]
        i += 4
    }
    while i < count {
        partial.0 += values[i]
        i += 1
    }
    return (partial.0 + partial.1) + (partial.2 + partial.3)
}

/// Softmax or log-softmax of each row along the last axis, shifted by the row's maximum so
/// `exp` never overflows.
private struct SoftmaxVisitor: ElementVisitor {
    let logits: Tensor
    let out: Tensor
    let logarithmic: Bool
    let op: String
    let node: String

    func float<T: FloatElement>(_ type: T.Type) {
        let width = logits.shape.dimensions.last!
        guard width > 0 else { return }
        logits.withElements(of: T.self) { x in
            out.withMutableElements(of: T.self) { y in
                guard let source = x.baseAddress, let target = y.baseAddress else { return }
                for start in stride(from: 0, to: x.count, by: width) {
                    row(source + start, target + start, width)
                }
            }
        }
    }

    @inline(__always)
    private func row<T: FloatElement>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ width: Int) {
        var maximum = x[0]
        for j in 1..<width where x[j] > maximum || x[j].isNaN { maximum = x[j] }
        for j in 0..<width { y[j] = x[j] - maximum }
        if logarithmic {
            // The exponentials go to the output row first and are summed from there; the row
            // is then rewritten as the shifted logits minus log of that sum.
            T.exp(y, into: y, count: width)
            let logSum = T.log(sum(y, width))
            for j in 0..<width { y[j] = x[j] - maximum - logSum }
        } else {
            T.exp(y, into: y, count: width)
            let scale = 1 / sum(y, width)
            for j in 0..<width { y[j] *= scale }
        }
    }
}
