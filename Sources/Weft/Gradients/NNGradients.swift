import WeftProto
import WeftRuntime

// Gradients of the neural-network ops (TensorFlow's nn_grad.py and math_grad.py for MatMul):
// most go through the backprop kernels, with the forward op's attributes.

extension GradientRegistry {
    func registerNNGradients() {
        registerMatMulGradients()
        register("BiasAdd") { context throws(WeftError) in
            let gradient = try context.gradient()
            let format = context.attributes.values["data_format"] ?? .string("NHWC")
            let bias = OpBuilder.node("BiasAddGrad", [gradient], ["T": .type(gradient.dtype), "data_format": format])
            return [.dense(gradient), .dense(bias.output())]
        }
        register("L2Loss") { context throws(WeftError) in [.dense(try context.input(0) * context.gradient())] }
        for op in ["SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits"] {
            register(op) { context throws(WeftError) in
                let logits = try context.input(0)
                let lossGradient = OpBuilder.expandDims(try context.gradient(0), axis: -1)
                var logitsGradient = lossGradient * (try context.output(1))
                if !context.gradientIsZeros(1) {
                    // A gradient reaching the backprop output (a second derivative) adds its own term.
                    let backpropGradient = try context.gradient(1)
                    let probabilities = softmax(logits)
                    let projection = OpBuilder.squeeze(
                        OpBuilder.batchMatMul(
                            OpBuilder.expandDims(backpropGradient, axis: 1),
                            OpBuilder.expandDims(probabilities, axis: 2)
                        ),
                        axes: [1]
                    )
                    logitsGradient = logitsGradient + (backpropGradient - projection) * probabilities
                }
                guard op == "SoftmaxCrossEntropyWithLogits" else { return [.dense(logitsGradient), nil] }
                let labelsGradient = lossGradient * negate(OpBuilder.unary("LogSoftmax", logits))
                return [.dense(logitsGradient), .dense(labelsGradient)]
            }
        }
        registerConvolutionGradients()
        registerPoolingGradients()
        register("TopKV2") { context throws(WeftError) in [.dense(try context.topKGradient()), nil] }
        for (op, kernel) in [
            ("FusedBatchNorm", "FusedBatchNormGrad"), ("FusedBatchNormV2", "FusedBatchNormGradV2"),
            ("FusedBatchNormV3", "FusedBatchNormGradV3"),
        ] {
            register(op) { context throws(WeftError) in try context.batchNormGradients(kernel: kernel) }
        }
    }

    private func registerMatMulGradients() {
        register("MatMul") { context throws(WeftError) in
            let (a, b, gradient) = try context.binaryOperands()
            let transposeA = try context.attributes.bool("transpose_a", default: false)
            let transposeB = try context.attributes.bool("transpose_b", default: false)
            let (ga, gb): (Output, Output) =
                switch (transposeA, transposeB) {
                case (false, false): (matMul(gradient, b, transposeB: true), matMul(a, gradient, transposeA: true))
                case (false, true): (matMul(gradient, b), matMul(gradient, a, transposeA: true))
                case (true, false): (matMul(b, gradient, transposeB: true), matMul(a, gradient))
                case (true, true):
                    (
                        matMul(b, gradient, transposeA: true, transposeB: true),
                        matMul(gradient, a, transposeA: true, transposeB: true)
                    )
                }
            return [.dense(ga), .dense(gb)]
        }
        for op in ["BatchMatMul", "BatchMatMulV2"] {
            register(op) { context throws(WeftError) in
                let (x, y, gradient) = try context.binaryOperands()
                let adjointX = try context.attributes.bool("adj_x", default: false)
                let adjointY = try context.attributes.bool("adj_y", default: false)
                let product = OpBuilder.batchMatMul
                let (gx, gy): (Output, Output) =
                    switch (adjointX, adjointY) {
                    case (false, false): (product(gradient, y, false, true), product(x, gradient, true, false))
                    case (false, true): (product(gradient, y, false, false), product(gradient, x, true, false))
                    case (true, false): (product(y, gradient, false, true), product(x, gradient, false, false))
                    case (true, true): (product(y, gradient, true, true), product(gradient, x, true, true))
                    }
                guard op == "BatchMatMulV2" else { return [.dense(gx), .dense(gy)] }
                // V2 broadcasts the batch dimensions: sum over those each side was stretched along.
                let (sx, sy) = (OpBuilder.shape(x), OpBuilder.shape(y))
                let batchX = OpBuilder.stridedSlice(sx, begin: [0], end: [-2])
                let batchY = OpBuilder.stridedSlice(sy, begin: [0], end: [-2])
                let (rx, ry) = OpBuilder.broadcastGradientArgs(batchX, batchY)
                return [
                    .dense(OpBuilder.unbroadcast(gx, axes: rx, to: sx)),
                    .dense(OpBuilder.unbroadcast(gy, axes: ry, to: sy)),
                ]
            }
        }
    }

