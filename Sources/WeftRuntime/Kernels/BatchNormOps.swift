/// Fused batch normalisation: `FusedBatchNorm`, `FusedBatchNormV2`, `FusedBatchNormV3` and
/// their gradients `FusedBatchNormGrad[V2|V3]`, over 4-D NHWC or NCHW tensors.
///
/// `x` and `y` are `float`, `half` or `bfloat16` (`T`, only `float` for the first version); scale, offset and statistics are `float` (`U`), and
/// all arithmetic is in single precision with sums in double. In training the output
/// `batch_variance` is the unbiased (n − 1) estimate blended into the running one by
/// `exponential_avg_factor`, while `reserve_space_2` keeps the biased variance the gradient needs.
enum BatchNormOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        forward("FusedBatchNorm", outputs: 5),
        forward("FusedBatchNormV2", outputs: 5),
        forward("FusedBatchNormV3", outputs: 6),
        gradient("FusedBatchNormGrad", inputs: 5),
        gradient("FusedBatchNormGradV2", inputs: 5),
        gradient("FusedBatchNormGradV3", inputs: 6),
    ]

    private static func forward(_ name: String, outputs: Int) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 5,
            outputTypes: { node, inputs throws(WeftError) in
                let x = try OpDefinition.outputOfInput(0)(node, inputs)[0]
                let u = OutputType(try node.optionalType("U") ?? .float)
                return [x] + [OutputType](repeating: u, count: outputs - 1)
            },
            makeKernel: { node throws(WeftError) in
                BatchNormKernel(attributes: try BatchNormAttributes(node, op: name), outputs: outputs)
            }
        )
    }

    private static func gradient(_ name: String, inputs: Int) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: inputs,
            outputTypes: { node, types throws(WeftError) in
                let x = try OpDefinition.outputOfInput(0)(node, types)[0]
                let u = OutputType(try node.optionalType("U") ?? .float)
                return [x, u, u, u, u]
            },
            makeKernel: { node throws(WeftError) in
                BatchNormGradientKernel(attributes: try BatchNormAttributes(node, op: name))
            }
        )
    }
}

/// A batch-norm node's attributes.
struct BatchNormAttributes: Sendable {
    let op: String
    let epsilon: Float
    let averageFactor: Float
    let isTraining: Bool
    let channelsLast: Bool

    init(_ node: NodeInfo, op: String) throws(WeftError) {
        self.op = op
        epsilon = try node.attributes.floatAttribute("epsilon", default: 0.0001)
        averageFactor = try node.attributes.floatAttribute("exponential_avg_factor", default: 1)
        isTraining = try node.attributes.bool("is_training", default: true)
        channelsLast = try BiasLayout.channelsLast(node)
    }

    /// Checks that `x` is 4-D and each of `vectors` is a vector of its channel count (or, for
    /// those named in `mayBeEmpty`, empty); returns `x`'s layout.
    func check(
        x: Tensor,
        vectors: [(String, Tensor)],
        mayBeEmpty: Set<String> = [],
        node: String
    ) throws(WeftError) -> BiasLayout {
        // TensorFlow's CPU registers the V2/V3 ops for `half` and `bfloat16` (with `U` float)
        // as well; the first op only for `float`.
        let first = op == "FusedBatchNorm" || op == "FusedBatchNormGrad"
        let types: Set<DType> = first ? [.float] : [.float, .half, .bfloat16]
        guard types.contains(x.dtype) else {
            throw .unsupported(op: op, dtype: x.dtype, node: node)
        }
        guard x.shape.rank == 4 else {
            throw .invalidArgument("input must be 4-dimensional\(x.shape)", node: node)
        }
        let layout = BiasLayout(x.shape, channelsLast: channelsLast)
        for (name, vector) in vectors {
            guard vector.dtype == .float else {
                throw .invalidArgument("\(name) must be a float tensor, got \(vector.dtype)", node: node)
            }
            guard vector.shape.rank == 1 else {
                throw .invalidArgument("\(name) must be 1-dimensional\(vector.shape)", node: node)
            }
            let count = vector.shape.dimensions[0]
            guard count == layout.channels || (count == 0 && mayBeEmpty.contains(name)) else {
                throw .invalidArgument(
                    "\(name) must have the same number of elements as the channels of x, got \(count) and \(layout.channels)",
                    node: node
                )
            }
        }
        return layout
    }
}

