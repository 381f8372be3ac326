import WeftRuntime

// Gradients of the gradient kernels (TensorFlow's `*GradGrad` functions), so gradients can be
// differentiated again (gradient penalties, Hessian-vector products), and of the convolution
// backprops, which transposed convolutions use as forward ops.

extension GradientRegistry {
    func registerSecondOrderGradients() {
        // `ReluGrad(dy, x)` and kin are linear in dy with a mask from x: the mask does not move.
        for op in ["ReluGrad", "Relu6Grad"] {
            register(op) { context throws(WeftError) in
                let features = try context.input(1)
                return [
                    .dense(OpBuilder.binary(op, try context.gradient(), features)),
                    .dense(OpBuilder.zerosLike(features)),
                ]
            }
        }
        register("LeakyReluGrad") { context throws(WeftError) in
            let gradient = try context.gradient()
            let features = try context.input(1)
            var attributes = context.copiedAttributes(["alpha"])
            attributes["T"] = .type(gradient.dtype)
            let again = OpBuilder.node("LeakyReluGrad", [gradient, features], attributes).output()
            return [.dense(again), .dense(OpBuilder.zerosLike(features))]
        }
        register("EluGrad") { context throws(WeftError) in
            let (dy, outputs, gradient) = try context.binaryOperands()
            let negative = less(outputs, OpBuilder.zerosLike(outputs))
            return [
                .dense(OpBuilder.binary("EluGrad", gradient, outputs)),
                .dense(OpBuilder.selectV2(negative, gradient * dy, OpBuilder.zerosLike(outputs))),
            ]
        }
        // `(y, dy)` kernels: the derivative for y comes from the formula, for dy from the kernel.
        register("TanhGrad") { context throws(WeftError) in
            let (y, dy, gradient) = try context.binaryOperands()
            return [.dense(gradient * (-2) * dy * y), .dense(OpBuilder.binary("TanhGrad", y, gradient))]
        }
        register("SigmoidGrad") { context throws(WeftError) in
            let (y, dy, gradient) = try context.binaryOperands()
            let scaled = gradient * dy
            return [.dense(scaled - 2 * scaled * y), .dense(OpBuilder.binary("SigmoidGrad", y, gradient))]
        }
        register("SqrtGrad") { context throws(WeftError) in
            let (y, _, gradient) = try context.binaryOperands()
            let ratio = gradient / y
            return [.dense(negate(ratio) * (try context.output(0))), .dense(0.5 * ratio)]
        }
        register("RsqrtGrad") { context throws(WeftError) in
            let (y, dy, gradient) = try context.binaryOperands()
            return [.dense(-1.5 * gradient * dy * square(y)), .dense(OpBuilder.binary("RsqrtGrad", y, gradient))]
        }
        register("ReciprocalGrad") { context throws(WeftError) in
            let (y, dy, gradient) = try context.binaryOperands()
            return [.dense(gradient * (-2) * dy * y), .dense(OpBuilder.binary("ReciprocalGrad", y, gradient))]
        }
        registerConvolutionBackpropGradients()
    }

    private func registerConvolutionBackpropGradients() {
        let conv2DAttributes = [
            "T", "strides", "padding", "explicit_paddings", "use_cudnn_on_gpu", "data_format", "dilations",
        ]
        let depthwiseAttributes = ["T", "strides", "padding", "explicit_paddings", "data_format", "dilations"]
        for (family, keys) in [("Conv2D", conv2DAttributes), ("DepthwiseConv2dNative", depthwiseAttributes)] {
            register("\(family)BackpropInput") { context throws(WeftError) in
                // A linear map of (filter, outputGradient): differentiate each side with the other fixed.
                let filter = try context.input(1)
                let outputGradient = try context.input(2)
                let gradient = try context.gradient()
                let attributes = context.copiedAttributes(keys)
                let filterSide = OpBuilder.node(
                    "\(family)BackpropFilter",
                    [gradient, OpBuilder.shape(filter), outputGradient],
                    attributes
                )
                let outputSide = OpBuilder.node(family, [gradient, filter], attributes)
                return [nil, .dense(filterSide.output()), .dense(outputSide.output())]
            }
            register("\(family)BackpropFilter") { context throws(WeftError) in
                let input = try context.input(0)
                let outputGradient = try context.input(2)
                let gradient = try context.gradient()
                let attributes = context.copiedAttributes(keys)
                let inputSide = OpBuilder.node(
                    "\(family)BackpropInput",
                    [OpBuilder.shape(input), gradient, outputGradient],
                    attributes
                )
                let outputSide = OpBuilder.node(family, [input, gradient], attributes)
                return [.dense(inputSide.output()), nil, .dense(outputSide.output())]
            }
        }
    }
}
