import CBLAS
import Dispatch

/// 2-D convolutions over NHWC tensors: `Conv2D` (with grouped filters), its gradients
/// `Conv2DBackpropInput` and `Conv2DBackpropFilter`, and `DepthwiseConv2dNative` with its two
/// gradients.
///
/// `Conv2D` and its gradients lower to matrix products: the windows of a run of images are
/// unrolled into the rows of one scratch matrix (im2col), multiplied with the filter by one
/// `sgemm`/`dgemm`, and for the input gradient rolled back (col2im). `half` computes in single
/// precision and rounds once; `int32` (`Conv2D` and `Conv2DBackpropInput` only, as on
/// TensorFlow's CPU) runs direct loops. Like TensorFlow's CPU kernels, NCHW is refused, and the
/// gradients accept neither dilations nor groups.
enum ConvOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        convolution("Conv2D") { attributes in ConvKernel(attributes: attributes, pass: .forward) },
        convolution("Conv2DBackpropInput") { attributes in ConvKernel(attributes: attributes, pass: .inputGradient) },
        convolution("Conv2DBackpropFilter") { attributes in ConvKernel(attributes: attributes, pass: .filterGradient) },
        convolution("DepthwiseConv2dNative") { DepthwiseKernel(attributes: $0, pass: .forward) },
        convolution("DepthwiseConv2dNativeBackpropInput") { DepthwiseKernel(attributes: $0, pass: .inputGradient) },
        convolution("DepthwiseConv2dNativeBackpropFilter") { DepthwiseKernel(attributes: $0, pass: .filterGradient) },
    ]

    private static func convolution(
        _ name: String,
        _ make: @escaping @Sendable (ConvAttributes) -> any OpKernel
    ) -> OpDefinition {
        let isForward = name == "Conv2D" || name == "DepthwiseConv2dNative"
        return OpDefinition(
            name,
            inputCount: isForward ? 2 : 3,
            // The input gradient's first input is the input's shape; its type is the filter's.
            outputTypes: OpDefinition.outputOfInput(name.hasSuffix("BackpropInput") ? 1 : 0),
            makeKernel: { node throws(WeftError) in make(try ConvAttributes(node, op: name)) }
        )
    }
}

/// A convolution node's attributes.
struct ConvAttributes: Sendable {
    /// The op name, for messages.
    let op: String
    /// Strides, dilations and padding.
    let window: WindowAttributes
    /// The declared element type.
    let declared: DType?

    init(_ node: NodeInfo, op: String) throws(WeftError) {
        let format = try node.attributes.string("data_format", default: "NHWC")
        guard format == "NHWC" else {
            throw WeftError(
                .unimplemented,
                "The \(op) op currently only supports the NHWC tensor format on the CPU. The op was given the format: \(format) (node '\(node.name)')"
            )
        }
        self.op = op
        window = try WindowAttributes(node, dilated: true)
        declared = try node.optionalType("T")
    }

    /// Checks that the two tensor operands have one dtype, the declared one.
    func checkTypes(_ a: Tensor, _ b: Tensor, node: String) throws(WeftError) {
        try KernelChecks.dtype(a, input: 0, expected: declared, op: op, node: node)
        try KernelChecks.sameDType(a, b, op: op, node: node)
    }

    /// Checks that a tensor is 4-D.
    func require4D(_ tensor: Tensor, _ what: String, node: String) throws(WeftError) {
        guard tensor.shape.rank == 4 else {
            throw .invalidArgument("\(what) must be 4-dimensional\(tensor.shape)", node: node)
        }
    }

