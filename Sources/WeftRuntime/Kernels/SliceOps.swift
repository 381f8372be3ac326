/// Ops that cut tensors into pieces or reorder them: `Slice`, `StridedSlice`,
/// `StridedSliceGrad`, `Unpack`, `Split`, `SplitV`, `ReverseV2`, `Reverse`, `ReverseSequence`,
/// `Roll`. They move elements as bytes (`IndexedCopy`), so they work on every dtype.
enum SliceOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        OpDefinition.single("Slice", inputs: 3, slice),
        stridedSlice,
        stridedSliceGrad,
        unpack,
        split,
        splitV,
        OpDefinition.single("ReverseV2", inputs: 2, reverse),
        OpDefinition.single("Reverse", inputs: 2, reverseV1),
        reverseSequence,
        OpDefinition.single("Roll", inputs: 3, roll),
    ]

    /// The elements of `x` at `begin[d] + k * step[d]` for `k < count[d]` in every dimension.
    static func gather(
        _ x: Tensor,
        begin: [Int],
        step: [Int],
        count: [Int],
        node: String
    ) throws(WeftError) -> Tensor {
        let dims = x.shape.dimensions
        if begin.allSatisfy({ $0 == 0 }), step.allSatisfy({ $0 == 1 }), count == dims { return x }
        let out = try KernelChecks.allocate(x.dtype, TensorShape(count), node: node)
        IndexedCopy.copy(
            dims: count,
            offsets: IndexedCopy.offsets(dims: dims, begin: begin, step: step, count: count),
            elementSize: x.dtype.byteSize,
            dense: out.buffer.base,
            other: x.buffer.base,
            gather: true
        )
        return out
    }

    // MARK: Slice

    @Sendable private static func slice(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let beginTensor = try context.input(1)
        let sizeTensor = try context.input(2)
        let dims = x.shape.dimensions
        guard beginTensor.shape.rank == 1, sizeTensor.shape.rank == 1,
            beginTensor.elementCount == dims.count, sizeTensor.elementCount == dims.count
        else {
            throw .invalidArgument(
                "Expected begin and size arguments to be 1-D tensors of size \(dims.count), but got shapes \(beginTensor.shape) and \(sizeTensor.shape) instead.",
                node: context.node
            )
        }
        let begin = try KernelChecks.indices(beginTensor, what: "begin", node: context.node)
        var size = try KernelChecks.indices(sizeTensor, what: "size", node: context.node)
        for d in dims.indices {
            let (b, dim) = (begin[d], dims[d])
            if size[d] == -1, b >= 0, b <= dim { size[d] = dim - b }
            let s = size[d]
            if dim == 0 {
                guard b == 0, s == 0 else {
                    throw .invalidArgument(
                        "Expected begin[\(d)] == 0 (got \(b)) and size[\(d)] == 0 (got \(s)) when input.dim_size(\(d)) == 0",
                        node: context.node
                    )
                }
            } else {
                guard b >= 0, b <= dim else {
                    throw .invalidArgument("Expected begin[\(d)] in [0, \(dim)], but got \(b)", node: context.node)
                }
                guard s >= 0, s <= dim - b else {
                    throw .invalidArgument("Expected size[\(d)] in [0, \(dim - b)], but got \(s)", node: context.node)
                }
            }
        }
        return try gather(
            x,
            begin: begin,
            step: Array(repeating: 1, count: dims.count),
            count: size,
            node: context.node
        )
    }

    // MARK: StridedSlice

    private static let stridedSlice = OpDefinition(
        "StridedSlice",
        inputCount: 4,
        outputTypes: OpDefinition.outputOfInput(0),
        makeKernel: { node throws(WeftError) in
            let masks = try StridedSliceSpec.Masks(node)
            return ClosureKernel { context throws(WeftError) in
                let x = try context.input(0)
                let spec = try StridedSliceSpec(
                    shape: x.shape.dimensions,
                    begin: try context.input(1),
                    end: try context.input(2),
                    strides: try context.input(3),
                    masks: masks,
                    node: context.node
                )
                let out = try gather(x, begin: spec.begin, step: spec.step, count: spec.processing, node: context.node)
                return [.tensor(Tensor(dtype: out.dtype, shape: TensorShape(spec.final), buffer: out.buffer))]
            }
        }
    )

    /// `StridedSliceGrad(shape, begin, end, strides, dy)`: a zero tensor of `shape` with `dy`
    /// written where `StridedSlice` with the same arguments would have read.
    private static let stridedSliceGrad = OpDefinition(
        "StridedSliceGrad",
        inputCount: 5,
        outputTypes: OpDefinition.outputOfInput(4),
        makeKernel: { node throws(WeftError) in
            let masks = try StridedSliceSpec.Masks(node)
            return ClosureKernel { context throws(WeftError) in
                let shapeTensor = try context.input(0)
                let dy = try context.input(4)
                try KernelChecks.vector(shapeTensor, what: "shape", node: context.node)
                let shape = try KernelChecks.indices(shapeTensor, what: "shape", node: context.node)
                if let negative = shape.first(where: { $0 < 0 }) {
                    throw .invalidArgument(
                        "shape must not have negative dimensions, got \(negative)",
                        node: context.node
                    )
                }
                let out = try IndexedCopy.zeros(dy.dtype, TensorShape(shape), node: context.node)
                let spec = try StridedSliceSpec(
                    shape: shape,
                    begin: try context.input(1),
                    end: try context.input(2),
                    strides: try context.input(3),
                    masks: masks,
                    node: context.node
                )
                guard dy.shape.dimensions == spec.final else {
                    throw .invalidArgument(
                        "shape of dy was \(dy.shape) instead of \(TensorShape(spec.final))",
                        node: context.node
                    )
                }
                IndexedCopy.copy(
                    dims: spec.processing,
                    offsets: IndexedCopy.offsets(
                        dims: shape,
                        begin: spec.begin,
                        step: spec.step,
                        count: spec.processing
                    ),
                    elementSize: dy.dtype.byteSize,
                    dense: dy.buffer.base,
                    other: out.buffer.base,
                    gather: false
                )
                return [.tensor(out)]
            }
        }
    )

    // MARK: Unpack, Split, SplitV

    /// `num` outputs of the dtype of input `index`.
    private static func repeatedOutput(
        _ key: String,
        input index: Int
    ) -> @Sendable (NodeInfo, [OutputType]) throws(WeftError) -> [OutputType] {
        { node, inputs throws(WeftError) in
            let count = try node.attributes.outputCount(key, minimum: 0)
            let dtype = try node.optionalType("T") ?? (index < inputs.count ? inputs[index].dtype : .float)
            return Array(repeating: OutputType(dtype), count: count)
        }
    }

    /// The pieces of `x` along `axis`, `sizes[k]` wide each, as separate tensors.
    private static func pieces(
        _ x: Tensor,
        axis: Int,
        sizes: [Int],
        dropAxis: Bool,
        node: String
    ) throws(WeftError) -> [Value] {
        let dims = x.shape.dimensions
        var begin = [Int](repeating: 0, count: dims.count)
        let step = [Int](repeating: 1, count: dims.count)
        var values: [Value] = []
        values.reserveCapacity(sizes.count)
        for size in sizes {
            var count = dims
            count[axis] = size
            let piece = try gather(x, begin: begin, step: step, count: count, node: node)
            if dropAxis { count.remove(at: axis) }
            values.append(.tensor(Tensor(dtype: piece.dtype, shape: TensorShape(count), buffer: piece.buffer)))
            begin[axis] += size
        }
        return values
    }

    private static let unpack = OpDefinition(
        "Unpack",
        inputCount: 1,
        outputTypes: repeatedOutput("num", input: 0),
        makeKernel: { node throws(WeftError) in
            let num = try node.attributes.int("num")
            let axis = try node.attributes.int("axis", default: 0)
            return ClosureKernel { context throws(WeftError) in
                let x = try context.input(0)
                let rank = x.shape.rank
                guard axis >= -rank && axis < rank else {
                    throw .invalidArgument("axis = \(axis) not in [\(-rank), \(rank))", node: context.node)
                }
                let normalized = axis < 0 ? axis + rank : axis
                guard x.shape.dimensions[normalized] == num else {
                    throw .invalidArgument(
                        "Input shape axis \(normalized) must equal \(num), got shape \(x.shape)",
                        node: context.node
                    )
                }
                let sizes = Array(repeating: 1, count: num)
                return try pieces(x, axis: normalized, sizes: sizes, dropAxis: true, node: context.node)
            }
        }
    )

    /// `Split(split_dim, value)`: `num_split` equal pieces.
    private static let split = OpDefinition(
        "Split",
        inputCount: 2,
        outputTypes: repeatedOutput("num_split", input: 1),
        makeKernel: { node throws(WeftError) in
            let num = try node.attributes.int("num_split")
            return ClosureKernel { context throws(WeftError) in
                let x = try context.input(1)
                let axis = try splitAxis(try context.input(0), rank: x.shape.rank, node: context.node)
                let size = x.shape.dimensions[axis]
                guard num > 0, size % num == 0 else {
                    throw .invalidArgument(
                        "Number of ways to split should evenly divide the split dimension, but got split_dim \(axis) (size = \(size)) and num_split \(num)",
                        node: context.node
                    )
                }
                return try pieces(
                    x,
                    axis: axis,
                    sizes: Array(repeating: size / num, count: num),
                    dropAxis: false,
                    node: context.node
                )
            }
        }
    )

    /// `SplitV(value, size_splits, split_dim)`: pieces of the listed sizes, one of them `-1`
    /// for whatever remains.
    private static let splitV = OpDefinition(
        "SplitV",
        inputCount: 3,
        outputTypes: repeatedOutput("num_split", input: 0),
        makeKernel: { node throws(WeftError) in
            let num = try node.attributes.int("num_split")
            return ClosureKernel { context throws(WeftError) in
                let x = try context.input(0)
                let sizesTensor = try context.input(1)
                let axis = try splitAxis(try context.input(2), rank: x.shape.rank, node: context.node)
                var sizes = try KernelChecks.indices(sizesTensor, what: "size_splits", node: context.node)
                guard sizesTensor.shape.rank == 1, sizes.count == num else {
                    throw .invalidArgument(
                        "size_splits must be a vector of num_split = \(num) elements, but got shape \(sizesTensor.shape)",
                        node: context.node
                    )
                }
                let dim = x.shape.dimensions[axis]
                try resolveSizes(&sizes, dim: dim, node: context.node)
                return try pieces(x, axis: axis, sizes: sizes, dropAxis: false, node: context.node)
            }
        }
    )

    private static func splitAxis(_ tensor: Tensor, rank: Int, node: String) throws(WeftError) -> Int {
        let axis = try KernelChecks.scalarIndex(tensor, what: "split_dim", node: node)
        guard axis >= -rank && axis < rank else {
            throw .invalidArgument(
                "-input rank(-\(rank)) <= split_dim < input rank (\(rank)), but got \(axis)",
                node: node
            )
        }
        return axis < 0 ? axis + rank : axis
    }

    /// Replaces a `-1` in `sizes` by what the others leave of `dim`, and checks they add up.
    private static func resolveSizes(_ sizes: inout [Int], dim: Int, node: String) throws(WeftError) {
        var unknown: Int?
        var known = 0
        for (index, size) in sizes.enumerated() {
            if size == -1 {
                guard unknown == nil else {
                    throw .invalidArgument("There can only be one -1 in the input.", node: node)
                }
                unknown = index
            } else {
                guard size >= 0, size <= dim - known else {
                    throw .invalidArgument(
                        "Split sizes must be non-negative and add up to at most the size of the split dimension \(dim), got \(sizes)",
                        node: node
                    )
                }
                known += size
            }
        }
        if let unknown {
            sizes[unknown] = dim - known
        } else if known != dim {
            throw .invalidArgument(
                "Determined shape must either match input shape along split_dim exactly if fully specified, or be less than the size of the input along split_dim if not fully specified.  Got: \(known)",
                node: node
            )
        }
    }

    // MARK: ReverseV2

    @Sendable private static func reverse(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let axisTensor = try context.input(1)
        try KernelChecks.vector(axisTensor, what: "'axis'", node: context.node)
        let axes = try KernelChecks.indices(axisTensor, what: "axis", node: context.node)
        let dims = x.shape.dimensions
        var begin = [Int](repeating: 0, count: dims.count)
        var step = [Int](repeating: 1, count: dims.count)
        for (index, axis) in axes.enumerated() {
            guard axis >= -dims.count && axis < dims.count else {
                throw .invalidArgument(
                    "'axis'[\(index)] = \(axis) is out of valid range [0, \(dims.count - 1)",
                    node: context.node
                )
            }
            let d = axis < 0 ? axis + dims.count : axis
            guard step[d] == 1 else {
                throw .invalidArgument("axis \(d) specified more than once.", node: context.node)
            }
            step[d] = -1
            begin[d] = dims[d] - 1
        }
        return try gather(x, begin: begin, step: step, count: dims, node: context.node)
    }
}