/// `x` as single-precision values, converted once when it is `half` or `bfloat16`.
private func singlePrecision(_ x: Tensor) throws(WeftError) -> Tensor {
    x.dtype == .float ? x : try CastOp.cast(x, to: .float)
}

/// Per-channel sums of `term(i, c)` over the elements `i` of an `[outer, channels, inner]`
/// layout, `c` being element `i`'s channel. Inlined, so `term` is too.
@inline(__always)
private func channelSums(_ layout: BiasLayout, _ term: (Int, Int) -> Double) -> [Double] {
    var totals = [Double](repeating: 0, count: layout.channels)
    totals.withUnsafeMutableBufferPointer { totals in
        guard let totals = totals.baseAddress else { return }
        forEachRow(layout) { start, c in
            if layout.inner == 1 {
                // NHWC: a row holds one element of every channel.
                for channel in 0..<layout.channels { totals[channel] += term(start + channel, channel) }
            } else {
                var total = 0.0
                for i in start..<(start + layout.inner) { total += term(i, c) }
                totals[c] += total
            }
        }
    }
    return totals
}

/// Calls `body(start, c)` for every contiguous run of elements: for NHWC (`inner == 1`) each
/// row of all channels (`c` is then 0), otherwise each run of `inner` elements of channel `c`.
@inline(__always)
private func forEachRow(_ layout: BiasLayout, _ body: (Int, Int) -> Void) {
    if layout.inner == 1 {
        for o in 0..<layout.outer { body(o * layout.channels, 0) }
    } else {
        for o in 0..<layout.outer {
            for c in 0..<layout.channels { body((o * layout.channels + c) * layout.inner, c) }
        }
    }
}