    /// The shape in a gradient op's `input_sizes` / `filter_sizes` input: 4 values, or for
    /// `input_sizes` the 2 spatial ones (batch and depth then come from `other`).
    func sizes(
        _ tensor: Tensor,
        what: String,
        batchAndDepth: (Int, Int)?,
        node: String
    ) throws(WeftError) -> TensorShape {
        let values = try KernelChecks.indices(tensor, what: what, node: node)
        guard values.allSatisfy({ $0 >= 0 }) else {
            throw .invalidArgument("\(op): \(what) must not be negative: \(values)", node: node)
        }
        if values.count == 2, tensor.shape.rank == 1, let (batch, depth) = batchAndDepth {
            return TensorShape([batch, values[0], values[1], depth])
        }
        guard tensor.shape.rank == 1, values.count == 4 else {
            throw .invalidArgument(
                "\(op): \(what) input must be 1-dim with 4 elements, got \(tensor.shape)",
                node: node
            )
        }
        return TensorShape(values)
    }

    /// Checks that `outBackprop` has the shape the forward convolution of `geometry` gives.
    func checkOutBackprop(
        _ outBackprop: Tensor,
        _ geometry: WindowGeometry,
        outDepth: Int,
        node: String
    ) throws(WeftError) {
        let dims = outBackprop.shape.dimensions
        guard dims[0] == geometry.batch else {
            throw .invalidArgument("\(op): input and out_backprop must have the same batch size", node: node)
        }
        for (axis, computed) in [(1, geometry.outRows), (2, geometry.outCols)] where dims[axis] != computed {
            throw .invalidArgument(
                "\(op): Size of out_backprop doesn't match computed: actual = \(dims[axis]), computed = \(computed) spatial_dim: \(axis)",
                node: node
            )
        }
        guard dims[3] == outDepth else {
            throw .invalidArgument("\(op): filter and out_backprop must have the same out_depth", node: node)
        }
    }

    /// The gradients of TensorFlow's CPU kernels take no dilations.
    func requireUndilated(node: String) throws(WeftError) {
        guard window.dilations == (1, 1) else {
            throw .invalidArgument(
                "\(op): the CPU implementation does not support dilations other than 1; got \(window.dilations)",
                node: node
            )
        }
    }
}

/// Which of a convolution's three computations a kernel does.
enum ConvPass: Sendable {
    /// `output = conv(input, filter)`.
    case forward
    /// The gradient with respect to the input, from the filter and the output's gradient.
    case inputGradient
    /// The gradient with respect to the filter, from the input and the output's gradient.
    case filterGradient

    /// The shape of what this pass computes.
    func resultShape(input: TensorShape, filter: TensorShape, output: TensorShape) -> TensorShape {
        switch self {
        case .forward: output
        case .inputGradient: input
        case .filterGradient: filter
        }
    }
}

/// A convolution pass's inputs, checked for rank and dtype: the two tensors it computes with,
/// the shapes of the input and filter (a gradient pass reads one from its `*_sizes` input), and
/// the output's gradient for a gradient pass.
struct ConvOperands {
    var tensors: (Tensor, Tensor)
    var input: TensorShape
    var filter: TensorShape
    var outBackprop: Tensor?

    init(_ context: OpKernelContext, _ pass: ConvPass, _ attributes: ConvAttributes) throws(WeftError) {
        let node = context.node
        let a = try context.input(0)
        let b = try context.input(1)
        guard pass != .forward else {
            try attributes.require4D(a, "input", node: node)
            try attributes.require4D(b, "filter", node: node)
            try attributes.checkTypes(a, b, node: node)
            (tensors, input, filter) = ((a, b), a.shape, b.shape)
            return
        }
        let gradient = try context.input(2)
        outBackprop = gradient
        try attributes.require4D(gradient, "out_backprop", node: node)
        if pass == .inputGradient {
            try attributes.require4D(b, "filter", node: node)
            try attributes.checkTypes(b, gradient, node: node)
            let batchAndDepth = (gradient.shape.dimensions[0], b.shape.dimensions[2])
            input = try attributes.sizes(a, what: "input_sizes", batchAndDepth: batchAndDepth, node: node)
            (tensors, filter) = ((b, gradient), b.shape)
        } else {
            try attributes.require4D(a, "input", node: node)
            try attributes.checkTypes(a, gradient, node: node)
            filter = try attributes.sizes(b, what: "filter_sizes", batchAndDepth: nil, node: node)
            (tensors, input) = ((a, gradient), a.shape)
        }
    }
}

