/// Spatial pooling over NHWC tensors: `MaxPool`, `AvgPool`, their gradients `MaxPoolGrad`
/// and `AvgPoolGrad`, and `MaxPoolGradGrad`, with attributes `ksize`, `strides`, `padding`
/// (`SAME` / `VALID`); the `V2` forms of the max ops take `ksize` and `strides` as inputs.
///
/// As in TensorFlow's CPU kernels: `AvgPool` divides by the number of taps inside the input
/// (padding is not counted); `MaxPoolGrad` routes each window's gradient to the first tap, in
/// row-major order, holding the window's maximum; `MaxPoolGradGrad` reads, for each window,
/// the gradient at the first tap equal to `orig_output` (zero when none is).
enum PoolOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        pool("MaxPool", .max, inputs: 1),
        pool("AvgPool", .average, inputs: 1),
        pool("MaxPoolGrad", .maxGradient, inputs: 3),
        pool("AvgPoolGrad", .averageGradient, inputs: 2),
        pool("MaxPoolGradGrad", .maxGradGrad, inputs: 3),
        PoolV2Kernel.definition("MaxPoolV2", .max, inputs: 1),
        PoolV2Kernel.definition("MaxPoolGradV2", .maxGradient, inputs: 3),
        PoolV2Kernel.definition("MaxPoolGradGradV2", .maxGradGrad, inputs: 3),
    ]

    private static func pool(_ name: String, _ kind: PoolKind, inputs: Int) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: inputs,
            // `AvgPoolGrad`'s first input is a shape; its type is the gradient's.
            outputTypes: OpDefinition.outputOfInput(kind == .averageGradient ? 1 : 0),
            makeKernel: { node throws(WeftError) in
                PoolKernel(kind: kind, attributes: try PoolAttributes(node, op: name, kind: kind))
            }
        )
    }
}

/// What a pooling kernel computes.
enum PoolKind: Sendable {
    case max
    case average
    case maxGradient
    case averageGradient
    /// The gradient of `MaxPoolGrad`: the input gradient read at each window's maximum.
    case maxGradGrad

    /// Whether the output has the pooled shape (rather than the input's).
    var isPooled: Bool { self == .max || self == .average || self == .maxGradGrad }
}

/// A pooling node's window, strides and padding.
struct PoolAttributes: Sendable {
    let op: String
    let window: (rows: Int, cols: Int)
    let sliding: WindowAttributes
    let declared: DType?
    /// Max pooling across depth (`ksize` and `strides` `[1, 1, 1, d]`): the window, 1 when
    /// pooling is spatial, and the stride, checked against the input's depth when run.
    let depth: (window: Int, stride: Int)

    init(_ node: NodeInfo, op: String, kind: PoolKind) throws(WeftError) {
        try Self.checkFormat(node, op: op)
        try self.init(
            ksize: try node.attributes.ints("ksize"),
            strides: try node.attributes.ints("strides"),
            node: node,
            op: op,
            kind: kind
        )
    }

    /// Refuses layouts other than NHWC, as TensorFlow's CPU kernels do.
    static func checkFormat(_ node: NodeInfo, op: String) throws(WeftError) {
        let format = try node.attributes.string("data_format", default: "NHWC")
        guard format == "NHWC" else {
            throw WeftError(
                .invalidArgument,
                "Default \(op) only supports NHWC on device type CPU; got \(format) (node '\(node.name)')"
            )
        }
    }

