/// `DepthwiseConv2dNative` and its gradients: every input channel `c` is convolved with its
/// own `channel_multiplier` filters, giving output channels `c · multiplier + m`. As on
/// TensorFlow's CPU, NHWC only and no dilations.
struct DepthwiseKernel: OpKernel {
    let attributes: ConvAttributes
    let pass: ConvPass

    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        let node = context.node
        guard attributes.window.dilations == (1, 1) else {
            throw WeftError(
                .unimplemented,
                "\(attributes.op) on the CPU supports only dilations of 1 (node '\(node)')"
            )
        }
        let (problem, operands, outShape) = try prepare(context)
        let out = try KernelChecks.allocate(operands.0.dtype, outShape, node: node)
        try operands.0.dtype.visit(
            DepthwiseVisitor(problem: problem, pass: pass, first: operands.0, second: operands.1, out: out, node: node)
        )
        return [.tensor(out)]
    }

    private func prepare(
        _ context: OpKernelContext
    ) throws(WeftError) -> (DepthwiseProblem, (Tensor, Tensor), TensorShape) {
        let node = context.node
        let operands = try ConvOperands(context, pass, attributes)
        let problem = try DepthwiseProblem(input: operands.input, filter: operands.filter, attributes: attributes, node: node)
        if let gradient = operands.outBackprop {
            try attributes.checkOutBackprop(gradient, problem.geometry, outDepth: problem.outDepth, node: node)
        }
        let shape = pass.resultShape(input: problem.inputShape, filter: problem.filterShape, output: problem.outputShape)
        return (problem, operands.tensors, shape)
    }
}

/// The sizes of a depthwise convolution.
struct DepthwiseProblem: Sendable {
    var geometry: WindowGeometry
    /// Filters per input channel.
    var multiplier: Int

    init(input: TensorShape, filter: TensorShape, attributes: ConvAttributes, node: String) throws(WeftError) {
        guard input.dimensions[3] == filter.dimensions[2] else {
            throw .invalidArgument(
                "input and filter must have the same depth: \(input.dimensions[3]) vs \(filter.dimensions[2])",
                node: node
            )
        }
        geometry = try attributes.window.geometry(
            input: input,
            window: (filter.dimensions[0], filter.dimensions[1]),
            node: node
        )
        multiplier = filter.dimensions[3]
        // `filter_sizes` comes from a tensor: its channel multiplier can be any value.
        guard !input.dimensions[3].multipliedReportingOverflow(by: multiplier).overflow else {
            throw .invalidArgument(
                "channel multiplier \(multiplier) is too large for depth \(input.dimensions[3])",
                node: node
            )
        }
    }

    var outDepth: Int { geometry.depth * multiplier }
    var inputShape: TensorShape { [geometry.batch, geometry.inRows, geometry.inCols, geometry.depth] }
    var filterShape: TensorShape { [geometry.windowRows, geometry.windowCols, geometry.depth, multiplier] }
    var outputShape: TensorShape { [geometry.batch, geometry.outRows, geometry.outCols, outDepth] }

    /// Calls `body(image, outputPixel, tap, inputPixel)` for every window tap that lies inside
    /// image `image`: offsets in pixels of the output, filter and input.
    @inline(__always)
    func forEachTap(image: Int, _ body: (Int, Int, Int) -> Void) {
        let g = geometry
        for oy in 0..<g.outRows {
            for ox in 0..<g.outCols {
                let outPixel = (image * g.outRows + oy) * g.outCols + ox
                for ty in g.rowTaps(oy) {
                    let iy = g.inputRow(oy, tap: ty)
                    for tx in g.colTaps(ox) {
                        let ix = g.inputCol(ox, tap: tx)
                        body(outPixel, ty * g.windowCols + tx, (image * g.inRows + iy) * g.inCols + ix)
                    }
                }
            }
        }
    }
}

/// The three depthwise computations, accumulating in the element type as TensorFlow's do.
private struct DepthwiseVisitor: ElementVisitor {
    let problem: DepthwiseProblem
    let pass: ConvPass
    let first: Tensor
    let second: Tensor
    let out: Tensor
    let node: String
    var op: String { "DepthwiseConv2dNative" }