/// `Conv2D`, `Conv2DBackpropInput` or `Conv2DBackpropFilter`.
struct ConvKernel: OpKernel {
    let attributes: ConvAttributes
    let pass: ConvPass

    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        let node = context.node
        let (problem, operands, outShape) = try prepare(context)
        let (first, second) = operands
        let out = try KernelChecks.allocate(first.dtype, outShape, node: node)
        try first.dtype.visit(
            ConvVisitor(
                problem: problem,
                pass: pass,
                first: first,
                second: second,
                out: out,
                op: attributes.op,
                node: node
            )
        )
        return [.tensor(out)]
    }

    /// Checks the inputs; returns the problem, the two tensor operands and the result's shape.
    private func prepare(
        _ context: OpKernelContext
    ) throws(WeftError) -> (ConvProblem, (Tensor, Tensor), TensorShape) {
        let node = context.node
        let operands = try ConvOperands(context, pass, attributes)
        if pass != .forward { try attributes.requireUndilated(node: node) }
        if pass == .filterGradient, operands.filter.dimensions[2] != operands.input.dimensions[3] {
            throw .invalidArgument(
                "\(attributes.op): input depth \(operands.input.dimensions[3]) and filter depth \(operands.filter.dimensions[2]) differ",
                node: node
            )
        }
        let problem = try ConvProblem(input: operands.input, filter: operands.filter, attributes: attributes, node: node)
        if let gradient = operands.outBackprop {
            try problem.checkGradientShapes(outBackprop: gradient, attributes: attributes, node: node)
        }
        let shape = pass.resultShape(input: problem.inputShape, filter: problem.filterShape, output: problem.outputShape)
        return (problem, operands.tensors, shape)
    }
}

/// The sizes of one convolution: an NHWC input, an HWIO filter of `groups` groups, the output.
struct ConvProblem: Sendable {
    var geometry: WindowGeometry
    /// Input channels each filter sees.
    var groupInDepth: Int
    /// Output channels.
    var outDepth: Int
    /// Filter groups: the input's depth over the filter's input depth.
    var groups: Int

    init(input: TensorShape, filter: TensorShape, attributes: ConvAttributes, node: String) throws(WeftError) {
        let (inDepth, filterDepth, outDepth) = (input.dimensions[3], filter.dimensions[2], filter.dimensions[3])
        guard filterDepth > 0, inDepth % filterDepth == 0 else {
            throw .invalidArgument(
                "input depth must be evenly divisible by filter depth: \(inDepth) vs \(filterDepth)",
                node: node
            )
        }
        let groups = inDepth / filterDepth
        guard groups > 0, outDepth % groups == 0 else {
            throw .invalidArgument(
                "output depth must be evenly divisible by number of groups: \(outDepth) vs \(groups)",
                node: node
            )
        }
        geometry = try attributes.window.geometry(
            input: input,
            window: (filter.dimensions[0], filter.dimensions[1]),
            node: node
        )
        groupInDepth = filterDepth
        self.outDepth = outDepth
        self.groups = groups
    }

    /// The gradients' extra rules: no groups, and an `out_backprop` of the forward output's shape.
    func checkGradientShapes(outBackprop: Tensor, attributes: ConvAttributes, node: String) throws(WeftError) {
        guard groups == 1 else {
            throw .invalidArgument(
                "\(attributes.op): input depth \(geometry.depth) and filter depth \(groupInDepth) differ; grouped convolutions have no CPU gradient",
                node: node
            )
        }
        try attributes.checkOutBackprop(outBackprop, geometry, outDepth: outDepth, node: node)
    }

