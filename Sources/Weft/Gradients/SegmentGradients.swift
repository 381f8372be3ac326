import WeftRuntime

// Gradients of segment reductions, partitions and scatter-like gathers (math_grad.py,
// data_flow_grad.py, array_grad.py): the ops sharded embeddings and sparse features use.

extension GradientRegistry {
    func registerSegmentGradients() {
        register("SegmentSum") { context throws(WeftError) in
            let zero = OpBuilder.constant(Int32(0), in: context.graph)
            return [.dense(OpBuilder.gather(try context.gradient(), try context.input(1), axis: zero)), nil]
        }
        register("SegmentMean") { context throws(WeftError) in [.dense(try context.segmentMeanGradient()), nil] }
        for reduction in ["Sum", "Mean", "SqrtN"] {
            for suffix in ["", "WithNumSegments"] {
                register("SparseSegment\(reduction)\(suffix)") { context throws(WeftError) in
                    let data = try context.input(0)
                    let rows = OpBuilder.stridedSlice(OpBuilder.shape(data), begin: [0], end: [1], shrinkAxisMask: 1)
                    let gradient = try context.gradient()
                    let indices = try context.input(1)
                    let node = OpBuilder.node(
                        "SparseSegment\(reduction)Grad",
                        [gradient, indices, try context.input(2), rows],
                        [
                            "T": .type(gradient.dtype), "Tidx": .type(indices.dtype),
                            "Tsegmentids": .type(try context.input(2).dtype),
                        ]
                    )
                    return [.dense(node.output())] + context.nilForRest(after: 1)
                }
            }
        }
        register("DynamicStitch") { context throws(WeftError) in try context.dynamicStitchGradients() }
        register("ParallelDynamicStitch") { context throws(WeftError) in try context.dynamicStitchGradients() }
        register("DynamicPartition") { context throws(WeftError) in
            [.dense(try context.dynamicPartitionGradient()), nil]
        }
        register("GatherNd") { context throws(WeftError) in
            let params = try context.input(0)
            let indices = try context.input(1)
            let gradient = try context.gradient()
            let shape = OpBuilder.shape(params, type: indices.dtype)
            let scattered = OpBuilder.node(
                "ScatterNd",
                [indices, gradient, shape],
                ["T": .type(gradient.dtype), "Tindices": .type(indices.dtype)]
            )
            return [.dense(scattered.output()), nil]
        }
    }
}

extension GradientContext {
    /// `SegmentMean`: each element gets its segment's gradient divided by the segment's size.
    func segmentMeanGradient() throws(WeftError) -> Output {
        let data = try input(0)
        let ids = try input(1)
        let gradient = try gradient()
        let graph = data.graph
        // Ones of shape [rows, 1, …, 1] count the rows of each segment.
        let trailing = OpBuilder.fill(
            OpBuilder.reshape(OpBuilder.rank(data) - OpBuilder.constant(Int32(1), in: graph), [1]),
            value: OpBuilder.constant(Int32(1), in: graph)
        )
        let onesShape = OpBuilder.concat([OpBuilder.shape(ids), trailing], axis: 0)
        let ones = OpBuilder.fill(onesShape, with: 1, dtype: gradient.dtype)
        let sizes = OpBuilder.node(
            "SegmentSum",
            [ones, ids],
            ["T": .type(gradient.dtype), "Tindices": .type(ids.dtype)]
        ).output()
        let zero = OpBuilder.constant(Int32(0), in: graph)
        return OpBuilder.gather(divide(gradient, sizes), ids, axis: zero)
    }

    /// `DynamicStitch`: each data input gets the rows of the gradient at its indices (a later
    /// input overwrote an earlier one's duplicates, but TensorFlow's gradient ignores that too).
    func dynamicStitchGradients() throws(WeftError) -> [Gradient?] {
        let count = inputs.count / 2
        let gradient = try gradient()
        let zero = OpBuilder.constant(Int32(0), in: graph)
        let values: [Gradient?] = inputs.prefix(count).map { indices in
            let positions = indices.dtype == .int32 ? indices : cast(indices, to: .int32)
            return .dense(OpBuilder.gather(gradient, positions, axis: zero))
        }
        return Array(repeating: nil, count: count) + values
    }

    /// `DynamicPartition`: the partitions' gradients stitched back to where each element came
    /// from, found by partitioning the elements' positions the same way.
    func dynamicPartitionGradient() throws(WeftError) -> Output {
        let data = try input(0)
        let partitions = try input(1)
        // One output per partition: the count the op was built with, never negative.
        let count = outputs.count
        let prefixShape = OpBuilder.shape(partitions)
        let zero = OpBuilder.constant(Int32(0), in: graph)
        let positions = OpBuilder.reshape(
            OpBuilder.range(from: 0, to: OpBuilder.reduce("Prod", prefixShape, axes: zero)),
            prefixShape
        )
        let partitioned = OpBuilder.node(
            "DynamicPartition",
            [positions, partitions],
            ["T": .type(.int32), "num_partitions": .int(count)]
        )
        let gradients = try (0..<count).map { (index) throws(WeftError) in try gradient(index) }
        let stitched = OpBuilder.dynamicStitch(indices: (0..<count).map { partitioned.output($0) }, data: gradients)
        return OpBuilder.reshape(stitched, OpBuilder.shape(data))
    }
}
