import WeftRuntime

// Gradients of gathers (array_grad.py, resource_variable_ops.py): an embedding lookup touches a
// few rows of a large table, so its gradient is `IndexedSlices` over those rows, not a dense
// tensor of the table's shape.

extension GradientRegistry {
    func registerGatherGradients() {
        register("Gather") { context throws(WeftError) in
            let params = try context.input(0)
            return [.sparse(try context.rowSlices(shape: OpBuilder.shape(params))), nil]
        }
        register("ResourceGather") { context throws(WeftError) in
            // The gradient goes to the variable's handle, shaped like the variable.
            let handle = try context.input(0)
            return [.sparse(try context.rowSlices(shape: OpBuilder.variableShape(handle))), nil]
        }
        register("GatherV2") { context throws(WeftError) in try context.gatherV2Gradients() }
        register("ScatterNd") { context throws(WeftError) in
            [nil, .dense(try context.gatherNd(try context.gradient(), at: try context.input(0))), nil]
        }
        for op in ["TensorScatterAdd", "TensorScatterSub", "TensorScatterUpdate"] {
            register(op) { context throws(WeftError) in
                let indices = try context.input(1)
                let gradient = try context.gradient()
                let picked = try context.gatherNd(gradient, at: indices)
                switch op {
                case "TensorScatterAdd": return [.dense(gradient), nil, .dense(picked)]
                case "TensorScatterSub": return [.dense(gradient), nil, .dense(negate(picked))]
                default:
                    // Updated elements were overwritten: they pass nothing back to the tensor.
                    let cleared = OpBuilder.node(
                        "TensorScatterUpdate",
                        [gradient, indices, OpBuilder.zerosLike(try context.input(2))],
                        ["T": .type(gradient.dtype), "Tindices": .type(indices.dtype)]
                    )
                    return [.dense(cleared.output()), nil, .dense(picked)]
                }
            }
        }
        for op in ["SegmentMax", "SegmentMin"] {
            register(op) { context throws(WeftError) in [.dense(try context.segmentExtremeGradient(sorted: true)), nil]
            }
        }
        for op in ["UnsortedSegmentMax", "UnsortedSegmentMin"] {
            register(op) { context throws(WeftError) in
                [.dense(try context.segmentExtremeGradient(sorted: false)), nil, nil]
            }
        }
        register("UnsortedSegmentSum") { context throws(WeftError) in
            [.dense(try context.segmentSumGradient()), nil, nil]
        }
    }
}

extension GradientContext {
    /// A gather along axis 0 of a tensor of shape `shape`: the output gradient as rows, one per
    /// index, of the gathered tensor.
    func rowSlices(shape: Output) throws(WeftError) -> IndexedSlices {
        let indices = try input(1)
        let count = OpBuilder.expandDims(OpBuilder.size(indices), axis: 0)
        let rowShape = OpBuilder.stridedSlice(shape, begin: [1], end: [0], endMask: 1)
        let values = OpBuilder.reshape(try gradient(), OpBuilder.concat([count, rowShape], axis: 0))
        return IndexedSlices(values: values, indices: OpBuilder.reshape(indices, count), denseShape: shape)
    }

    /// `GatherV2`: slices along axis 0; along another axis, the gradient moved so that axis comes
    /// first, summed per index with `UnsortedSegmentSum`, and moved back.
    func gatherV2Gradients() throws(WeftError) -> [Gradient?] {
        let params = try input(0)
        let indices = try input(1)
        let batchDims = try attributes.int("batch_dims", default: 0)
        guard batchDims == 0 else {
            throw WeftError(
                .unimplemented,
                "the gradient of GatherV2 with batch_dims \(batchDims) (node '\(operation.name)') is not implemented; "
                    + "only batch_dims 0 is"
            )
        }
        let shape = OpBuilder.shape(params)
        if let axis = try constantAxis(), axis == 0 {
            return [.sparse(try rowSlices(shape: shape)), nil, nil]
        }
        let graph = params.graph
        let axis = cast(try input(2), to: .int32)
        let zero = OpBuilder.constant(Int32(0), in: graph)
        let one = OpBuilder.constant(Int32(1), in: graph)
        let positiveAxis = OpBuilder.binary("FloorMod", axis, OpBuilder.rank(params))
        let outerShape = OpBuilder.slice(
            shape,
            begin: OpBuilder.reshape(zero, [1]),
            size: OpBuilder.reshape(positiveAxis, [1])
        )
        let innerShape = OpBuilder.slice(
            shape,
            begin: OpBuilder.reshape(positiveAxis + one, [1]),
            size: OpBuilder.constant([Int32(-1)], in: graph)
        )
        let valuesShape = OpBuilder.concat(
            [outerShape, OpBuilder.constant([Int32(-1)], in: graph), innerShape],
            axis: 0
        )
        let values = OpBuilder.reshape(try gradient(), valuesShape)
        let valueRank = OpBuilder.size(valuesShape)
        let outerRank = OpBuilder.size(outerShape)
        // Move the gathered axis first, sum per index, and move it back to `axis`.
        let outer = OpBuilder.range(zero, outerRank, one)
        let inner = OpBuilder.range(outerRank + one, valueRank, one)
        let toFront = OpBuilder.concat([OpBuilder.reshape(outerRank, [1]), outer, inner], axis: 0)
        let summed = OpBuilder.unsortedSegmentSum(
            OpBuilder.transpose(values, toFront),
            ids: OpBuilder.reshape(indices, [-1]),
            count: OpBuilder.gather(shape, positiveAxis, axis: zero)
        )
        let back = OpBuilder.concat([outer + one, OpBuilder.reshape(zero, [1]), inner], axis: 0)
        return [.dense(OpBuilder.transpose(summed, back)), nil, nil]
    }