    var inputShape: TensorShape { [geometry.batch, geometry.inRows, geometry.inCols, geometry.depth] }
    var filterShape: TensorShape { [geometry.windowRows, geometry.windowCols, groupInDepth, outDepth] }
    var outputShape: TensorShape { [geometry.batch, geometry.outRows, geometry.outCols, outDepth] }
    /// Columns of one group's unrolled window matrix.
    var patchSize: Int { geometry.windowRows * geometry.windowCols * groupInDepth }
    /// Output channels per group.
    var groupOutDepth: Int { outDepth / groups }

    /// Whether the windows are single pixels that tile the input exactly, so the input is its
    /// own unrolled matrix.
    var isPointwise: Bool {
        let g = geometry
        return g.windowRows == 1 && g.windowCols == 1 && g.strideRows == 1 && g.strideCols == 1
            && g.padTop == 0 && g.padLeft == 0 && g.outRows == g.inRows && g.outCols == g.inCols && groups == 1
    }
}

/// Dispatches a convolution to single or double precision; `half` runs in single precision.
private struct ConvVisitor: ElementVisitor {
    let problem: ConvProblem
    let pass: ConvPass
    let first: Tensor
    let second: Tensor
    let out: Tensor
    let op: String
    let node: String

    func float<T: FloatElement>(_ type: T.Type) throws(WeftError) {
        switch T.self {
        case is Float.Type: try run(Float.self, first, second, out)
        case is Double.Type: try run(Double.self, first, second, out)
        default:
            let single = try KernelChecks.allocate(.float, out.shape, node: node)
            try run(Float.self, try CastOp.cast(first, to: .float), try CastOp.cast(second, to: .float), single)
            let rounded = try CastOp.cast(single, to: out.dtype)
            out.buffer.base.copyMemory(from: rounded.buffer.base, byteCount: out.byteCount)
        }
    }

    /// `int32`, as TensorFlow's CPU registers it: the forward pass and the input gradient.
    func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) {
        guard T.self == Int32.self, pass != .filterGradient else {
            throw .unsupported(op: op, dtype: T.dtype, node: node)
        }
        let direct = IntegerConvolution<T>(problem: problem)
        first.withElements(of: T.self) { a in
            second.withElements(of: T.self) { b in
                out.withMutableElements(of: T.self) { c in
                    guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress else {
                        c.initialize(repeating: 0)
                        return
                    }
                    if pass == .forward {
                        direct.forward(input: a, filter: b, output: c)
                    } else {
                        direct.inputGradient(filter: a, outBackprop: b, input: c)
                    }
                }
            }
        }
    }

    private func run<T: BLASElement>(_ type: T.Type, _ a: Tensor, _ b: Tensor, _ result: Tensor) throws(WeftError) {
        let lowering = try Im2Col<T>(problem: problem, node: node)
        a.withElements(of: T.self) { a in
            b.withElements(of: T.self) { b in
                result.withMutableElements(of: T.self) { c in
                    guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress else {
                        // Some operand is empty: the result (if it has elements) is all zeros.
                        c.initialize(repeating: 0)
                        return
                    }
                    switch pass {
                    case .forward: lowering.forward(input: a, filter: b, output: c)
                    case .inputGradient: lowering.inputGradient(filter: a, outBackprop: b, input: c)
                    case .filterGradient: lowering.filterGradient(input: a, outBackprop: b, filter: c)
                    }
                }
            }
        }
    }
}

/// A convolution lowered to matrix products over unrolled windows, for runs of images at a
/// time so each product is large, within a bounded scratch matrix.
private struct Im2Col<T: BLASElement>: @unchecked Sendable {
    // Sendable: the scratch matrix is owned by this value for one kernel call; the parallel
    // unrolling writes disjoint rows of it.
    let problem: ConvProblem
    /// Images per run.
    let imagesPerRun: Int
    /// The unrolled windows of one run: `imagesPerRun · outPixels` rows of `patchSize`.
    let scratch: Tensor

