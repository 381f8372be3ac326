import WeftRuntime

// Gradients of reductions (math_grad.py): the output gradient, reshaped to the input's rank with
// the reduced axes kept as size 1, is broadcast back over the input's shape.

extension GradientRegistry {
    func registerReductionGradients() {
        register("Sum") { context throws(WeftError) in
            let (_, spread) = try context.reductionGradient()
            return [.dense(spread), nil]
        }
        register("Mean") { context throws(WeftError) in
            let x = try context.input(0)
            let (kept, spread) = try context.reductionGradient()
            // How many inputs each output averaged: |input| / |output|, at least 1.
            let inputSize = OpBuilder.reduce(
                "Prod",
                OpBuilder.shape(x),
                axes: OpBuilder.constant(Int32(0), in: x.graph)
            )
            let outputSize = OpBuilder.reduce("Prod", kept, axes: OpBuilder.constant(Int32(0), in: x.graph))
            let factor = OpBuilder.binary(
                "FloorDiv",
                inputSize,
                maximum(outputSize, OpBuilder.constant(Int32(1), in: x.graph))
            )
            return [.dense(divide(spread, cast(factor, to: spread.dtype))), nil]
        }
        for op in ["Max", "Min"] {
            register(op) { context throws(WeftError) in
                let x = try context.input(0)
                let (kept, _) = try context.reductionGradient()
                let y = OpBuilder.reshape(try context.output(0), kept)
                let gradient = OpBuilder.reshape(try context.gradient(), kept)
                // The gradient is shared equally among the inputs equal to the extreme.
                let indicators = cast(equal(y, x), to: gradient.dtype)
                let selected = OpBuilder.reshape(OpBuilder.sum(indicators, axes: try context.input(1)), kept)
                return [.dense(divide(indicators, selected) * gradient), nil]
            }
        }
        register("Prod") { context throws(WeftError) in [.dense(try context.productGradient()), nil] }
    }
}

extension GradientContext {
    /// For a reduction of input 0 over the axes in input 1: the output shape with reduced axes
    /// kept as 1 (TensorFlow's `reduced_shape`), and the output gradient broadcast to the input.
    func reductionGradient() throws(WeftError) -> (keptShape: Output, spread: Output) {
        let x = try input(0)
        let kept = reducedShape(OpBuilder.shape(x), axes: try input(1))
        let gradient = OpBuilder.reshape(try gradient(), kept)
        return (kept, OpBuilder.broadcastTo(gradient, OpBuilder.shape(x)))
    }

    /// `shape` with the dimensions at `axes` (negative ones counted from the end) set to 1.
    private func reducedShape(_ shape: Output, axes: Output) -> Output {
        let graph = shape.graph
        let rank = OpBuilder.size(shape)
        let flatAxes = OpBuilder.reshape(cast(axes, to: .int32), [-1])
        let positive = OpBuilder.binary("FloorMod", flatAxes + rank, rank)
        return OpBuilder.dynamicStitch(
            indices: [OpBuilder.range(from: 0, to: rank), positive],
            data: [shape, OpBuilder.fill(OpBuilder.shape(positive), value: OpBuilder.constant(Int32(1), in: graph))]
        )
    }

    /// `Prod`: each input's gradient is the product of the others in its reduction group,
    /// computed without division (so zeros are handled) as the product of exclusive cumulative
    /// products from both ends, over the input transposed to put the reduced axes first.
    func productGradient() throws(WeftError) -> Output {
        let x = try input(0)
        let graph = x.graph
        let (_, spread) = try reductionGradient()
        let shape = OpBuilder.shape(x)
        let rank = OpBuilder.rank(x)
        let flatAxes = OpBuilder.reshape(cast(try input(1), to: .int32), [-1])
        let reduced = OpBuilder.binary("FloorMod", flatAxes + rank, rank)
        let others = OpBuilder.listDifference(OpBuilder.range(from: 0, to: rank), reduced)
        let permutation = OpBuilder.concat([reduced, others], axis: 0)
        let zero = OpBuilder.constant(Int32(0), in: graph)
        let reducedCount = OpBuilder.reduce("Prod", OpBuilder.gather(shape, reduced, axis: zero), axes: zero)
        let otherCount = OpBuilder.reduce("Prod", OpBuilder.gather(shape, others, axis: zero), axes: zero)
        let permuted = OpBuilder.transpose(x, permutation)
        let matrix = OpBuilder.reshape(permuted, OpBuilder.pack([reducedCount, otherCount]))
        let before = OpBuilder.scan("Cumprod", matrix, axis: zero, exclusive: true, reverse: false)
        let after = OpBuilder.scan("Cumprod", matrix, axis: zero, exclusive: true, reverse: true)
        let productOfOthers = OpBuilder.reshape(before * after, OpBuilder.shape(permuted))
        let unpermuted = OpBuilder.transpose(productOfOthers, OpBuilder.invertPermutation(permutation))
        return OpBuilder.reshape(spread * unpermuted, shape)
    }
}