    /// `GatherNd` of `params` at `indices`.
    func gatherNd(_ params: Output, at indices: Output) throws(WeftError) -> Output {
        OpBuilder.node(
            "GatherNd",
            [params, indices],
            ["Tparams": .type(params.dtype), "Tindices": .type(indices.dtype)]
        )
        .output()
    }

    /// The value of input 2 (the axis) when it is a constant, as TensorFlow's `constant_value`.
    private func constantAxis() throws(WeftError) -> Int? {
        let axis = try input(2)
        guard axis.operation.type == "Const" else { return nil }
        let tensor = try NodeAttributes(axis.operation.nodeDef.attr, node: axis.operation.name).tensor("value")
        return tensor.elementCount == 1 ? tensor.doubleValues.first.flatMap { Int(exactly: $0) } : nil
    }

    /// `UnsortedSegmentSum`: each element gets the gradient of its segment; elements with a
    /// negative id were dropped and get zero.
    func segmentSumGradient() throws(WeftError) -> Output {
        let (gathered, kept) = try gatherDroppingNegatives(try gradient(), ids: try input(1))
        return OpBuilder.selectV2(kept, gathered, OpBuilder.scalar(0, like: gathered))
    }

    /// `rows` gathered at each id (0 where the id is negative), and where the ids are not
    /// negative, shaped to broadcast against the rows: TensorFlow's `_GatherDropNegatives`.
    func gatherDroppingNegatives(_ rows: Output, ids: Output) throws(WeftError) -> (Output, Output) {
        let clipped = maximum(ids, OpBuilder.zerosLike(ids))
        let gathered = OpBuilder.gather(rows, clipped, axis: OpBuilder.constant(Int32(0), in: ids.graph))
        let kept = OpBuilder.binary("GreaterEqual", ids, OpBuilder.zerosLike(ids))
        let trailingOnes = OpBuilder.fill(
            OpBuilder.reshape(OpBuilder.rank(gathered) - OpBuilder.rank(ids), [1]),
            value: OpBuilder.constant(Int32(1), in: ids.graph)
        )
        return (gathered, OpBuilder.reshape(kept, OpBuilder.concat([OpBuilder.shape(kept), trailingOnes], axis: 0)))
    }

    /// `SegmentMax`/`Min` and their unsorted forms: the segment's gradient is shared equally by
    /// the elements equal to the segment's extreme; the others (and dropped ids) get zero.
    func segmentExtremeGradient(sorted: Bool) throws(WeftError) -> Output {
        let data = try input(0)
        let ids = try input(1)
        let gradient = try gradient()
        let (extremes, kept) = try gatherDroppingNegatives(try output(0), ids: ids)
        let isSelected = OpBuilder.binary("LogicalAnd", equal(data, extremes), kept)
        let indicators = cast(isSelected, to: gradient.dtype)
        let selectedCount =
            sorted
            ? OpBuilder.node(
                "SegmentSum",
                [indicators, ids],
                ["T": .type(gradient.dtype), "Tindices": .type(ids.dtype)]
            ).output()
            : OpBuilder.unsortedSegmentSum(indicators, ids: ids, count: try input(2))
        let (shares, _) = try gatherDroppingNegatives(divide(gradient, selectedCount), ids: ids)
        return OpBuilder.selectV2(isSelected, shares, OpBuilder.zerosLike(shares))
    }
}