    /// Scratch matrices are kept to about this many elements, unless one image needs more.
    static var scratchBudget: Int { 1 << 23 }

    init(problem: ConvProblem, node: String) throws(WeftError) {
        self.problem = problem
        let perImage = problem.geometry.outPixels.multipliedReportingOverflow(by: problem.patchSize)
        let rows = perImage.overflow ? Int.max : perImage.partialValue
        imagesPerRun = max(1, min(problem.geometry.batch, Self.scratchBudget / max(rows, 1)))
        let g = problem.geometry
        // BLAS takes 32-bit sizes.
        for size in [g.batch * g.inPixels, g.batch * g.outPixels, problem.patchSize, problem.outDepth, g.depth]
        where size > Int(Int32.max) {
            throw WeftError(.unimplemented, "convolution sizes above 2^31 are not supported (node '\(node)')")
        }
        let needsScratch = !problem.isPointwise && problem.geometry.batch > 0
        scratch = try KernelChecks.allocate(
            T.dtype,
            needsScratch ? [imagesPerRun * problem.geometry.outPixels, problem.patchSize] : [0],
            node: node
        )
    }

    private var runs: StrideTo<Int> { stride(from: 0, to: problem.geometry.batch, by: imagesPerRun) }

    /// `output[run] = unrolled(input[run]) · filter`, per group.
    func forward(input: UnsafePointer<T>, filter: UnsafePointer<T>, output: UnsafeMutablePointer<T>) {
        let (g, p) = (problem.geometry, problem)
        if p.isPointwise {
            BLASGemm.multiply(
                m: g.batch * g.inPixels,
                n: p.outDepth,
                k: g.depth,
                a: input,
                lda: g.depth,
                b: filter,
                ldb: p.outDepth,
                into: output,
                ldc: p.outDepth
            )
            return
        }
        withScratch { col in
            for first in runs {
                let images = min(imagesPerRun, g.batch - first)
                for group in 0..<p.groups {
                    unroll(input, images: first..<first + images, group: group, into: col)
                    BLASGemm.multiply(
                        m: images * g.outPixels,
                        n: p.groupOutDepth,
                        k: p.patchSize,
                        a: col,
                        lda: p.patchSize,
                        b: filter + group * p.groupOutDepth,
                        ldb: p.outDepth,
                        into: output + first * g.outPixels * p.outDepth + group * p.groupOutDepth,
                        ldc: p.outDepth
                    )
                }
            }
        }
    }

    /// `input = roll(outBackprop · filterᵀ)`: every window's share of the gradient, added back
    /// onto the pixels it read.
    func inputGradient(filter: UnsafePointer<T>, outBackprop: UnsafePointer<T>, input: UnsafeMutablePointer<T>) {
        let (g, p) = (problem.geometry, problem)
        if p.isPointwise {
            BLASGemm.multiply(
                m: g.batch * g.inPixels,
                n: g.depth,
                k: p.outDepth,
                a: outBackprop,
                lda: p.outDepth,
                b: filter,
                ldb: p.outDepth,
                transposeB: true,
                into: input,
                ldc: g.depth
            )
            return
        }
        input.initialize(repeating: 0, count: g.batch * g.inPixels * g.depth)
        withScratch { col in
            for first in runs {
                let images = min(imagesPerRun, g.batch - first)
                BLASGemm.multiply(
                    m: images * g.outPixels,
                    n: p.patchSize,
                    k: p.outDepth,
                    a: outBackprop + first * g.outPixels * p.outDepth,
                    lda: p.outDepth,
                    b: filter,
                    ldb: p.outDepth,
                    transposeB: true,
                    into: col,
                    ldc: p.patchSize
                )
                roll(col, images: first..<first + images, into: input)
            }
        }
    }

