/// `BiasAddGrad`, and `BiasAdd`'s NCHW layout (`NNOps` adds NHWC biases by broadcasting).
enum BiasOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [biasAddGrad]

    /// `BiasAddGrad`: the sum of `out_backprop` over every dimension but the channel one (the
    /// last for NHWC, dimension 1 for NCHW).
    private static let biasAddGrad = OpDefinition(
        "BiasAddGrad",
        inputCount: 1,
        outputTypes: OpDefinition.outputOfInput(0),
        makeKernel: { node throws(WeftError) in
            let channelsLast = try BiasLayout.channelsLast(node)
            return ClosureKernel { context throws(WeftError) in
                let gradient = try context.input(0)
                guard gradient.shape.rank >= 2 else {
                    throw .invalidArgument("Input tensor must be at least 2D: \(gradient.shape)", node: context.node)
                }
                let layout = BiasLayout(gradient.shape, channelsLast: channelsLast)
                let out = try KernelChecks.allocate(gradient.dtype, [layout.channels], node: context.node)
                try gradient.dtype.visit(
                    BiasGradientVisitor(gradient: gradient, out: out, layout: layout, node: context.node)
                )
                return [.tensor(out)]
            }
        }
    )

    /// `value + bias` with `bias` added along dimension 1 of `value` (NCHW); the caller has
    /// checked the shapes.
    static func addChannelsFirst(_ value: Tensor, _ bias: Tensor, node: String) throws(WeftError) -> Tensor {
        try KernelChecks.sameDType(value, bias, op: "BiasAdd", node: node)
        let out = try KernelChecks.allocate(value.dtype, value.shape, node: node)
        try value.dtype.visit(
            ChannelsFirstAdd(
                value: value,
                bias: bias,
                out: out,
                layout: BiasLayout(value.shape, channelsLast: false),
                node: node
            )
        )
        return out
    }
}

/// Adds `bias[c]` to every element of channel `c` of an NCHW tensor.
private struct ChannelsFirstAdd: ElementVisitor {
    let value: Tensor
    let bias: Tensor
    let out: Tensor
    let layout: BiasLayout
    let node: String
    var op: String { "BiasAdd" }

    func float<T: FloatElement>(_ type: T.Type) { add(T.self, +) }
    func integer<T: IntegerElement>(_ type: T.Type) { add(T.self, &+) }
    func complex<R: ComplexReal>(_ type: R.Type) { add(ComplexElement<R>.self, +) }

    @inline(__always)
    private func add<T: TensorElement>(_ type: T.Type, _ plus: (T, T) -> T) {
        value.withElements(of: T.self) { x in
            bias.withElements(of: T.self) { b in
                out.withMutableElements(of: T.self) { y in
                    guard let x = x.baseAddress, let y = y.baseAddress else { return }
                    for row in 0..<(layout.outer * layout.channels) {
                        let shift = b[row % layout.channels]
                        let start = row * layout.inner
                        for i in start..<(start + layout.inner) { y[i] = plus(x[i], shift) }
                    }
                }
            }
        }
    }
}

/// Where the channel dimension of a `BiasAdd` operand lies: the tensor is viewed as
/// `[outer, channels, inner]` (`inner` is 1 for NHWC, the spatial size for NCHW).
struct BiasLayout: Sendable {
    /// The product of the dimensions before the channel one.
    let outer: Int
    /// The channel count.
    let channels: Int
    /// The product of the dimensions after the channel one.
    let inner: Int

    /// The layout of a tensor of `shape` (rank ≥ 2).
    init(_ shape: TensorShape, channelsLast: Bool) {
        let dims = shape.dimensions
        let axis = channelsLast ? dims.count - 1 : 1
        outer = dims[..<axis].reduce(1, *)
        channels = dims[axis]
        inner = dims[(axis + 1)...].reduce(1, *)
    }

    /// Whether the node's `data_format` is NHWC (the default) rather than NCHW.
    static func channelsLast(_ node: NodeInfo) throws(WeftError) -> Bool {
        let format = try node.attributes.string("data_format", default: "NHWC")
        switch format {
        case "NHWC": return true
        case "NCHW": return false
        default:
            throw WeftError(.invalidArgument, "Invalid data format '\(format)' (node '\(node.name)')")
        }
    }
}

/// Sums a gradient per channel. Sums accumulate in double precision, so the result does not
/// depend on how many elements a channel has beyond the final rounding.
private struct BiasGradientVisitor: ElementVisitor {
    let gradient: Tensor
    let out: Tensor
    let layout: BiasLayout
    let node: String
    var op: String { "BiasAddGrad" }

    func float<T: FloatElement>(_ type: T.Type) {
        sum(T.self, Double.init, T.init)
    }

    func integer<T: IntegerElement>(_ type: T.Type) {
        sum(T.self, { $0 }, { $0 }, zero: T.zero, add: { $0 &+ $1 })
    }

    /// Complex sums accumulate in the element type, as TensorFlow's do.
    func complex<R: ComplexReal>(_ type: R.Type) {
        typealias C = ComplexElement<R>
        sum(C.self, { $0 }, { $0 }, zero: C(real: 0), add: +)
    }

    private func sum<T: TensorElement>(
        _ type: T.Type,
        _ widen: (T) -> Double,
        _ narrow: (Double) -> T
    ) {
        sum(T.self, widen, narrow, zero: 0.0, add: +)
    }

    @inline(__always)
    private func sum<T: TensorElement, A>(
        _ type: T.Type,
        _ widen: (T) -> A,
        _ narrow: (A) -> T,
        zero: A,
        add: (A, A) -> A
    ) {
        let (outer, channels, inner) = (layout.outer, layout.channels, layout.inner)
        var totals = [A](repeating: zero, count: channels)
        gradient.withElements(of: T.self) { g in
            guard let g = g.baseAddress else { return }
            totals.withUnsafeMutableBufferPointer { totals in
                for o in 0..<outer {
                    for c in 0..<channels {
                        let row = g + (o * channels + c) * inner
                        var total = totals[c]
                        for i in 0..<inner { total = add(total, widen(row[i])) }
                        totals[c] = total
                    }
                }
            }
        }
        out.withMutableElements(of: T.self) { out in
            for c in 0..<channels { out[c] = narrow(totals[c]) }
        }
    }
}
