/// Ops that read or write tensor slices at positions given by index tensors: `GatherV2`,
/// `Gather`, `GatherNd`, `ScatterNd`, `TensorScatterUpdate` (`Add`, `Sub`, `Max`, `Min`),
/// `UnsortedSegmentSum` (`Prod`, `Max`, `Min`), `DynamicStitch`, `ParallelDynamicStitch`,
/// `DynamicPartition`, `SparseToDense`.
///
/// The gathers, `DynamicStitch`, `DynamicPartition`, `SparseToDense` and `TensorScatterUpdate`
/// move whole slices as bytes and work on every dtype; the ops that combine values (`ScatterNd`,
/// the segment and other `TensorScatter` reductions) are numeric. Every index is checked before
/// anything is read, and a bad one is `invalidArgument` naming where it was.
enum GatherOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        gatherV2,
        gatherV1,
        single("GatherNd", inputs: 2, outputTypes: OpDefinition.outputOfInput(0)) { node throws(WeftError) in
            let ignoreBadIndices = try badIndicesPolicy(node)
            return { context throws(WeftError) in try gatherNd(context, ignoreBadIndices: ignoreBadIndices) }
        },
        single("ScatterNd", inputs: 3, outputTypes: OpDefinition.outputOfInput(1)) { node throws(WeftError) in
            let ignoreBadIndices = try badIndicesPolicy(node)
            return { context throws(WeftError) in try scatterNd(context, ignoreBadIndices: ignoreBadIndices) }
        },
        unsortedSegment("UnsortedSegmentSum", .sum),
        unsortedSegment("UnsortedSegmentProd", .product),
        unsortedSegment("UnsortedSegmentMax", .maximum),
        unsortedSegment("UnsortedSegmentMin", .minimum),
        dynamicStitch("DynamicStitch"),
        // The parallel form differs only in leaving the winner among repeated indices
        // unspecified; the sequential rule (last wins) is one of its valid answers.
        dynamicStitch("ParallelDynamicStitch"),
        OpDefinition(
            "SparseToDense",
            inputCount: 4,
            outputTypes: OpDefinition.outputOfInput(2),
            makeKernel: { node throws(WeftError) in
                let validate = try node.attributes.bool("validate_indices", default: true)
                return ClosureKernel { context throws(WeftError) in
                    [.tensor(try sparseToDense(context, validate: validate))]
                }
            }
        ),
        dynamicPartition,
        tensorScatter("TensorScatterUpdate", nil),
        tensorScatter("TensorScatterAdd", .sum),
        tensorScatter("TensorScatterSub", .difference),
        tensorScatter("TensorScatterMax", .maximum),
        tensorScatter("TensorScatterMin", .minimum),
    ]

    /// An op with one output, whose kernel is the closure `make` returns for the node.
    private static func single(
        _ name: String,
        inputs: Int,
        outputTypes: @escaping @Sendable (NodeInfo, [OutputType]) throws(WeftError) -> [OutputType],
        _ make:
            @escaping @Sendable (NodeInfo) throws(WeftError) -> @Sendable (OpKernelContext) throws(WeftError) -> Tensor
    ) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: inputs,
            outputTypes: outputTypes,
            makeKernel: { node throws(WeftError) in
                let body = try make(node)
                return ClosureKernel { context throws(WeftError) in [.tensor(try body(context))] }
            }
        )
    }

    /// `bad_indices_policy`: whether out-of-range indices are skipped (`IGNORE`) rather than
    /// refused (empty, `DEFAULT` or `ERROR`).
    private static func badIndicesPolicy(_ node: NodeInfo) throws(WeftError) -> Bool {
        let policy = try node.attributes.string("bad_indices_policy", default: "")
        switch policy {
        case "", "DEFAULT", "ERROR": return false
        case "IGNORE": return true
        default:
            throw WeftError(.invalidArgument, "node '\(node.name)': unknown bad_indices_policy '\(policy)'")
        }
    }

    /// `[1,0]`-style position of flat element `flat` of a tensor of `shape`, for messages.
    static func position(_ flat: Int, in shape: [Int]) -> String {
        var rest = flat
        var parts = [Int](repeating: 0, count: shape.count)
        for d in shape.indices.reversed() where shape[d] > 0 {
            parts[d] = rest % shape[d]
            rest /= shape[d]
        }
        return parts.map(String.init).joined(separator: ",")
    }

    // MARK: GatherV2 / Gather

    private static let gatherV2 = OpDefinition(
        "GatherV2",
        inputCount: 3,
        outputTypes: { node, inputs throws(WeftError) in
            [OutputType(try node.optionalType("Tparams") ?? inputs.first?.dtype ?? .float)]
        },
        makeKernel: { node throws(WeftError) in
            let batchDims = try node.attributes.int("batch_dims", default: 0)
            return ClosureKernel { context throws(WeftError) in
                let axis = try KernelChecks.scalarIndex(try context.input(2), what: "axis", node: context.node)
                return [
                    .tensor(
                        try gather(
                            try context.input(0),
                            try context.input(1),
                            axis: axis,
                            batchDims: batchDims,
                            node: context.node
                        )
                    )
                ]
            }
        }
    )

    /// `Gather`: the first version, always along axis 0 (`validate_indices` is ignored, as in
    /// TensorFlow: indices are always checked).
    private static let gatherV1 = OpDefinition(
        "Gather",
        inputCount: 2,
        outputTypes: { node, inputs throws(WeftError) in
            [OutputType(try node.optionalType("Tparams") ?? inputs.first?.dtype ?? .float)]
        },
        makeKernel: { _ in
            ClosureKernel { context throws(WeftError) in
                [
                    .tensor(
                        try gather(
                            try context.input(0),
                            try context.input(1),
                            axis: 0,
                            batchDims: 0,
                            node: context.node
                        )
                    )
                ]
            }
        }
    )

    /// `params` sliced at `indices` along `axis`, the first `batchDims` dimensions of both
    /// being batch dimensions that are matched, not gathered.
    static func gather(
        _ params: Tensor,
        _ indicesTensor: Tensor,
        axis axisValue: Int,
        batchDims batchValue: Int,
        node: String
    )
        throws(WeftError) -> Tensor
    {
        let dims = params.shape.dimensions
        let indexDims = indicesTensor.shape.dimensions
        let rank = dims.count
        guard axisValue >= -rank && axisValue < rank else {
            throw .invalidArgument("Expected axis in the range [\(-rank), \(rank)), but got \(axisValue)", node: node)
        }
        let axis = axisValue < 0 ? axisValue + rank : axisValue
        let batchDims = batchValue < 0 ? batchValue + indexDims.count : batchValue
        guard batchDims >= 0, batchDims <= indexDims.count else {
            throw .invalidArgument(
                "batch_dims (\(batchValue)) must be in [\(-indexDims.count), \(indexDims.count)] (the rank of indices)",
                node: node
            )
        }
        guard batchDims <= axis else {
            throw .invalidArgument(
                "batch_dims (\(batchDims)) must be less than or equal to axis (\(axis)).",
                node: node
            )
        }
        for d in 0..<batchDims where dims[d] != indexDims[d] {
            throw .invalidArgument(
                "params.shape[\(d)]: \(dims[d]) should be equal to indices.shape[\(d)]: \(indexDims[d])",
                node: node
            )
        }
        let indices = try KernelChecks.integers(indicesTensor, what: "indices", node: node)
        let limit = dims[axis]
        if let bad = indices.firstIndex(where: { $0 < 0 || $0 >= limit }) {
            throw .invalidArgument(
                "indices[\(position(bad, in: indexDims))] = \(indices[bad]) is not in [0, \(limit))",
                node: node
            )
        }
        let outDims = Array(dims[..<axis]) + indexDims[batchDims...] + dims[(axis + 1)...]
        let out = try KernelChecks.allocate(params.dtype, TensorShape(outDims), node: node)
        // An empty tensor may have huge dimensions beside its zero one: no products of those.
        guard out.elementCount > 0 else { return out }
        let batches = dims[..<batchDims].reduce(1, *)
        let outer = dims[batchDims..<axis].reduce(1, *)
        let perBatch = indexDims[batchDims...].reduce(1, *)
        let sliceBytes = dims[(axis + 1)...].reduce(1, *) * params.dtype.byteSize
        var target = out.buffer.base
        let source = UnsafeRawPointer(params.buffer.base)
        for batch in 0..<batches {
            let batchIndices = batch * perBatch
            for row in 0..<outer {
                let rowStart = source + (batch * outer + row) * limit * sliceBytes
                for i in 0..<perBatch {
                    IndexedCopy.moveBytes(
                        sliceBytes,
                        from: rowStart + indices[batchIndices + i] * sliceBytes,
                        to: target
                    )
                    target += sliceBytes
                }
            }
        }
        return out
    }

    // MARK: GatherNd / ScatterNd

    /// The flat slice numbers `indices` (innermost dimension: a position in the first
    /// `depth` dimensions of `shape`) point at; `nil` for a bad index when `ignoreBad`.
    private static func slicePositions(
        _ indicesTensor: Tensor,
        shape: [Int],
        ignoreBad: Bool,
        describe: (_ row: String, _ index: [Int]) -> String,
        node: String
    ) throws(WeftError) -> [Int?] {
        let indices = try KernelChecks.integers(indicesTensor, what: "indices", node: node)
        let indexDims = indicesTensor.shape.dimensions
        let depth = indexDims.last ?? 0
        let rows = indexDims.dropLast().reduce(1, *)
        var positions = [Int?](repeating: 0, count: rows)
        for row in 0..<rows {
            var flat = 0
            for d in 0..<depth {
                let index = indices[row * depth + d]
                guard index >= 0, index < shape[d] else {
                    if ignoreBad {
                        positions[row] = nil
                        break
                    }
                    let tuple = Array(indices[(row * depth)..<((row + 1) * depth)])
                    throw .invalidArgument(describe(position(row, in: Array(indexDims.dropLast())), tuple), node: node)
                }
                flat = flat * shape[d] + index
            }
            if positions[row] != nil { positions[row] = flat }
        }
        return positions
    }

    private static func gatherNd(_ context: OpKernelContext, ignoreBadIndices: Bool) throws(WeftError) -> Tensor {
        let params = try context.input(0)
        let indices = try context.input(1)
        let dims = params.shape.dimensions
        let indexDims = indices.shape.dimensions
        guard !indexDims.isEmpty else {
            throw .invalidArgument("indices must be at least a vector", node: context.node)
        }
        let depth = indexDims[indexDims.count - 1]
        guard depth <= dims.count else {
            throw .invalidArgument(
                "index innermost dimension length must be <= params rank; saw: \(depth) vs. \(dims.count)",
                node: context.node
            )
        }
        if depth == 0, params.elementCount == 0, indices.elementCount > 0 {
            throw .invalidArgument("Requested more than 0 entries, but params is empty.", node: context.node)
        }
        let positions = try slicePositions(
            indices,
            shape: dims,
            ignoreBad: ignoreBadIndices,
            describe: { row, tuple in
                "indices[\(row)] = [\(tuple.map(String.init).joined(separator: ", "))] does not index into param shape \(params.shape)"
            },
            node: context.node
        )
        let outDims = Array(indexDims.dropLast()) + dims[depth...]
        let out = try IndexedCopy.zeros(params.dtype, TensorShape(outDims), node: context.node)
        guard out.elementCount > 0 else { return out }
        let sliceBytes = dims[depth...].reduce(1, *) * params.dtype.byteSize
        for (row, position) in positions.enumerated() {
            guard let position, sliceBytes > 0 else { continue }
            IndexedCopy.moveBytes(
                sliceBytes,
                from: params.buffer.base + position * sliceBytes,
                to: out.buffer.base + row * sliceBytes
            )
        }
        return out
    }

    private static func scatterNd(_ context: OpKernelContext, ignoreBadIndices: Bool) throws(WeftError) -> Tensor {
        let indices = try context.input(0)
        let updates = try context.input(1)
        let shapeTensor = try context.input(2)
        try KernelChecks.vector(shapeTensor, what: "shape", node: context.node)
        let shape = try KernelChecks.indices(shapeTensor, what: "shape", node: context.node)
        if let negative = shape.first(where: { $0 < 0 }) {
            throw .invalidArgument(
                "shape must not have negative dimensions, got \(negative) in \(shape)",
                node: context.node
            )
        }
        let indexDims = indices.shape.dimensions
        guard !indexDims.isEmpty else {
            throw .invalidArgument(
                "Indices shape must have rank at least one. Found:\(indices.shape)",
                node: context.node
            )
        }
        guard updates.shape.rank >= 1 else {
            throw .invalidArgument(
                "Updates shape must have rank at least one. Found:\(updates.shape)",
                node: context.node
            )
        }
        let depth = indexDims[indexDims.count - 1]
        let expected = Array(indexDims.dropLast()) + (depth <= shape.count ? Array(shape[depth...]) : [])
        guard depth <= shape.count, updates.shape.dimensions == expected else {
            throw .invalidArgument(
                "Dimensions of indices \(indices.shape) and updates \(updates.shape) do not fit output shape \(TensorShape(shape)): updates must have shape indices.shape[:-1] + shape[indices.shape[-1]:]",
                node: context.node
            )
        }
        let out = try IndexedCopy.zeros(updates.dtype, TensorShape(shape), node: context.node)
        if out.elementCount == 0, updates.elementCount > 0 {
            throw .invalidArgument("Indices and updates specified for empty output shape", node: context.node)
        }
        // An empty output may have huge dimensions beside its zero one: nothing to compute.
        guard out.elementCount > 0 else { return out }
        let positions = try slicePositions(
            indices,
            shape: shape,
            ignoreBad: ignoreBadIndices,
            describe: { row, tuple in
                "indices[\(row)] = [\(tuple.map(String.init).joined(separator: ", "))] does not index into shape \(TensorShape(shape))"
            },
            node: context.node
        )
        let slice = shape[depth...].reduce(1, *)
        try updates.dtype.visit(
            ScatterCombine(
                out: out,
                updates: updates,
                positions: positions,
                slice: slice,
                reduction: .sum,
                op: "ScatterNd",
                node: context.node
            )
        )
        return out
    }

    /// How the slices landing on one output slice combine.
    enum Reduction: Sendable {
        /// Added, starting from 0.
        case sum
        /// Multiplied, starting from 1.
        case product
        /// The largest, starting from the lowest finite value (as TensorFlow, not -inf).
        case maximum
        /// The smallest, starting from the highest finite value.
        case minimum
        /// The existing value minus the update (`TensorScatterSub`).
        case difference
    }

    /// Combines slice `i` of `updates` (`slice` elements long) into slice `positions[i]` of
    /// `out` (a zero tensor), skipping `nil` positions.
    private struct ScatterCombine: ElementVisitor {
        let out: Tensor
        let updates: Tensor
        let positions: [Int?]
        let slice: Int
        let reduction: Reduction
        /// Whether `out` is a fresh zero tensor to be set to the reduction's identity first.
        var fresh = true
        let op: String
        let node: String

        // NaN handling follows TensorFlow's CPU kernels: a NaN replaces the running maximum,
        // and any later number replaces the NaN.
        func float<T: FloatElement>(_ type: T.Type) throws(WeftError) {
            switch reduction {
            case .sum: run(T.self, initial: nil) { $0 + $1 }
            case .product: run(T.self, initial: 1) { $0 * $1 }
            case .maximum: run(T.self, initial: -T.greatestFiniteMagnitude) { $0 > $1 ? $0 : $1 }
            case .minimum: run(T.self, initial: T.greatestFiniteMagnitude) { $0 < $1 ? $0 : $1 }
            case .difference: run(T.self, initial: nil) { $0 - $1 }
            }
        }

        /// Integers wrap on overflow, as TensorFlow's do.
        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) {
            switch reduction {
            case .sum: run(T.self, initial: nil) { $0 &+ $1 }
            case .product: run(T.self, initial: 1) { $0 &* $1 }
            case .maximum: run(T.self, initial: T.min) { Swift.max($0, $1) }
            case .minimum: run(T.self, initial: T.max) { Swift.min($0, $1) }
            case .difference: run(T.self, initial: nil) { $0 &- $1 }
            }
        }

        /// Only `ScatterNd` has a boolean kernel in TensorFlow: duplicates combine with OR.
        func bool() throws(WeftError) {
            guard reduction == .sum, op == "ScatterNd" else { throw .unsupported(op: op, dtype: .bool, node: node) }
            run(Bool.self, initial: nil) { $0 || $1 }
        }

        private func run<T: TensorElement>(_ type: T.Type, initial: T?, _ combine: (T, T) -> T) {
            out.withMutableElements(of: T.self) { target in
                if fresh, let initial { target.update(repeating: initial) }
                updates.withElements(of: T.self) { source in
                    for (row, position) in positions.enumerated() {
                        guard let position else { continue }
                        let (to, from) = (position * slice, row * slice)
                        for k in 0..<slice { target[to + k] = combine(target[to + k], source[from + k]) }
                    }
                }
            }
        }
    }

    // MARK: TensorScatterUpdate, Add, Sub, Max, Min

    /// A copy of `tensor` with the slices `indices` point at replaced by (`nil`) or combined
    /// with the slices of `updates`.
    private static func tensorScatter(_ name: String, _ reduction: Reduction?) -> OpDefinition {
        single(name, inputs: 3, outputTypes: OpDefinition.outputOfInput(0)) { node throws(WeftError) in
            let ignoreBadIndices = try badIndicesPolicy(node)
            return { context throws(WeftError) in
                let tensor = try context.input(0)
                let indices = try context.input(1)
                let updates = try context.input(2)
                try KernelChecks.dtype(updates, input: 2, expected: tensor.dtype, op: name, node: context.node)
                let shape = tensor.shape.dimensions
                let indexDims = indices.shape.dimensions
                guard let depth = indexDims.last, depth <= shape.count else {
                    throw .invalidArgument(
                        "indices must have rank at least one and an innermost dimension of at most the rank of tensor \(tensor.shape), got \(indices.shape)",
                        node: context.node
                    )
                }
                guard updates.shape.dimensions == Array(indexDims.dropLast()) + shape[depth...] else {
                    throw .invalidArgument(
                        "updates must have shape indices.shape[:-1] + tensor.shape[indices.shape[-1]:] = \(TensorShape(Array(indexDims.dropLast()) + shape[depth...])), got \(updates.shape)",
                        node: context.node
                    )
                }
                let positions = try slicePositions(
                    indices,
                    shape: shape,
                    ignoreBad: ignoreBadIndices,
                    describe: { row, tuple in
                        "indices[\(row)] = [\(tuple.map(String.init).joined(separator: ", "))] does not index into shape \(tensor.shape)"
                    },
                    node: context.node
                )
                let out = try KernelChecks.allocate(tensor.dtype, tensor.shape, node: context.node)
                out.buffer.base.copyMemory(from: tensor.buffer.base, byteCount: tensor.byteCount)
                guard out.elementCount > 0 else { return out }
                let slice = shape[depth...].reduce(1, *)
                guard let reduction else {
                    let bytes = slice * tensor.dtype.byteSize
                    for (row, position) in positions.enumerated() {
                        guard let position, bytes > 0 else { continue }
                        IndexedCopy.moveBytes(
                            bytes,
                            from: updates.buffer.base + row * bytes,
                            to: out.buffer.base + position * bytes
                        )
                    }
                    return out
                }
                var combine = ScatterCombine(
                    out: out,
                    updates: updates,
                    positions: positions,
                    slice: slice,
                    reduction: reduction,
                    op: name,
                    node: context.node
                )
                combine.fresh = false
                try tensor.dtype.visit(combine)
                return out
            }
        }
    }

    // MARK: DynamicPartition

    /// `DynamicPartition(data, partitions)`: `num_partitions` outputs, output `p` holding the
    /// slices of `data` whose partition is `p`, in order (as sharded embedding lookups use it).
    private static let dynamicPartition = OpDefinition(
        "DynamicPartition",
        inputCount: 2,
        outputTypes: { node, inputs throws(WeftError) in
            let count = try node.attributes.outputCount("num_partitions", minimum: 1)
            return Array(
                repeating: OutputType(try node.optionalType("T") ?? inputs.first?.dtype ?? .float),
                count: count
            )
        },
        makeKernel: { node throws(WeftError) in
            let count = try node.attributes.int("num_partitions")
            return ClosureKernel { context throws(WeftError) in try partition(context, count: count) }
        }
    )

    private static func partition(_ context: OpKernelContext, count: Int) throws(WeftError) -> [Value] {
        let data = try context.input(0)
        let partitionsTensor = try context.input(1)
        let dims = data.shape.dimensions
        let prefix = partitionsTensor.shape.dimensions
        guard prefix.count <= dims.count, Array(dims[..<prefix.count]) == prefix else {
            throw .invalidArgument(
                "data.shape must start with partitions.shape, got data.shape = \(data.shape), partitions.shape = \(partitionsTensor.shape)",
                node: context.node
            )
        }
        guard partitionsTensor.dtype == .int32 else {
            throw .invalidArgument(
                "partitions must be an int32 tensor, got \(partitionsTensor.dtype)",
                node: context.node
            )
        }
        let partitions = try KernelChecks.indices(partitionsTensor, what: "partitions", node: context.node)
        var sizes = [Int](repeating: 0, count: count)
        for (i, p) in partitions.enumerated() {
            guard p >= 0, p < count else {
                throw .invalidArgument(
                    "partitions[\(position(i, in: prefix))] = \(p) is not in [0, \(count))",
                    node: context.node
                )
            }
            sizes[p] += 1
        }
        let slice = Array(dims[prefix.count...])
        let outputs = try sizes.map { (size) throws(WeftError) in
            try KernelChecks.allocate(data.dtype, TensorShape([size] + slice), node: context.node)
        }
        let sliceBytes = partitions.isEmpty ? 0 : data.byteCount / partitions.count
        if sliceBytes > 0 {
            var filled = [Int](repeating: 0, count: count)
            for (i, p) in partitions.enumerated() {
                IndexedCopy.moveBytes(
                    sliceBytes,
                    from: data.buffer.base + i * sliceBytes,
                    to: outputs[p].buffer.base + filled[p] * sliceBytes
                )
                filled[p] += 1
            }
        }
        return outputs.map { .tensor($0) }
    }

    // MARK: SparseToDense

    /// `SparseToDense(indices, output_shape, values, default_value)`: a tensor of
    /// `default_value` with `values` at the listed positions. With `validate_indices` the
    /// positions must be in bounds, sorted and distinct; without it only in bounds (the last of
    /// repeated positions wins).
    private static func sparseToDense(_ context: OpKernelContext, validate: Bool) throws(WeftError) -> Tensor {
        let indicesTensor = try context.input(0)
        let shapeTensor = try context.input(1)
        let values = try context.input(2)
        let fill = try context.input(3)
        guard indicesTensor.shape.rank <= 2 else {
            throw .invalidArgument(
                "sparse_indices should be a scalar, vector, or matrix, got shape \(indicesTensor.shape)",
                node: context.node
            )
        }
        try KernelChecks.vector(shapeTensor, what: "output_shape", node: context.node)
        let shape = try KernelChecks.indices(shapeTensor, what: "output_shape", node: context.node)
        let count = indicesTensor.shape.rank == 0 ? 1 : indicesTensor.shape.dimensions[0]
        let depth = indicesTensor.shape.rank == 2 ? indicesTensor.shape.dimensions[1] : 1
        guard depth == shape.count else {
            throw .invalidArgument(
                "output_shape has incorrect number of elements: \(shape.count) should be: \(depth)",
                node: context.node
            )
        }
        guard values.shape.rank == 0 || (values.shape.rank == 1 && values.elementCount == count) else {
            throw .invalidArgument(
                "sparse_values has incorrect shape \(values.shape), should be [] or [\(count)]",
                node: context.node
            )
        }
        guard fill.shape.rank == 0 else {
            throw .invalidArgument("default_value should be a scalar, got shape \(fill.shape)", node: context.node)
        }
        try KernelChecks.dtype(fill, input: 3, expected: values.dtype, op: "SparseToDense", node: context.node)
        if let negative = shape.first(where: { $0 < 0 }) {
            throw .invalidArgument(
                "output_shape must not have negative dimensions, got \(negative)",
                node: context.node
            )
        }
        let indices = try KernelChecks.integers(indicesTensor, what: "sparse_indices", node: context.node)
        var positions = [Int](repeating: 0, count: count)
        for row in 0..<count {
            let index = indices[(row * depth)..<((row + 1) * depth)]
            var flat = 0
            for (d, i) in index.enumerated() {
                guard i >= 0, i < shape[d] else {
                    let text = "[\(index.map(String.init).joined(separator: ","))]"
                    throw .invalidArgument(
                        validate
                            ? "indices[\(row)] = \(text) is out of bounds: need 0 <= index < \(TensorShape(shape))"
                            : "Indices are not valid (out of bounds).  Shape: \(TensorShape(shape))",
                        node: context.node
                    )
                }
                flat = flat * shape[d] + i
            }
            // Row-major flat positions order indices the way TensorFlow's lexicographic check does.
            if validate, row > 0, flat <= positions[row - 1] {
                let text = "[\(index.map(String.init).joined(separator: ","))]"
                throw .invalidArgument(
                    "indices[\(row)] = \(text) is \(flat == positions[row - 1] ? "repeated" : "out of order. Many sparse ops require sorted indices.")",
                    node: context.node
                )
            }
            positions[row] = flat
        }
        let out = try IndexedCopy.filled(TensorShape(shape), with: fill, node: context.node)
        let size = values.dtype.byteSize
        let step = values.shape.rank == 0 ? 0 : size
        for (row, position) in positions.enumerated() {
            IndexedCopy.moveBytes(size, from: values.buffer.base + row * step, to: out.buffer.base + position * size)
        }
        return out
    }

    // MARK: UnsortedSegmentSum, Prod, Max, Min

    /// `data` rows combined into `num_segments` rows by `segment_ids`; negative ids drop their row.
    private static func unsortedSegment(_ name: String, _ reduction: Reduction) -> OpDefinition {
        single(name, inputs: 3, outputTypes: OpDefinition.outputOfInput(0)) { _ in
            { context throws(WeftError) in try unsortedSegment(context, reduction, op: name) }
        }
    }

    private static func unsortedSegment(
        _ context: OpKernelContext,
        _ reduction: Reduction,
        op: String
    ) throws(WeftError) -> Tensor {
        let data = try context.input(0)
        let idsTensor = try context.input(1)
        let countTensor = try context.input(2)
        guard countTensor.shape.rank == 0 else {
            throw .invalidArgument(
                "num_segments should be a scalar, not shape \(countTensor.shape)",
                node: context.node
            )
        }
        let segments = try KernelChecks.scalarIndex(countTensor, what: "num_segments", node: context.node)
        guard segments >= 0 else {
            throw .invalidArgument("Input num_segments == \(segments) must not be negative.", node: context.node)
        }
        let dims = data.shape.dimensions
        let idDims = idsTensor.shape.dimensions
        guard idDims.count <= dims.count, Array(dims[..<idDims.count]) == idDims else {
            throw .invalidArgument(
                "data.shape = \(data.shape) does not start with segment_ids.shape = \(idsTensor.shape)",
                node: context.node
            )
        }
        let ids = try KernelChecks.integers(idsTensor, what: "segment_ids", node: context.node)
        if let bad = ids.firstIndex(where: { $0 >= segments }) {
            throw .invalidArgument(
                "segment_ids[\(position(bad, in: idDims))] = \(ids[bad]) is out of range [0, \(segments))",
                node: context.node
            )
        }
        let sliceDims = Array(dims[idDims.count...])
        let out = try IndexedCopy.zeros(data.dtype, TensorShape([segments] + sliceDims), node: context.node)
        guard out.elementCount > 0 else { return out }
        // Negative ids drop their row, as TensorFlow's CPU kernel does.
        let positions = ids.map { $0 < 0 ? nil : $0 }
        try data.dtype.visit(
            ScatterCombine(
                out: out,
                updates: data,
                positions: positions,
                slice: sliceDims.reduce(1, *),
                reduction: reduction,
                op: op,
                node: context.node
            )
        )
        return out
    }

    // MARK: DynamicStitch

    /// `DynamicStitch(indices..., data...)`: `merged[indices[m][i]] = data[m][i]`, later
    /// inputs winning where indices repeat; the output has `max(index) + 1` rows.
    private static func dynamicStitch(_ name: String) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: nil,
            outputTypes: { node, inputs throws(WeftError) in
                let half = inputs.count / 2
                return [OutputType(try node.optionalType("T") ?? (half < inputs.count ? inputs[half].dtype : .float))]
            },
            makeKernel: { node throws(WeftError) in
                let count = try node.attributes.int("N", default: node.dataInputs.count / 2)
                guard count >= 1, node.dataInputs.count == 2 * count else {
                    throw WeftError(
                        .invalidArgument,
                        "node '\(node.name)' (DynamicStitch) has attribute N=\(count) but \(node.dataInputs.count) inputs; it needs N >= 1 index and N data inputs"
                    )
                }
                return ClosureKernel { context throws(WeftError) in [.tensor(try stitch(context, count: count))] }
            }
        )
    }

    private static func stitch(_ context: OpKernelContext, count: Int) throws(WeftError) -> Tensor {
        let indexTensors = try (0..<count).map { (m) throws(WeftError) in try context.input(m) }
        let data = try (0..<count).map { (m) throws(WeftError) in try context.input(count + m) }
        let sliceDims = Array(data[0].shape.dimensions.dropFirst(indexTensors[0].shape.rank))
        var indices: [[Int]] = []
        var rows = 0
        for m in 0..<count {
            let indexDims = indexTensors[m].shape.dimensions
            let dataDims = data[m].shape.dimensions
            try KernelChecks.dtype(
                data[m],
                input: count + m,
                expected: data[0].dtype,
                op: "DynamicStitch",
                node: context.node
            )
            guard dataDims.count >= indexDims.count, Array(dataDims[..<indexDims.count]) == indexDims else {
                throw .invalidArgument(
                    "data[\(m)].shape = \(data[m].shape) does not start with indices[\(m)].shape = \(indexTensors[m].shape)",
                    node: context.node
                )
            }
            guard Array(dataDims[indexDims.count...]) == sliceDims else {
                throw .invalidArgument(
                    "Need data[0].shape[\(indexTensors[0].shape.rank):] = \(TensorShape(sliceDims)) to match data[\(m)].shape[\(indexDims.count):] = \(TensorShape(Array(dataDims[indexDims.count...])))",
                    node: context.node
                )
            }
            let values = try KernelChecks.indices(indexTensors[m], what: "indices", node: context.node)
            if let negative = values.firstIndex(where: { $0 < 0 }) {
                throw .invalidArgument(
                    "indices[\(m)][\(position(negative, in: indexDims))] = \(values[negative]) is out of range",
                    node: context.node
                )
            }
            if let top = values.max() {
                guard top < Int.max else {
                    throw WeftError(
                        .resourceExhausted,
                        "OOM when allocating DynamicStitch output of \(top) + 1 rows (node '\(context.node)')"
                    )
                }
                rows = max(rows, top + 1)
            }
            indices.append(values)
        }
        let out = try IndexedCopy.zeros(data[0].dtype, TensorShape([rows] + sliceDims), node: context.node)
        guard out.elementCount > 0 else { return out }
        let sliceBytes = sliceDims.reduce(1, *) * data[0].dtype.byteSize
        for (values, source) in zip(indices, data) {
            for (i, row) in values.enumerated() {
                IndexedCopy.moveBytes(
                    sliceBytes,
                    from: source.buffer.base + i * sliceBytes,
                    to: out.buffer.base + row * sliceBytes
                )
            }
        }
        return out
    }
}