    /// `filter = Σ over runs unrolled(input[run])ᵀ · outBackprop[run]`.
    func filterGradient(input: UnsafePointer<T>, outBackprop: UnsafePointer<T>, filter: UnsafeMutablePointer<T>) {
        let (g, p) = (problem.geometry, problem)
        filter.initialize(repeating: 0, count: p.patchSize * p.outDepth)
        if p.isPointwise {
            BLASGemm.multiply(
                m: g.depth,
                n: p.outDepth,
                k: g.batch * g.inPixels,
                a: input,
                lda: g.depth,
                transposeA: true,
                b: outBackprop,
                ldb: p.outDepth,
                into: filter,
                ldc: p.outDepth
            )
            return
        }
        withScratch { col in
            for first in runs {
                let images = min(imagesPerRun, g.batch - first)
                unroll(input, images: first..<first + images, group: 0, into: col)
                BLASGemm.multiply(
                    m: p.patchSize,
                    n: p.outDepth,
                    k: images * g.outPixels,
                    a: col,
                    lda: p.patchSize,
                    transposeA: true,
                    b: outBackprop + first * g.outPixels * p.outDepth,
                    ldb: p.outDepth,
                    accumulate: true,
                    into: filter,
                    ldc: p.outDepth
                )
            }
        }
    }

    private func withScratch(_ body: (UnsafeMutablePointer<T>) -> Void) {
        scratch.withMutableElements(of: T.self) { col in
            guard let col = col.baseAddress else { return }
            body(col)
        }
    }

    /// Writes the windows of `images` (group `group`'s channels) as rows of `col`, images in
    /// parallel; taps in the padding are zeros.
    private func unroll(_ input: UnsafePointer<T>, images: Range<Int>, group: Int, into col: UnsafeMutablePointer<T>) {
        let (g, p) = (problem.geometry, problem)
        let channels = p.groupInDepth
        let (source, target) = (SharedPointer(UnsafeMutablePointer(mutating: input)), SharedPointer(col))
        Parallel.forEach(images.count, work: g.outPixels * p.patchSize) { index in
            let image = images.lowerBound + index
            let base = source.pointer + image * g.inPixels * g.depth + group * channels
            var row = target.pointer + index * g.outPixels * p.patchSize
            for oy in 0..<g.outRows {
                for ox in 0..<g.outCols {
                    for ty in 0..<g.windowRows {
                        let iy = g.inputRow(oy, tap: ty)
                        for tx in 0..<g.windowCols {
                            let ix = g.inputCol(ox, tap: tx)
                            if iy >= 0 && iy < g.inRows && ix >= 0 && ix < g.inCols {
                                row.update(from: base + (iy * g.inCols + ix) * g.depth, count: channels)
                            } else {
                                row.update(repeating: 0, count: channels)
                            }
                            row += channels
                        }
                    }
                }
            }
        }
    }

    /// Adds the rows of `col` (windows of `images`) back onto the pixels they came from; images
    /// in parallel, since their pixels are disjoint.
    private func roll(_ col: UnsafeMutablePointer<T>, images: Range<Int>, into input: UnsafeMutablePointer<T>) {
        let g = problem.geometry
        let patch = problem.patchSize
        let (source, target) = (SharedPointer(col), SharedPointer(input))
        Parallel.forEach(images.count, work: g.outPixels * patch) { index in
            let image = images.lowerBound + index
            let base = target.pointer + image * g.inPixels * g.depth
            var row = UnsafePointer(source.pointer + index * g.outPixels * patch)
            for oy in 0..<g.outRows {
                for ox in 0..<g.outCols {
                    for ty in 0..<g.windowRows {
                        let iy = g.inputRow(oy, tap: ty)
                        for tx in 0..<g.windowCols {
                            let ix = g.inputCol(ox, tap: tx)
                            if iy >= 0 && iy < g.inRows && ix >= 0 && ix < g.inCols {
                                let pixel = base + (iy * g.inCols + ix) * g.depth
                                for c in 0..<g.depth { pixel[c] += row[c] }
                            }
                            row += g.depth
                        }
                    }
                }
            }
        }
    }
}