    private func registerConvolutionGradients() {
        register("Conv2D") { context throws(WeftError) in
            let (input, filter, gradient) = try context.binaryOperands()
            let shapes = OpBuilder.shapes([input, filter])
            let attributes = context.copiedAttributes(
                ["T", "strides", "padding", "explicit_paddings", "use_cudnn_on_gpu", "data_format", "dilations"]
            )
            let inputGradient = OpBuilder.node("Conv2DBackpropInput", [shapes[0], filter, gradient], attributes)
            let filterGradient = OpBuilder.node("Conv2DBackpropFilter", [input, shapes[1], gradient], attributes)
            return [.dense(inputGradient.output()), .dense(filterGradient.output())]
        }
        register("DepthwiseConv2dNative") { context throws(WeftError) in
            let (input, filter, gradient) = try context.binaryOperands()
            let attributes = context.copiedAttributes(
                ["T", "strides", "padding", "explicit_paddings", "data_format", "dilations"]
            )
            let inputGradient = OpBuilder.node(
                "DepthwiseConv2dNativeBackpropInput",
                [OpBuilder.shape(input), filter, gradient],
                attributes
            )
            let filterGradient = OpBuilder.node(
                "DepthwiseConv2dNativeBackpropFilter",
                [input, OpBuilder.shape(filter), gradient],
                attributes
            )
            return [.dense(inputGradient.output()), .dense(filterGradient.output())]
        }
    }

    private func registerPoolingGradients() {
        register("MaxPool") { context throws(WeftError) in
            let attributes = context.copiedAttributes(
                ["T", "ksize", "strides", "padding", "explicit_paddings", "data_format"]
            )
            let inputs = [try context.input(0), try context.output(0), try context.gradient()]
            return [.dense(OpBuilder.node("MaxPoolGrad", inputs, attributes).output())]
        }
        register("AvgPoolGrad") { context throws(WeftError) in
            // Linear in the output gradient: its derivative is the pooling itself.
            let attributes = context.copiedAttributes(["T", "ksize", "strides", "padding", "data_format"])
            return [nil, .dense(OpBuilder.node("AvgPool", [try context.gradient()], attributes).output())]
        }
        register("BiasAddGrad") { context throws(WeftError) in
            // The bias gradient sums over all but the channel axis: spread it back.
            let input = try context.input(0)
            let gradient = try context.gradient()
            let channelsFirst = (try context.attributes.string("data_format", default: "NHWC")) == "NCHW"
            let shape = OpBuilder.shape(input)
            let rank = OpBuilder.rank(input)
            let graph = input.graph
            let one = OpBuilder.constant(Int32(1), in: graph)
            let ones = { (count: Output) in OpBuilder.fill(OpBuilder.reshape(count, [1]), value: one) }
            let kept =
                channelsFirst
                ? OpBuilder.concat(
                    [OpBuilder.constant([Int32(1)], in: graph), OpBuilder.shape(gradient), ones(rank - 2)],
                    axis: 0
                )
                : OpBuilder.concat([ones(rank - 1), OpBuilder.shape(gradient)], axis: 0)
            return [.dense(OpBuilder.broadcastTo(OpBuilder.reshape(gradient, kept), shape))]
        }
        register("AvgPool") { context throws(WeftError) in
            let attributes = context.copiedAttributes(["T", "ksize", "strides", "padding", "data_format"])
            let inputs = [OpBuilder.shape(try context.input(0)), try context.gradient()]
            return [.dense(OpBuilder.node("AvgPoolGrad", inputs, attributes).output())]
        }
    }
}

