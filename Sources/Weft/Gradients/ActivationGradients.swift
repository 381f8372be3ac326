import WeftProto
import WeftRuntime

// Gradients of activations, each through the `*Grad` kernel TensorFlow uses (nn_grad.py): some
// take the op's input, some its output, as TensorFlow's gradient functions pass them.

extension GradientRegistry {
    func registerActivationGradients() {
        // (op, its gradient kernel, whether the kernel takes the op's output rather than its input)
        let kernels: [(String, String, Bool)] = [
            ("Relu", "ReluGrad", true), ("Elu", "EluGrad", true), ("Selu", "SeluGrad", true),
            ("Relu6", "Relu6Grad", true), ("Softplus", "SoftplusGrad", false), ("Softsign", "SoftsignGrad", false),
        ]
        for (op, kernel, usesOutput) in kernels {
            register(op) { context throws(WeftError) in
                let features = usesOutput ? try context.output(0) : try context.input(0)
                return [.dense(OpBuilder.binary(kernel, try context.gradient(), features))]
            }
        }
        register("LeakyRelu") { context throws(WeftError) in
            let gradient = try context.gradient()
            let alpha = context.attributes.values["alpha"] ?? .with { $0.f = 0.2 }
            return [
                .dense(
                    OpBuilder.node(
                        "LeakyReluGrad",
                        [gradient, try context.input(0)],
                        ["T": .type(gradient.dtype), "alpha": alpha]
                    ).output()
                )
            ]
        }
        register("Softmax") { context throws(WeftError) in
            let y = try context.output(0)
            let gradient = try context.gradient()
            let dot = OpBuilder.sum(gradient * y, axes: OpBuilder.constant(Int32(-1), in: y.graph), keepDims: true)
            return [.dense((gradient - dot) * y)]
        }
        register("LogSoftmax") { context throws(WeftError) in
            let y = try context.output(0)
            let gradient = try context.gradient()
            let total = OpBuilder.sum(gradient, axes: OpBuilder.constant(Int32(-1), in: y.graph), keepDims: true)
            return [.dense(gradient - total * exp(y))]
        }
    }
}