extension SliceOps {
    /// `ReverseSequence(input, seq_lengths)`: for each index `b` along `batch_dim`, the first
    /// `seq_lengths[b]` entries along `seq_dim` reversed, the rest unchanged.
    fileprivate static let reverseSequence = OpDefinition(
        "ReverseSequence",
        inputCount: 2,
        outputTypes: OpDefinition.outputOfInput(0),
        makeKernel: { node throws(WeftError) in
            let seqDim = try node.attributes.int("seq_dim")
            let batchDim = try node.attributes.int("batch_dim", default: 0)
            return ClosureKernel { context throws(WeftError) in
                [.tensor(try reverseSequences(context, seqDim: seqDim, batchDim: batchDim))]
            }
        }
    )

    private static func reverseSequences(
        _ context: OpKernelContext,
        seqDim: Int,
        batchDim: Int
    ) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let lengthsTensor = try context.input(1)
        let dims = x.shape.dimensions
        guard batchDim != seqDim else {
            throw .invalidArgument("batch_dim == seq_dim == \(seqDim)", node: context.node)
        }
        guard seqDim >= 0, seqDim < dims.count else {
            throw .invalidArgument("seq_dim must be < input rank ( \(seqDim) vs. \(dims.count))", node: context.node)
        }
        guard batchDim >= 0, batchDim < dims.count else {
            throw .invalidArgument(
                "batch_dim must be < input rank ( \(batchDim) vs. \(dims.count))",
                node: context.node
            )
        }
        guard lengthsTensor.shape.rank == 1 else {
            throw .invalidArgument("seq_lengths must be 1-dim, not \(lengthsTensor.shape.rank)", node: context.node)
        }
        guard lengthsTensor.elementCount == dims[batchDim] else {
            throw .invalidArgument(
                "Length of seq_lengths != input.dims(\(batchDim)), (\(lengthsTensor.elementCount) vs. \(dims[batchDim]))",
                node: context.node
            )
        }
        let lengths = try KernelChecks.indices(lengthsTensor, what: "seq_lengths", node: context.node)
        for (b, length) in lengths.enumerated() {
            guard length >= 0 else { throw .invalidArgument("seq_lens(\(b)) < 0", node: context.node) }
            guard length <= dims[seqDim] else {
                throw .invalidArgument("seq_lens(\(b)) > input.dims(\(seqDim))", node: context.node)
            }
        }
        let out = try KernelChecks.allocate(x.dtype, x.shape, node: context.node)
        out.buffer.base.copyMemory(from: x.buffer.base, byteCount: x.byteCount)
        guard x.elementCount > 0 else { return out }
        // Walk every element; those inside their batch's prefix read their mirror image.
        let size = x.dtype.byteSize
        let seqStride = IndexedCopy.strides(dims)[seqDim]
        var counters = [Int](repeating: 0, count: dims.count)
        for flat in 0..<x.elementCount {
            let position = counters[seqDim]
            let length = lengths[counters[batchDim]]
            if position < length {
                let source = flat + (length - 1 - 2 * position) * seqStride
                IndexedCopy.moveBytes(size, from: x.buffer.base + source * size, to: out.buffer.base + flat * size)
            }
            var d = dims.count - 1
            while d >= 0 {
                counters[d] += 1
                if counters[d] < dims[d] { break }
                counters[d] = 0
                d -= 1
            }
        }
        return out
    }
}