    /// A window `ksize` and `strides` given as values (`MaxPoolV2` takes them as inputs), with
    /// the node's padding. Max pooling takes TensorFlow's rules: a window over depth alone, or
    /// a spatial one whose depth stride is ignored.
    init(ksize: [Int], strides: [Int], node: NodeInfo, op: String, kind: PoolKind) throws(WeftError) {
        guard ksize.count == 4 else {
            throw WeftError(
                .invalidArgument,
                "Sliding window ksize field must specify 4 dimensions (node '\(node.name)')"
            )
        }
        guard strides.count == 4 else {
            throw .invalidArgument("Sliding window strides field must specify 4 dimensions", node: node.name)
        }
        guard ksize.allSatisfy({ $0 > 0 && $0 <= Int(Int32.max) }) else {
            throw WeftError(.invalidArgument, "Sliding window ksize must be positive: \(ksize) (node '\(node.name)')")
        }
        if kind == .max {
            guard ksize[0] == 1, strides[0] == 1 else {
                throw WeftError(.unimplemented, "Pooling is not yet supported on the batch dimension. (node '\(node.name)')")
            }
            guard ksize[3] == 1 || (ksize[1] == 1 && ksize[2] == 1) else {
                throw WeftError(
                    .unimplemented,
                    "MaxPooling supports exactly one of pooling across depth or pooling across width/height. (node '\(node.name)')"
                )
            }
        } else if ksize[3] != 1, kind == .average {
            throw WeftError(.unimplemented, "Non-spatial pooling is not yet supported. (node '\(node.name)')")
        } else if ksize[0] != 1 || ksize[3] != 1 {
            throw WeftError(
                .unimplemented,
                "\(op) over the batch or depth dimension is not supported: ksize \(ksize) (node '\(node.name)')"
            )
        }
        self.op = op
        window = (ksize[1], ksize[2])
        depth = (ksize[3], strides[3])
        // Max pooling ignores the depth stride of a spatial window, and the spatial strides
        // of a depth window.
        let spatial = kind == .max ? [strides[0], strides[1], strides[2], 1] : strides
        sliding = try WindowAttributes(strides: spatial, node, dilated: false)
        declared = try node.optionalType("T")
    }
}

/// One pooling op.
struct PoolKernel: OpKernel {
    let kind: PoolKind
    let attributes: PoolAttributes

    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        let node = context.node
        if attributes.depth.window > 1 {
            return [.tensor(try DepthMaxPool(attributes: attributes).compute(try context.input(0), node: node))]
        }
        let (geometry, operands) = try prepare(context)
        let shape: TensorShape =
            kind.isPooled
            ? [geometry.batch, geometry.outRows, geometry.outCols, geometry.depth]
            : [geometry.batch, geometry.inRows, geometry.inCols, geometry.depth]
        let out = try KernelChecks.allocate(operands.value.dtype, shape, node: node)
        try operands.value.dtype.visit(
            PoolVisitor(
                kind: kind,
                geometry: geometry,
                input: operands.input,
                pooled: operands.pooled,
                value: operands.value,
                out: out,
                op: attributes.op,
                node: node
            )
        )
        return [.tensor(out)]
    }

    /// Checks the inputs; returns the geometry, the forward input and output (when the op
    /// reads them) and the tensor pooled or spread (the input forward, the gradient backward).
    private func prepare(
        _ context: OpKernelContext
    ) throws(WeftError) -> (WindowGeometry, (input: Tensor?, pooled: Tensor?, value: Tensor)) {
        let node = context.node
        let first = try context.input(0)
        switch kind {
        case .max, .average:
            try require4D(first, "input", node: node)
            try KernelChecks.dtype(first, input: 0, expected: attributes.declared, op: attributes.op, node: node)
            return (
                try attributes.sliding.geometry(input: first.shape, window: attributes.window, node: node),
                (first, nil, first)
            )
        case .maxGradient:
            let output = try context.input(1)
            let gradient = try context.input(2)
            try require4D(first, "orig_input", node: node)
            try require4D(output, "orig_output", node: node)
            try require4D(gradient, "grad", node: node)
            try KernelChecks.dtype(first, input: 0, expected: attributes.declared, op: attributes.op, node: node)
            try KernelChecks.sameDType(first, gradient, op: attributes.op, node: node)
            let geometry = try attributes.sliding.geometry(input: first.shape, window: attributes.window, node: node)
            let expected: TensorShape = [geometry.batch, geometry.outRows, geometry.outCols, geometry.depth]
            guard gradient.shape == expected, output.shape == expected else {
                throw .invalidArgument(
                    "Expected orig_output and grad shape \(expected), got \(output.shape) and \(gradient.shape)",
                    node: node
                )
            }
            return (geometry, (first, output, gradient))
        case .maxGradGrad:
            let output = try context.input(1)
            let gradient = try context.input(2)
            try require4D(first, "orig_input", node: node)
            try require4D(output, "orig_output", node: node)
            try require4D(gradient, "grad", node: node)
            try KernelChecks.dtype(first, input: 0, expected: attributes.declared, op: attributes.op, node: node)
            try KernelChecks.sameDType(first, output, op: attributes.op, node: node)
            try KernelChecks.sameDType(first, gradient, op: attributes.op, node: node)
            let geometry = try attributes.sliding.geometry(input: first.shape, window: attributes.window, node: node)
            let expected: TensorShape = [geometry.batch, geometry.outRows, geometry.outCols, geometry.depth]
            guard gradient.shape == first.shape, output.shape == expected else {
                throw .invalidArgument(
                    "Expected grad shape \(first.shape) and orig_output shape \(expected), got \(gradient.shape) and \(output.shape)",
                    node: node
                )
            }
            return (geometry, (first, output, gradient))
        case .averageGradient:
            let gradient = try context.input(1)
            try require4D(gradient, "out_backprop", node: node)
            let sizes = try KernelChecks.indices(first, what: "orig_input_shape", node: node)
            guard first.shape.rank == 1, sizes.count == 4 else {
                throw .invalidArgument("orig_input_shape must be 1-dimensional and 4 elements", node: node)
            }
            guard sizes.allSatisfy({ $0 >= 0 }) else {
                throw .invalidArgument("orig_input_shape must not be negative: \(sizes)", node: node)
            }
            guard sizes[0] == gradient.shape.dimensions[0], sizes[3] == gradient.shape.dimensions[3] else {
                throw .invalidArgument(
                    "orig_input_shape \(sizes) and out_backprop \(gradient.shape) differ in batch or depth",
                    node: node
                )
            }
            let geometry = try attributes.sliding.geometry(
                input: TensorShape(sizes),
                window: attributes.window,
                node: node
            )
            guard gradient.shape.dimensions[1] == geometry.outRows, gradient.shape.dimensions[2] == geometry.outCols
            else {
                throw .invalidArgument(
                    "out_backprop \(gradient.shape) does not match the pooled shape [\(geometry.outRows),\(geometry.outCols)] of \(sizes)",
                    node: node
                )
            }
            return (geometry, (nil, nil, gradient))
        }
    }

    private func require4D(_ tensor: Tensor, _ what: String, node: String) throws(WeftError) {
        guard tensor.shape.rank == 4 else {
            throw .invalidArgument("\(what) must be 4-dimensional", node: node)
        }
    }
}