extension GradientContext {
    /// The forward op's attributes among `keys`, for a backprop kernel that takes the same.
    func copiedAttributes(_ keys: [String]) -> [String: Tensorflow_AttrValue] {
        attributes.values.filter { keys.contains($0.key) }
    }

    /// `TopKV2`: each of the k values' gradient goes back to the position it was taken from,
    /// scattered into zeros of the input's shape (rows flattened, so positions are offsets).
    func topKGradient() throws(WeftError) -> Output {
        let input = try input(0)
        let indices = try output(1)
        let graph = input.graph
        let shape = OpBuilder.shape(input)
        let last = OpBuilder.stridedSlice(shape, begin: [-1], end: [0], endMask: 1, shrinkAxisMask: 1)
        let k = OpBuilder.stridedSlice(OpBuilder.shape(indices), begin: [-1], end: [0], endMask: 1, shrinkAxisMask: 1)
        let rows = OpBuilder.reshape(indices, OpBuilder.pack([OpBuilder.constant(Int32(-1), in: graph), k]))
        let rowCount = OpBuilder.stridedSlice(OpBuilder.shape(rows), begin: [0], end: [1], shrinkAxisMask: 1)
        let offsets = OpBuilder.expandDims(
            OpBuilder.range(OpBuilder.constant(Int32(0), in: graph), rowCount * last, last),
            axis: -1
        )
        let positions = OpBuilder.expandDims(OpBuilder.reshape(rows + offsets, [-1]), axis: -1)
        let gradient = OpBuilder.reshape(try gradient(0), [-1])
        let total = OpBuilder.reshape(
            OpBuilder.reduce("Prod", shape, axes: OpBuilder.constant(Int32(0), in: graph)),
            [1]
        )
        let scattered = OpBuilder.node(
            "ScatterNd",
            [positions, gradient, total],
            ["T": .type(gradient.dtype), "Tindices": .type(.int32)]
        )
        return OpBuilder.reshape(scattered.output(), shape)
    }

    /// Fused batch normalization: the gradient kernel of the same version, with the batch
    /// statistics the forward op saved when training, or the population statistics it used
    /// otherwise (then in NHWC, the layout the inference gradient supports).
    func batchNormGradients(kernel: String) throws(WeftError) -> [Gradient?] {
        var x = try input(0)
        let scale = try input(1)
        var gradient = try gradient(0)
        let isTraining = try attributes.bool("is_training", default: true)
        let format = try attributes.string("data_format", default: "NHWC")
        var kernelAttributes = copiedAttributes(["T", "U", "epsilon", "is_training", "data_format"])
        var statistics = [try output(3), try output(4)]
        let channelsFirst = !isTraining && format == "NCHW"
        if !isTraining {
            statistics = [try input(3), try input(4)]
            if channelsFirst {
                x = OpBuilder.transpose(x, [0, 2, 3, 1])
                gradient = OpBuilder.transpose(gradient, [0, 2, 3, 1])
                kernelAttributes["data_format"] = .string("NHWC")
            }
        }
        if kernel == "FusedBatchNormGradV3" { statistics.append(try output(5)) }
        let node = OpBuilder.node(kernel, [gradient, x, scale] + statistics, kernelAttributes)
        let dx = channelsFirst ? OpBuilder.transpose(node.output(0), [0, 3, 1, 2]) : node.output(0)
        return [.dense(dx), .dense(node.output(1)), .dense(node.output(2)), nil, nil]
    }
}
