/// Ops that move blocks of spatial positions into the batch or depth dimension and back:
/// `SpaceToBatchND`, `BatchToSpaceND` (as dilated convolutions use them), `SpaceToDepth`,
/// `DepthToSpace` (NHWC). Each is one strided gather (`IndexedCopy`), so every dtype works.
enum SpaceOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        OpDefinition.single("SpaceToBatchND", inputs: 3, spaceToBatch),
        OpDefinition.single("BatchToSpaceND", inputs: 3, batchToSpace),
        depthOp("SpaceToDepth", toDepth: true),
        depthOp("DepthToSpace", toDepth: false),
    ]

    /// `block_shape` (`M` positive values) and the `[M, 2]` paddings or crops (non-negative).
    private static func blocks(
        _ x: Tensor,
        _ blockTensor: Tensor,
        _ pairsTensor: Tensor,
        what: String,
        node: String
    ) throws(WeftError) -> ([Int], [(Int, Int)]) {
        guard blockTensor.shape.rank == 1 else {
            throw .invalidArgument("block_shape must be one-dimensional, got shape \(blockTensor.shape)", node: node)
        }
        let block = try KernelChecks.indices(blockTensor, what: "block_shape", node: node)
        let m = block.count
        guard pairsTensor.shape.dimensions == [m, 2] else {
            throw .invalidArgument("\(what) should have shape [\(m), 2] instead of \(pairsTensor.shape)", node: node)
        }
        guard x.shape.rank >= 1 + m else {
            throw .invalidArgument("input rank should be >= \(1 + m) instead of \(x.shape.rank)", node: node)
        }
        if let bad = block.firstIndex(where: { $0 < 1 }) {
            throw .invalidArgument(
                "All values in block_shape must be positive, got value, \(block[bad]) at index \(bad).",
                node: node
            )
        }
        let values = try KernelChecks.indices(pairsTensor, what: what, node: node)
        let pairs = (0..<m).map { (values[2 * $0], values[2 * $0 + 1]) }
        if let bad = pairs.firstIndex(where: { $0.0 < 0 || $0.1 < 0 }) {
            throw .invalidArgument(
                "All values in \(what) must be non-negative, got \(pairs[bad].0), \(pairs[bad].1) at index \(bad).",
                node: node
            )
        }
        return (block, pairs)
    }

    /// `SpaceToBatchND(input, block_shape, paddings)`: pads the `M` spatial dimensions, then
    /// moves each position's offset within its block into the batch dimension (outermost).
    @Sendable private static func spaceToBatch(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let (block, pads) = try blocks(
            x,
            try context.input(1),
            try context.input(2),
            what: "paddings",
            node: context.node
        )
        let m = block.count
        let dims = x.shape.dimensions
        var padded = dims
        for i in 0..<m {
            let (sum, overflow) = dims[1 + i].addingReportingOverflow(pads[i].0)
            let (total, overflow2) = sum.addingReportingOverflow(pads[i].1)
            guard !overflow, !overflow2, total % block[i] == 0 else {
                throw .invalidArgument(
                    "padded_shape[\(i)]=\(total) is not divisible by block_shape[\(i)]=\(block[i])",
                    node: context.node
                )
            }
            padded[1 + i] = total
        }
        let source = try IndexedCopy.zeros(x.dtype, TensorShape(padded), node: context.node)
        IndexedCopy.copy(
            dims: dims,
            offsets: IndexedCopy.offsets(
                dims: padded,
                begin: [0] + pads.map(\.0) + Array(repeating: 0, count: dims.count - 1 - m),
                step: Array(repeating: 1, count: dims.count),
                count: dims
            ),
            elementSize: x.dtype.byteSize,
            dense: x.buffer.base,
            other: source.buffer.base,
            gather: false
        )
        let blocked = (0..<m).map { padded[1 + $0] / block[$0] }
        let rest = Array(dims[(1 + m)...])
        // An overflowing batch size becomes -1, which allocation refuses.
        let batchOut = product([dims[0]] + block) ?? -1
        let out = try KernelChecks.allocate(x.dtype, TensorShape([batchOut] + blocked + rest), node: context.node)
        // The output read as [block_0 … block_M-1, batch, blocked_0 … blocked_M-1, rest…].
        guard out.elementCount > 0 else { return out }
        let strides = IndexedCopy.strides(padded)
        let view = block + [dims[0]] + blocked + rest
        let offsets =
            (0..<m).map { i in (0..<block[i]).map { $0 * strides[1 + i] } }
            + [(0..<dims[0]).map { $0 * strides[0] }]
            + (0..<m).map { i in (0..<blocked[i]).map { $0 * block[i] * strides[1 + i] } }
            + rest.indices.map { r in (0..<rest[r]).map { $0 * strides[1 + m + r] } }
        IndexedCopy.copy(
            dims: view,
            offsets: offsets,
            elementSize: x.dtype.byteSize,
            dense: out.buffer.base,
            other: source.buffer.base,
            gather: true
        )
        return out
    }

    /// `BatchToSpaceND(input, block_shape, crops)`: the inverse of `SpaceToBatchND`, then crops.
    @Sendable private static func batchToSpace(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let (block, crops) = try blocks(
            x,
            try context.input(1),
            try context.input(2),
            what: "crops",
            node: context.node
        )
        let m = block.count
        let dims = x.shape.dimensions
        let blockCount = product(block) ?? Int.max
        guard dims[0] % blockCount == 0 else {
            throw .invalidArgument(
                "Input batch dimension (\(dims[0])) is not divisible by product of block sizes (\(blockCount))",
                node: context.node
            )
        }
        let batch = dims[0] / blockCount
        let rest = Array(dims[(1 + m)...])
        var full = [batch]
        for i in 0..<m {
            let (size, overflow) = dims[1 + i].multipliedReportingOverflow(by: block[i])
            guard !overflow, crops[i].0 <= size, crops[i].1 <= size - crops[i].0 else {
                throw .invalidArgument(
                    "crops[\(i)] = [\(crops[i].0), \(crops[i].1)] is larger than the uncropped size \(size)",
                    node: context.node
                )
            }
            full.append(size)
        }
        full += rest
        let uncropped = try KernelChecks.allocate(x.dtype, TensorShape(full), node: context.node)
        if uncropped.elementCount > 0 {
            // The input read as [block_0 … block_M-1, batch, spatial_0 … spatial_M-1, rest…].
            let strides = IndexedCopy.strides(full)
            let view = block + [batch] + dims[1...m] + rest
            let offsets =
                (0..<m).map { i in (0..<block[i]).map { $0 * strides[1 + i] } }
                + [(0..<batch).map { $0 * strides[0] }]
                + (0..<m).map { i in (0..<dims[1 + i]).map { $0 * block[i] * strides[1 + i] } }
                + rest.indices.map { r in (0..<rest[r]).map { $0 * strides[1 + m + r] } }
            IndexedCopy.copy(
                dims: view,
                offsets: offsets,
                elementSize: x.dtype.byteSize,
                dense: x.buffer.base,
                other: uncropped.buffer.base,
                gather: false
            )
        }
        let begin = [0] + crops.map(\.0) + Array(repeating: 0, count: rest.count)
        var count = full
        for i in 0..<m { count[1 + i] = full[1 + i] - crops[i].0 - crops[i].1 }
        return try SliceOps.gather(
            uncropped,
            begin: begin,
            step: Array(repeating: 1, count: full.count),
            count: count,
            node: context.node
        )
    }

    /// The product of `values`, or `nil` when it overflows.
    private static func product(_ values: [Int]) -> Int? {
        var result = 1
        for value in values {
            let (next, overflow) = result.multipliedReportingOverflow(by: value)
            if overflow { return nil }
            result = next
        }
        return result
    }

    /// `SpaceToDepth` / `DepthToSpace` on NHWC tensors with `block_size`.
    private static func depthOp(_ name: String, toDepth: Bool) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 1,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let size = try node.attributes.int("block_size")
                let format = try node.attributes.string("data_format", default: "NHWC")
                guard size > 1, size <= Int(Int32.max) else {
                    throw WeftError(
                        .invalidArgument,
                        "node '\(node.name)': Block size should be > 1 (and fit in int32), but was: \(size)"
                    )
                }
                guard format == "NHWC" else {
                    throw WeftError(
                        .invalidArgument,
                        "node '\(node.name)': \(name) supports only data_format NHWC on the CPU, got \(format)"
                    )
                }
                return ClosureKernel { context throws(WeftError) in
                    [.tensor(try depthMove(try context.input(0), block: size, toDepth: toDepth, node: context.node))]
                }
            }
        )
    }

    private static func depthMove(_ x: Tensor, block: Int, toDepth: Bool, node: String) throws(WeftError) -> Tensor {
        let dims = x.shape.dimensions
        guard dims.count == 4 else {
            throw .invalidArgument("Input rank should be: 4 instead of: \(dims.count)", node: node)
        }
        let (batch, height, width, depth) = (dims[0], dims[1], dims[2], dims[3])
        // Strides only of a non-empty input: an empty one may have huge dimensions.
        let strides = x.elementCount > 0 ? IndexedCopy.strides(dims) : [0, 0, 0, 0]
        let outDims: [Int]
        let view: [Int]
        let offsets: [[Int]]
        if toDepth {
            guard height % block == 0, width % block == 0 else {
                throw .invalidArgument(
                    "Image width \(width) and height \(height) should be divisible by block_size: \(block)",
                    node: node
                )
            }
            outDims = [batch, height / block, width / block, product([depth, block, block]) ?? -1]
            // Output read as [batch, row, column, row-in-block, column-in-block, channel].
            view = [batch, height / block, width / block, block, block, depth]
            let steps = [strides[0], block * strides[1], block * strides[2], strides[1], strides[2], 1]
            offsets = zip(view, steps).map { n, step in (0..<n).map { $0 * step } }
        } else {
            guard depth % (block * block) == 0 else {
                throw .invalidArgument(
                    "Input depth dimension \(depth) should be divisible by: \(block * block)",
                    node: node
                )
            }
            let channels = depth / (block * block)
            outDims = [
                batch, product([height, block]) ?? -1, product([width, block]) ?? -1,
                channels,
            ]
            // Output read as [batch, row, row-in-block, column, column-in-block, channel].
            view = [batch, height, block, width, block, channels]
            let steps = [strides[0], strides[1], block * channels, strides[2], channels, 1]
            offsets = zip(view, steps).map { n, step in (0..<n).map { $0 * step } }
        }
        let out = try KernelChecks.allocate(x.dtype, TensorShape(outDims), node: node)
        guard out.elementCount > 0 else { return out }
        IndexedCopy.copy(
            dims: view,
            offsets: offsets,
            elementSize: x.dtype.byteSize,
            dense: out.buffer.base,
            other: x.buffer.base,
            gather: true
        )
        return out
    }
}