/// The four pooling loops, one image per parallel iteration.
private struct PoolVisitor: ElementVisitor {
    let kind: PoolKind
    let geometry: WindowGeometry
    let input: Tensor?
    let pooled: Tensor?
    let value: Tensor
    let out: Tensor
    let op: String
    let node: String

    func float<T: FloatElement>(_ type: T.Type) throws(WeftError) {
        switch kind {
        case .max: pooled(T.self) { maximum(from: $0, into: $1, lowest: -T.infinity) }
        case .average: pooled(T.self) { average(from: $0, into: $1, T.self) }
        case .maxGradient: maxGradient(zero: T.zero) { $0 + $1 }
        case .averageGradient: pooled(T.self) { averageGradient(from: $0, into: $1, T.self) }
        case .maxGradGrad: maxGradGrad(zero: T.zero)
        }
    }

    /// Integers have max pooling and its gradients (sums wrap, as in C++), not averages.
    func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) {
        switch kind {
        case .max: pooled(T.self) { maximum(from: $0, into: $1, lowest: T.min) }
        case .maxGradient: maxGradient(zero: T.zero) { $0 &+ $1 }
        case .maxGradGrad: maxGradGrad(zero: T.zero)
        case .average, .averageGradient: throw .unsupported(op: op, dtype: T.dtype, node: node)
        }
    }

    /// Runs `body(source, target)` on `value`'s and the output's elements.
    private func pooled<T: TensorElement>(_ type: T.Type, _ body: (SharedPointer<T>, SharedPointer<T>) -> Void) {
        value.withElements(of: T.self) { x in
            out.withMutableElements(of: T.self) { y in
                guard let x = x.baseAddress, let y = y.baseAddress else { return }
                body(SharedPointer(UnsafeMutablePointer(mutating: x)), SharedPointer(y))
            }
        }
    }

    /// Calls `body(image, outPixel, inPixel)` for every tap inside the input, images in parallel.
    private func forEachTap(_ body: @Sendable (Int, Int, Int) -> Void) {
        let g = geometry
        Parallel.forEach(g.batch, work: Parallel.work(g.outPixels, g.depth, g.windowRows, g.windowCols)) { image in
            for oy in 0..<g.outRows {
                for ox in 0..<g.outCols {
                    let outPixel = (image * g.outRows + oy) * g.outCols + ox
                    for ty in g.rowTaps(oy) {
                        let iy = g.inputRow(oy, tap: ty)
                        for tx in g.colTaps(ox) {
                            let ix = g.inputCol(ox, tap: tx)
                            body(image, outPixel, (image * g.inRows + iy) * g.inCols + ix)
                        }
                    }
                }
            }
        }
    }

    private func maximum<T: TensorElement & Comparable>(from x: SharedPointer<T>, into y: SharedPointer<T>, lowest: T) {
        let depth = geometry.depth
        y.pointer.initialize(repeating: lowest, count: out.elementCount)
        forEachTap { _, outPixel, inPixel in
            let (o, i) = (y.pointer + outPixel * depth, x.pointer + inPixel * depth)
            // A select rather than a branch, so the loop vectorises.
            for c in 0..<depth { o[c] = i[c] > o[c] ? i[c] : o[c] }
        }
    }

    /// Sums the taps inside the input, then divides by how many there were.
    private func average<T: FloatElement>(from x: SharedPointer<T>, into y: SharedPointer<T>, _ type: T.Type) {
        let g = geometry
        y.pointer.initialize(repeating: 0, count: out.elementCount)
        forEachTap { _, outPixel, inPixel in
            let (o, i) = (y.pointer + outPixel * g.depth, x.pointer + inPixel * g.depth)
            for c in 0..<g.depth { o[c] += i[c] }
        }
        for outPixel in 0..<(g.batch * g.outPixels) {
            let scale = 1 / T(tapCount(outPixel % g.outPixels))
            let o = y.pointer + outPixel * g.depth
            for c in 0..<g.depth { o[c] *= scale }
        }
    }

    /// Spreads each window's gradient evenly over its taps inside the input.
    private func averageGradient<T: FloatElement>(from dy: SharedPointer<T>, into dx: SharedPointer<T>, _ type: T.Type)
    {
        let g = geometry
        dx.pointer.initialize(repeating: 0, count: out.elementCount)
        let counts = (0..<g.outPixels).map { T(tapCount($0)) }
        forEachTap { _, outPixel, inPixel in
            let (o, i) = (dy.pointer + outPixel * g.depth, dx.pointer + inPixel * g.depth)
            let count = counts[outPixel % g.outPixels]
            for c in 0..<g.depth { i[c] += o[c] / count }
        }
    }

    /// The number of taps of output pixel `pixel` (within an image) that lie inside the input.
    private func tapCount(_ pixel: Int) -> Int {
        let g = geometry
        let (oy, ox) = (pixel / g.outCols, pixel % g.outCols)
        return g.rowTaps(oy).count * g.colTaps(ox).count
    }

    /// Finds each window's first maximal tap in the forward input and adds (`add`) the
    /// window's gradient there.
    private func maxGradient<T: TensorElement & Comparable>(zero: T, _ add: @escaping @Sendable (T, T) -> T) {
        guard let input else { return }
        let g = geometry
        input.withElements(of: T.self) { x in
            value.withElements(of: T.self) { dy in
                out.withMutableElements(of: T.self) { dx in
                    dx.initialize(repeating: zero)
                    guard let x = x.baseAddress, let dy = dy.baseAddress, let dx = dx.baseAddress else { return }
                    let (source, gradient, target) = (
                        SharedPointer(UnsafeMutablePointer(mutating: x)),
                        SharedPointer(UnsafeMutablePointer(mutating: dy)),
                        SharedPointer(dx)
                    )
                    Parallel.forEach(g.batch, work: Parallel.work(g.outPixels, g.depth, g.windowRows, g.windowCols)) {
                        image in
                        routeMaxima(image: image, x: source.pointer, dy: gradient.pointer, dx: target.pointer, add)
                    }
                }
            }
        }
    }

    private func routeMaxima<T: TensorElement & Comparable>(
        image: Int,
        x: UnsafeMutablePointer<T>,
        dy: UnsafeMutablePointer<T>,
        dx: UnsafeMutablePointer<T>,
        _ add: (T, T) -> T
    ) {
        let g = geometry
        withUnsafeTemporaryAllocation(of: Int.self, capacity: g.depth) { best in
            for oy in 0..<g.outRows {
                for ox in 0..<g.outCols {
                    best.initialize(repeating: -1)
                    for ty in g.rowTaps(oy) {
                        let iy = g.inputRow(oy, tap: ty)
                        for tx in g.colTaps(ox) {
                            let ix = g.inputCol(ox, tap: tx)
                            let offset = ((image * g.inRows + iy) * g.inCols + ix) * g.depth
                            for c in 0..<g.depth where best[c] < 0 || x[offset + c] > x[best[c]] {
                                best[c] = offset + c
                            }
                        }
                    }
                    let outOffset = ((image * g.outRows + oy) * g.outCols + ox) * g.depth
                    for c in 0..<g.depth where best[c] >= 0 { dx[best[c]] = add(dx[best[c]], dy[outOffset + c]) }
                }
            }
        }
    }

    /// For each window and channel, the gradient at the first tap (row-major) whose input
    /// equals the window's `orig_output`; zero when no tap does (NaN never matches).
    private func maxGradGrad<T: TensorElement & Comparable>(zero: T) {
        guard let input, let pooled else { return }
        let g = geometry
        input.withElements(of: T.self) { x in
            pooled.withElements(of: T.self) { y in
                value.withElements(of: T.self) { dx in
                    out.withMutableElements(of: T.self) { dy in
                        guard let x = x.baseAddress, let y = y.baseAddress, let dx = dx.baseAddress,
                            let dy = dy.baseAddress
                        else { return }
                        let (source, maxima, gradient, target) = (
                            SharedPointer(UnsafeMutablePointer(mutating: x)),
                            SharedPointer(UnsafeMutablePointer(mutating: y)),
                            SharedPointer(UnsafeMutablePointer(mutating: dx)),
                            SharedPointer(dy)
                        )
                        let work = Parallel.work(g.outPixels, g.depth, g.windowRows, g.windowCols)
                        Parallel.forEach(g.batch, work: work) { image in
                            readMaxima(
                                image: image,
                                x: source.pointer,
                                y: maxima.pointer,
                                dx: gradient.pointer,
                                dy: target.pointer,
                                zero: zero
                            )
                        }
                    }
                }
            }
        }
    }

    private func readMaxima<T: TensorElement & Comparable>(
        image: Int,
        x: UnsafeMutablePointer<T>,
        y: UnsafeMutablePointer<T>,
        dx: UnsafeMutablePointer<T>,
        dy: UnsafeMutablePointer<T>,
        zero: T
    ) {
        let g = geometry
        withUnsafeTemporaryAllocation(of: Bool.self, capacity: g.depth) { found in
            for oy in 0..<g.outRows {
                for ox in 0..<g.outCols {
                    let outOffset = ((image * g.outRows + oy) * g.outCols + ox) * g.depth
                    found.initialize(repeating: false)
                    for c in 0..<g.depth { dy[outOffset + c] = zero }
                    for ty in g.rowTaps(oy) {
                        let iy = g.inputRow(oy, tap: ty)
                        for tx in g.colTaps(ox) {
                            let offset = ((image * g.inRows + iy) * g.inCols + g.inputCol(ox, tap: tx)) * g.depth
                            for c in 0..<g.depth where !found[c] && x[offset + c] == y[outOffset + c] {
                                found[c] = true
                                dy[outOffset + c] = dx[offset + c]
                            }
                        }
                    }
                }
            }
        }
    }
}