/// A pointer shared by the iterations of a parallel loop, each touching its own part.
struct SharedPointer<Element>: @unchecked Sendable {
    // Sendable: `Parallel.forEach` returns only when every iteration is done, and iterations
    // write disjoint elements.
    let pointer: UnsafeMutablePointer<Element>
    init(_ pointer: UnsafeMutablePointer<Element>) { self.pointer = pointer }
}

/// Runs independent iterations on Dispatch's pool when there is enough work to share.
enum Parallel {
    /// Elements of work below which iterations run on the calling thread.
    static let minimumWork = 1 << 15

    /// The product of `factors`, or `Int.max` when it overflows: an estimate of work to share.
    static func work(_ factors: Int...) -> Int {
        var product = 1
        for factor in factors {
            let (next, overflow) = product.multipliedReportingOverflow(by: factor)
            if overflow { return Int.max }
            product = next
        }
        return product
    }

    /// Calls `body(i)` for `i` in `0..<count`, concurrently when `count · work` is large.
    static func forEach(_ count: Int, work: Int, _ body: @Sendable (Int) -> Void) {
        let (total, overflow) = count.multipliedReportingOverflow(by: work)
        guard count > 1, overflow || total >= minimumWork else {
            for index in 0..<count { body(index) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}

/// A floating-point type OpenBLAS multiplies: `Float` (`sgemm`) and `Double` (`dgemm`).
protocol BLASElement: FloatElement {
    /// The BLAS routine for this type.
    static var gemm: Gemm.Routine<Self> { get }
}

extension Float: BLASElement {
    static var gemm: Gemm.Routine<Float> { cblas_sgemm }
}

extension Double: BLASElement {
    static var gemm: Gemm.Routine<Double> { cblas_dgemm }
}

/// Matrix products on row-major operands with leading dimensions, so they can read and write
/// column slices (a filter group's output channels). Large products are split into blocks of
/// rows of `C` on Dispatch's pool, as `Gemm` does, with OpenBLAS itself single-threaded.
enum BLASGemm {
    private static let singleThreadedBLAS: Void = openblas_set_num_threads(1)

    /// `C = op(A) · op(B)` (or `C += …` when `accumulate`), `C` being `m × n`. The callers
    /// have checked that every size fits in 32 bits.
    static func multiply<T: BLASElement>(
        m: Int,
        n: Int,
        k: Int,
        a: UnsafePointer<T>,
        lda: Int,
        transposeA: Bool = false,
        b: UnsafePointer<T>,
        ldb: Int,
        transposeB: Bool = false,
        accumulate: Bool = false,
        into c: UnsafeMutablePointer<T>,
        ldc: Int
    ) {
        _ = singleThreadedBLAS
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            if !accumulate { for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) } }
            return
        }
        let (mn, overflow) = m.multipliedReportingOverflow(by: n)
        let large = overflow || mn >= Gemm.parallelWork / k
        let blocks = large ? max(1, min(Gemm.parallelism, m / Gemm.minimumBlockRows)) : 1
        let (a, b, c) = (
            SharedPointer(UnsafeMutablePointer(mutating: a)), SharedPointer(UnsafeMutablePointer(mutating: b)),
            SharedPointer(c)
        )
        let body: @Sendable (Int) -> Void = { block in
            let rows = m * block / blocks..<m * (block + 1) / blocks
            T.gemm(
                CblasRowMajor,
                transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                Int32(rows.count),
                Int32(n),
                Int32(k),
                1,
                a.pointer + (transposeA ? rows.lowerBound : rows.lowerBound * lda),
                Int32(lda),
                b.pointer,
                Int32(ldb),
                accumulate ? 1 : 0,
                c.pointer + rows.lowerBound * ldc,
                Int32(ldc)
            )
        }
        if blocks == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: blocks, execute: body) }
    }
}