extension SliceOps {
    /// `Reverse(tensor, dims)`: the first version, with one bool per dimension.
    @Sendable fileprivate static func reverseV1(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let flags = try context.input(1)
        try KernelChecks.dtype(flags, input: 1, expected: .bool, op: "Reverse", node: context.node)
        let dims = x.shape.dimensions
        guard flags.shape.rank == 1, flags.elementCount == dims.count else {
            throw .invalidArgument(
                "'dims' must have the same number of values as 'input' has dimensions. 'input' has \(dims.count)'dims' has \(flags.elementCount) values",
                node: context.node
            )
        }
        let reversed = flags.elements(as: Bool.self)
        return try gather(
            x,
            begin: dims.indices.map { reversed[$0] ? dims[$0] - 1 : 0 },
            step: reversed.map { $0 ? -1 : 1 },
            count: dims,
            node: context.node
        )
    }

    /// `Roll(input, shift, axis)`: elements moved `shift[i]` places along `axis[i]`, wrapping
    /// around; shifts of the same axis add up.
    @Sendable fileprivate static func roll(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let shiftTensor = try context.input(1)
        let axisTensor = try context.input(2)
        guard shiftTensor.shape.rank <= 1 else {
            throw .invalidArgument(
                "shift must be a scalar or a 1-D vector. Found: \(shiftTensor.shape)",
                node: context.node
            )
        }
        guard axisTensor.shape.rank <= 1 else {
            throw .invalidArgument(
                "axis must be a scalar or a 1-D vector. Found: \(axisTensor.shape)",
                node: context.node
            )
        }
        let shifts = try KernelChecks.indices(shiftTensor, what: "shift", node: context.node)
        let axes = try KernelChecks.indices(axisTensor, what: "axis", node: context.node)
        guard shifts.count == axes.count else {
            throw .invalidArgument("shift and axis must have the same size", node: context.node)
        }
        let dims = x.shape.dimensions
        var total = [Int](repeating: 0, count: dims.count)
        for (shift, axis) in zip(shifts, axes) {
            guard axis >= -dims.count, axis < dims.count else {
                throw .invalidArgument("axis \(axis) is out of range", node: context.node)
            }
            let d = axis < 0 ? axis + dims.count : axis
            // Reduced modulo the size first, so sums of huge shifts cannot overflow.
            if dims[d] > 0 { total[d] = (total[d] + shift % dims[d]) % dims[d] }
        }
        guard x.elementCount > 0, total.contains(where: { $0 != 0 }) else { return x }
        let out = try KernelChecks.allocate(x.dtype, x.shape, node: context.node)
        let strides = IndexedCopy.strides(dims)
        // Output position k along d reads input position k - shift, wrapped.
        let offsets = dims.indices.map { d in
            (0..<dims[d]).map { k in ((k - total[d]) % dims[d] + dims[d]) % dims[d] * strides[d] }
        }
        IndexedCopy.copy(
            dims: dims,
            offsets: offsets,
            elementSize: x.dtype.byteSize,
            dense: out.buffer.base,
            other: x.buffer.base,
            gather: true
        )
        return out
    }
}