    func float<T: FloatElement>(_ type: T.Type) {
        first.withElements(of: T.self) { a in
            second.withElements(of: T.self) { b in
                out.withMutableElements(of: T.self) { result in
                    guard let a = a.baseAddress, let b = b.baseAddress, let c = result.baseAddress else {
                        // Some operand is empty: the result (if it has elements) is all zeros.
                        result.initialize(repeating: 0)
                        return
                    }
                    if pass == .forward, T.self == Float.self, problem.multiplier == 1 {
                        // Writes every element of the result, padding included.
                        SingleChannelDepthwise(geometry: problem.geometry).forward(
                            input: UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
                            filter: UnsafeRawPointer(b).assumingMemoryBound(to: Float.self),
                            output: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self)
                        )
                        return
                    }
                    result.initialize(repeating: 0)
                    switch pass {
                    case .forward: forward(input: a, filter: b, output: c)
                    case .inputGradient: inputGradient(filter: a, outBackprop: b, input: c)
                    case .filterGradient: filterGradient(input: a, outBackprop: b, filter: c)
                    }
                }
            }
        }
    }

    private func forward<T: FloatElement>(
        input: UnsafePointer<T>,
        filter: UnsafePointer<T>,
        output: UnsafeMutablePointer<T>
    ) {
        let (p, depth, multiplier, width) = (problem, problem.geometry.depth, problem.multiplier, problem.outDepth)
        let (x, f, y) = (
            SharedPointer(UnsafeMutablePointer(mutating: input)), SharedPointer(UnsafeMutablePointer(mutating: filter)),
            SharedPointer(output)
        )
        Parallel.forEach(
            p.geometry.batch,
            work: Parallel.work(p.geometry.outPixels, width, p.geometry.windowRows, p.geometry.windowCols)
        ) { image in
            p.forEachTap(image: image) { outPixel, tap, inPixel in
                let (o, w, i) = (y.pointer + outPixel * width, f.pointer + tap * width, x.pointer + inPixel * depth)
                if multiplier == 1 {
                    for c in 0..<depth { o[c] += i[c] * w[c] }
                } else {
                    for j in 0..<width { o[j] += i[j / multiplier] * w[j] }
                }
            }
        }
    }

    private func inputGradient<T: FloatElement>(
        filter: UnsafePointer<T>,
        outBackprop: UnsafePointer<T>,
        input: UnsafeMutablePointer<T>
    ) {
        let (p, depth, multiplier, width) = (problem, problem.geometry.depth, problem.multiplier, problem.outDepth)
        let (dy, f, dx) = (
            SharedPointer(UnsafeMutablePointer(mutating: outBackprop)),
            SharedPointer(UnsafeMutablePointer(mutating: filter)), SharedPointer(input)
        )
        Parallel.forEach(
            p.geometry.batch,
            work: Parallel.work(p.geometry.outPixels, width, p.geometry.windowRows, p.geometry.windowCols)
        ) { image in
            p.forEachTap(image: image) { outPixel, tap, inPixel in
                let (g, w, i) = (dy.pointer + outPixel * width, f.pointer + tap * width, dx.pointer + inPixel * depth)
                for c in 0..<depth {
                    var total: T = 0
                    for m in 0..<multiplier { total += g[c * multiplier + m] * w[c * multiplier + m] }
                    i[c] += total
                }
            }
        }
    }

    /// Serial: every image adds into the same filter gradient.
    private func filterGradient<T: FloatElement>(
        input: UnsafePointer<T>,
        outBackprop: UnsafePointer<T>,
        filter: UnsafeMutablePointer<T>
    ) {
        let (depth, multiplier, width) = (problem.geometry.depth, problem.multiplier, problem.outDepth)
        for image in 0..<problem.geometry.batch {
            problem.forEachTap(image: image) { outPixel, tap, inPixel in
                let (g, w, i) = (outBackprop + outPixel * width, filter + tap * width, input + inPixel * depth)
                for j in 0..<width { w[j] += i[j / multiplier] * g[j] }
            }
        }
    }
}

/// The forward pass of the common case, one `float` filter per channel (MobileNet's): every
/// output pixel sums its window eight channels at a time in SIMD registers and is stored once,
/// with no unrolled copy of the input. Rows of output pixels run in parallel.
struct SingleChannelDepthwise: Sendable {
    let geometry: WindowGeometry

    private typealias Lanes = SIMD8<Float>

    func forward(input: UnsafePointer<Float>, filter: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let g = geometry
        let (x, f, y) = (
            SharedPointer(UnsafeMutablePointer(mutating: input)), SharedPointer(UnsafeMutablePointer(mutating: filter)),
            SharedPointer(output)
        )
        Parallel.forEach(g.batch * g.outRows, work: Parallel.work(g.outCols, g.depth, g.windowRows, g.windowCols)) {
            row in
            let (image, oy) = row.quotientAndRemainder(dividingBy: g.outRows)
            for ox in 0..<g.outCols {
                pixel(image: image, oy: oy, ox: ox, input: x.pointer, filter: f.pointer, output: y.pointer)
            }
        }
    }

    /// One output pixel: all its channels, a vector of lanes at a time, then the rest singly.
    @inline(__always)
    private func pixel(
        image: Int,
        oy: Int,
        ox: Int,
        input: UnsafeMutablePointer<Float>,
        filter: UnsafeMutablePointer<Float>,
        output: UnsafeMutablePointer<Float>
    ) {
        let g = geometry
        let (depth, rows, cols) = (g.depth, g.rowTaps(oy), g.colTaps(ox))
        let out = output + ((image * g.outRows + oy) * g.outCols + ox) * depth
        let imageBase = input + image * g.inPixels * depth
        var channel = 0
        while channel + Lanes.scalarCount <= depth {
            var total = Lanes()
            for ty in rows {
                let source = imageBase + (g.inputRow(oy, tap: ty) * g.inCols) * depth + channel
                let weights = filter + ty * g.windowCols * depth + channel
                for tx in cols {
                    total += Self.load(source + g.inputCol(ox, tap: tx) * depth) * Self.load(weights + tx * depth)
                }
            }
            UnsafeMutableRawPointer(out + channel).storeBytes(of: total, as: Lanes.self)
            channel += Lanes.scalarCount
        }
        while channel < depth {
            var total: Float = 0
            for ty in rows {
                let source = imageBase + (g.inputRow(oy, tap: ty) * g.inCols) * depth + channel
                let weights = filter + ty * g.windowCols * depth + channel
                for tx in cols { total += source[g.inputCol(ox, tap: tx) * depth] * weights[tx * depth] }
            }
            out[channel] = total
            channel += 1
        }
    }

    @inline(__always)
    private static func load(_ pointer: UnsafeMutablePointer<Float>) -> Lanes {
        UnsafeRawPointer(pointer).loadUnaligned(as: Lanes.self)
    }
}