/// `FusedBatchNorm[V2|V3]`.
struct BatchNormKernel: OpKernel {
    let attributes: BatchNormAttributes
    let outputs: Int

    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        let node = context.node
        let x = try context.input(0)
        let (scale, offset, mean, variance) = (
            try context.input(1), try context.input(2), try context.input(3), try context.input(4)
        )
        // Training with a factor of 1 ignores the running statistics, which may then be empty.
        let runningOptional: Set<String> =
            attributes.isTraining && attributes.averageFactor == 1 ? ["mean", "variance"] : []
        let layout = try attributes.check(
            x: x,
            vectors: [("scale", scale), ("offset", offset), ("mean", mean), ("variance", variance)],
            mayBeEmpty: runningOptional,
            node: node
        )
        let channels = layout.channels
        let xs = try singlePrecision(x)
        let count = layout.outer * layout.inner
        var useMean = mean.elements(as: Float.self)
        var useVariance = variance.elements(as: Float.self)
        var outMean = useMean
        var outVariance = useVariance
        if attributes.isTraining {
            (useMean, useVariance) = xs.withElements(of: Float.self) { x in
                statistics(layout, x.baseAddress, count: count)
            }
            let correction = count > 1 ? Float(count) / Float(count - 1) : 1
            let f = attributes.averageFactor
            let unbiased = useVariance.map { $0 * correction }
            if f == 1 {
                (outMean, outVariance) = (useMean, unbiased)
            } else {
                outMean = (0..<channels).map { (1 - f) * outMean[$0] + f * useMean[$0] }
                outVariance = (0..<channels).map { (1 - f) * outVariance[$0] + f * unbiased[$0] }
            }
        }
        let y = try normalize(
            xs,
            layout,
            mean: useMean,
            variance: useVariance,
            scale: scale.elements(as: Float.self),
            offset: offset.elements(as: Float.self),
            node: node
        )
        let output = Value.tensor(x.dtype == .float ? y : try CastOp.cast(y, to: x.dtype))
        var results: [Value] = [output]
        if attributes.isTraining {
            results += [outMean, outVariance, useMean, useVariance].map { Value.tensor(Tensor($0)) }
        } else {
            // The statistics pass through unchanged: the input tensors are returned as they are.
            results += [mean, variance, mean, variance].map { Value.tensor($0) }
        }
        if outputs == 6 { results.append(.tensor(Tensor(Float(0)))) }
        return results
    }

    /// The batch's per-channel mean and biased variance (two passes, sums in double).
    private func statistics(_ layout: BiasLayout, _ x: UnsafePointer<Float>?, count: Int) -> ([Float], [Float]) {
        guard let x, count > 0 else {
            return ([Float](repeating: 0, count: layout.channels), [Float](repeating: 0, count: layout.channels))
        }
        let means = channelSums(layout) { i, _ in Double(x[i]) }.map { $0 / Double(count) }
        let squares = means.withUnsafeBufferPointer { means in
            channelSums(layout) { i, c in
                let d = Double(x[i]) - means[c]
                return d * d
            }
        }
        return (means.map { Float($0) }, squares.map { Float($0 / Double(count)) })
    }

    /// `y = (x − mean) · scale / √(variance + ε) + offset`, in single precision.
    private func normalize(
        _ x: Tensor,
        _ layout: BiasLayout,
        mean: [Float],
        variance: [Float],
        scale: [Float],
        offset: [Float],
        node: String
    ) throws(WeftError) -> Tensor {
        let y = try KernelChecks.allocate(.float, x.shape, node: node)
        let factors = (0..<layout.channels).map { scale[$0] / (variance[$0] + attributes.epsilon).squareRoot() }
        x.withElements(of: Float.self) { x in
            y.withMutableElements(of: Float.self) { y in
                factors.withUnsafeBufferPointer { k in
                    mean.withUnsafeBufferPointer { m in
                        offset.withUnsafeBufferPointer { b in
                            guard let x = x.baseAddress, let y = y.baseAddress, let k = k.baseAddress,
                                let m = m.baseAddress, let b = b.baseAddress
                            else { return }
                            if layout.inner == 1 {
                                // NHWC: every row holds one element of each channel.
                                for row in 0..<layout.outer {
                                    let start = row &* layout.channels
                                    normalizeRow(x + start, y + start, layout.channels, mean: m, factor: k, offset: b)
                                }
                            } else {
                                for run in 0..<(layout.outer &* layout.channels) {
                                    let (start, c) = (run &* layout.inner, run % layout.channels)
                                    let (mc, kc, bc) = (m[c], k[c], b[c])
                                    for i in 0..<layout.inner { y[start &+ i] = (x[start &+ i] - mc) * kc + bc }
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }
}

/// `y = (x − mean) · factor + offset` over one NHWC row of `count` channels, eight channels at
/// a time in SIMD registers.
@inline(__always)
private func normalizeRow(
    _ x: UnsafePointer<Float>,
    _ y: UnsafeMutablePointer<Float>,
    _ count: Int,
    mean: UnsafePointer<Float>,
    factor: UnsafePointer<Float>,
    offset: UnsafePointer<Float>
) {
    typealias Lanes = SIMD8<Float>
    func load(_ pointer: UnsafePointer<Float>, _ at: Int) -> Lanes {
        UnsafeRawPointer(pointer + at).loadUnaligned(as: Lanes.self)
    }
    var j = 0
    while j &+ Lanes.scalarCount <= count {
        let value = (load(x, j) - load(mean, j)) * load(factor, j) + load(offset, j)
        UnsafeMutableRawPointer(y + j).storeBytes(of: value, as: Lanes.self)
        j &+= Lanes.scalarCount
    }
    while j < count {
        y[j] = (x[j] - mean[j]) * factor[j] + offset[j]
        j &+= 1
    }
}

/// `FusedBatchNormGrad[V2|V3]`: the gradients with respect to `x`, `scale` and `offset`, from
/// the statistics the forward op saved (the batch's in training, the population's otherwise).
struct BatchNormGradientKernel: OpKernel {
    let attributes: BatchNormAttributes

    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        let node = context.node
        let dy = try context.input(0)
        let x = try context.input(1)
        let (scale, mean, variance) = (try context.input(2), try context.input(3), try context.input(4))
        let layout = try attributes.check(
            x: x,
            vectors: [("scale", scale), ("reserve_space_1", mean), ("reserve_space_2", variance)],
            node: node
        )
        guard dy.shape == x.shape, dy.dtype == x.dtype else {
            throw .invalidArgument(
                "x and y_backprop must have same shape and type, but x has shape \(x.shape) and y_backprop has shape \(dy.shape)",
                node: node
            )
        }
        let count = layout.outer * layout.inner
        let (xs, dys) = (try singlePrecision(x), try singlePrecision(dy))
        let scales = scale.elements(as: Float.self)
        let means = mean.elements(as: Float.self)
        let rsqrts = variance.elements(as: Float.self).map { 1 / ($0 + attributes.epsilon).squareRoot() }
        let dx = try KernelChecks.allocate(.float, x.shape, node: node)
        let (dScale, dOffset) = xs.withElements(of: Float.self) { x in
            dys.withElements(of: Float.self) { dy in
                dx.withMutableElements(of: Float.self) { dx in
                    guard let x = x.baseAddress, let dy = dy.baseAddress, let dx = dx.baseAddress, count > 0 else {
                        let zeros = [Float](repeating: 0, count: layout.channels)
                        return (zeros, zeros)
                    }
                    return backprop(layout, x, dy, dx, scales: scales, means: means, rsqrts: rsqrts, count: count)
                }
            }
        }
        let empty = Tensor(uninitialized: .float, shape: [0])
        return [
            .tensor(x.dtype == .float ? dx : try CastOp.cast(dx, to: x.dtype)),
            .tensor(Tensor(dScale)), .tensor(Tensor(dOffset)), .tensor(empty), .tensor(empty),
        ]
    }

    /// Fills `dx` and returns the scale and offset gradients.
    private func backprop(
        _ layout: BiasLayout,
        _ x: UnsafePointer<Float>,
        _ dy: UnsafePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>,
        scales: [Float],
        means: [Float],
        rsqrts: [Float],
        count: Int
    ) -> ([Float], [Float]) {
        let offsetSums = channelSums(layout) { i, _ in Double(dy[i]) }
        let scaleSums = means.withUnsafeBufferPointer { m in
            rsqrts.withUnsafeBufferPointer { r in
                channelSums(layout) { i, c in Double(dy[i]) * Double((x[i] - m[c]) * r[c]) }
            }
        }
        // In training the mean and variance depend on x too, which adds the two mean terms.
        let n = Float(count)
        let meanDy = offsetSums.map { attributes.isTraining ? Float($0) / n : 0 }
        let meanDyXhat = scaleSums.map { attributes.isTraining ? Float($0) / n : 0 }
        let factors = (0..<layout.channels).map { scales[$0] * rsqrts[$0] }
        // dx = k · (dy − a − (x − m) · r · b) per channel.
        let terms = [means, rsqrts, factors, meanDy, meanDyXhat]
        terms[0].withUnsafeBufferPointer { m in
            terms[1].withUnsafeBufferPointer { r in
                terms[2].withUnsafeBufferPointer { k in
                    terms[3].withUnsafeBufferPointer { a in
                        terms[4].withUnsafeBufferPointer { b in
                            forEachRow(layout) { start, c in
                                if layout.inner == 1 {
                                    for j in 0..<layout.channels {
                                        let i = start + j
                                        dx[i] = k[j] * (dy[i] - a[j] - (x[i] - m[j]) * r[j] * b[j])
                                    }
                                } else {
                                    for i in start..<(start + layout.inner) {
                                        dx[i] = k[c] * (dy[i] - a[c] - (x[i] - m[c]) * r[c] * b[c])
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (scaleSums.map { Float($0) }, offsetSums.map { Float($0) })
    }
}