/// A `StridedSlice`'s arguments resolved against an input shape the way TensorFlow does:
/// the sparse spec (with its ellipsis, new axes and shrunk axes) expanded into one begin and
/// stride per input dimension, the sizes those select, and the output's final shape.
struct StridedSliceSpec {
    /// The `*_mask` attributes.
    struct Masks: Sendable {
        var begin = 0, end = 0, ellipsis = 0, newAxis = 0, shrink = 0

        /// Reads the attributes of a `StridedSlice`-like node.
        init(_ node: NodeInfo) throws(WeftError) {
            begin = try node.attributes.int("begin_mask", default: 0)
            end = try node.attributes.int("end_mask", default: 0)
            ellipsis = try node.attributes.int("ellipsis_mask", default: 0)
            newAxis = try node.attributes.int("new_axis_mask", default: 0)
            shrink = try node.attributes.int("shrink_axis_mask", default: 0)
        }
    }

    /// The first input index read in each input dimension.
    var begin: [Int]
    /// The step in each input dimension.
    var step: [Int]
    /// How many indices are read in each input dimension.
    var processing: [Int]
    /// The output's shape: `processing` without shrunk axes, with new axes of size 1.
    var final: [Int]

    private static let newAxis = -1
    private static let shrunk = -2

    @inline(__always) private static func bit(_ mask: Int, _ i: Int) -> Bool { i < 63 && (mask >> i) & 1 == 1 }

    /// Resolves `begin`, `end` and `strides` (equal-length int32 or int64 vectors) for `shape`.
    init(
        shape: [Int],
        begin beginTensor: Tensor,
        end endTensor: Tensor,
        strides stridesTensor: Tensor,
        masks: Masks,
        node: String
    )
        throws(WeftError)
    {
        guard beginTensor.shape.rank == 1, endTensor.shape.rank == 1, stridesTensor.shape.rank == 1,
            endTensor.elementCount == beginTensor.elementCount, stridesTensor.elementCount == beginTensor.elementCount
        else {
            throw .invalidArgument(
                "Expected begin, end, and strides to be 1D equal size tensors, but got shapes \(beginTensor.shape), \(endTensor.shape), and \(stridesTensor.shape) instead.",
                node: node
            )
        }
        var sparseBegin = try KernelChecks.indices(beginTensor, what: "begin", node: node)
        var sparseEnd = try KernelChecks.indices(endTensor, what: "end", node: node)
        var sparseStrides = try KernelChecks.indices(stridesTensor, what: "strides", node: node)
        guard masks.ellipsis.nonzeroBitCount <= 1 else {
            throw .invalidArgument("Multiple ellipses in slice spec not allowed", node: node)
        }
        var ellipsis = masks.ellipsis
        if ellipsis == 0 {
            // No ellipsis: one is implied after the last listed dimension.
            ellipsis = sparseBegin.count < 63 ? 1 << sparseBegin.count : 0
            sparseBegin.append(0)
            sparseEnd.append(0)
            sparseStrides.append(1)
        }
        let sparseCount = sparseBegin.count
        let rank = shape.count
        var addedAfterEllipsis = 0
        if let position = (0..<sparseCount).first(where: { Self.bit(ellipsis, $0) }) {
            addedAfterEllipsis = ((position + 1)..<sparseCount).filter { Self.bit(masks.newAxis, $0) }.count
        }

        // The dense spec: one entry per input dimension.
        var denseBegin = [Int](repeating: 0, count: rank)
        var denseEnd = [Int](repeating: 0, count: rank)
        var denseStrides = [Int](repeating: 0, count: rank)
        var beginMasked = [Bool](repeating: false, count: rank)
        var endMasked = [Bool](repeating: false, count: rank)
        var shrink = [Bool](repeating: false, count: rank)
        var gatherIndices: [Int] = []
        var full = 0
        for i in 0..<sparseCount {
            if Self.bit(ellipsis, i) {
                let next = min(rank - (sparseCount - i) + 1 + addedAfterEllipsis, rank)
                while full < next {
                    denseStrides[full] = 1
                    beginMasked[full] = true
                    endMasked[full] = true
                    gatherIndices.append(full)
                    full += 1
                }
            } else if Self.bit(masks.newAxis, i) {
                gatherIndices.append(Self.newAxis)
            } else {
                guard full < rank else {
                    if rank == 0 { throw .invalidArgument("Attempting to slice scalar input.", node: node) }
                    throw .invalidArgument(
                        "Index out of range using input dim \(full); input has only \(rank) dims",
                        node: node
                    )
                }
                denseBegin[full] = sparseBegin[i]
                denseEnd[full] = sparseEnd[i]
                denseStrides[full] = sparseStrides[i]
                beginMasked[full] = Self.bit(masks.begin, i)
                endMasked[full] = Self.bit(masks.end, i)
                if Self.bit(masks.shrink, i) {
                    shrink[full] = true
                    gatherIndices.append(Self.shrunk)
                } else {
                    gatherIndices.append(full)
                }
                full += 1
            }
        }

        begin = denseBegin
        step = denseStrides
        processing = shape
        for d in 0..<rank {
            let (dim, stride) = (shape[d], denseStrides[d])
            guard stride != 0 else { throw .invalidArgument("strides[\(d)] must be non-zero", node: node) }
            guard !shrink[d] || stride > 0 else {
                throw .invalidArgument("only stride 1 allowed on non-range indexing.", node: node)
            }
            let first: Int
            let last: Int
            if shrink[d] {
                let index = denseBegin[d] < 0 ? denseBegin[d] + dim : denseBegin[d]
                guard index >= 0, index < dim else {
                    throw .invalidArgument("slice index \(denseBegin[d]) of dimension \(d) out of bounds.", node: node)
                }
                (first, last) = (index, index + 1)
            } else {
                // Clamped to [0, dim] going forward, to [-1, dim - 1] going backward.
                let low = stride > 0 ? 0 : -1
                let high = stride > 0 ? dim : dim - 1
                func canonical(_ x: Int, masked: Bool, isEnd: Bool) -> Int {
                    if masked { return (stride > 0) != isEnd ? low : high }
                    let forward = x < 0 ? x &+ dim : x
                    return forward < low ? low : forward > high ? high : forward
                }
                first = canonical(denseBegin[d], masked: beginMasked[d], isEnd: false)
                last = canonical(denseEnd[d], masked: endMasked[d], isEnd: true)
            }
            begin[d] = first
            let interval = last - first
            if interval == 0 || (interval < 0) != (stride < 0) {
                processing[d] = 0
            } else {
                processing[d] = interval / stride + (interval % stride != 0 ? 1 : 0)
            }
        }
        let sizes = processing
        final = gatherIndices.compactMap { index in
            index == Self.newAxis ? 1 : index == Self.shrunk ? nil : sizes[index]
        }
    }
}
