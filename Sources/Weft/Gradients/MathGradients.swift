import WeftRuntime

// Gradients of element-wise arithmetic (TensorFlow's math_grad.py). Binary ops broadcast, so
// each side's gradient is summed over the axes it was stretched along and reshaped back.

extension GradientRegistry {
    func registerMathGradients() {
        for op in ["Identity", "Snapshot", "PlaceholderWithDefault", "EnsureShape", "ReadVariableOp"] {
            register(op) { context throws(WeftError) in
                // The slices of a gather pass through unchanged, so a variable read stays sparse.
                [context.outputGradients.first ?? nil] + Array(repeating: nil, count: max(context.inputs.count - 1, 0))
            }
        }
        register("CheckNumerics") { context throws(WeftError) in
            let gradient = try context.gradient()
            let message = (try? context.attributes.string("message", default: "")) ?? ""
            let checked = OpBuilder.node(
                "CheckNumerics",
                [gradient],
                [
                    "T": .type(gradient.dtype),
                    "message": .string("Not a number (NaN) or infinity (Inf) values detected in gradient. \(message)"),
                ]
            )
            return [.dense(checked.output())]
        }
        register("IdentityN") { context throws(WeftError) in context.outputGradients }
        register("PreventGradient") { context throws(WeftError) in
            let reason = (try? context.attributes.string("message", default: "")) ?? ""
            throw WeftError(
                .invalidArgument,
                "Gradient explicitly disabled at node '\(context.operation.name)' (PreventGradient). Reason: \(reason)"
            )
        }
        register("AddN") { context throws(WeftError) in
            let gradient = try context.gradient()
            return context.inputs.map { _ in .dense(gradient) }
        }
        registerBinaryGradients()
        registerUnaryGradients()
        registerNotDifferentiable(
            "StopGradient",
            "Shape",
            "ShapeN",
            "Rank",
            "Size",
            "ZerosLike",
            "OnesLike",
            "Equal",
            "NotEqual",
            "Less",
            "LessEqual",
            "Greater",
            "GreaterEqual",
            "LogicalAnd",
            "LogicalOr",
            "LogicalNot",
            "ArgMax",
            "ArgMin",
            "Range",
            "BroadcastGradientArgs",
            "ConcatOffset",
            "InvertPermutation",
            "Floor",
            "Ceil",
            "Round",
            "FloorDiv",
            "TruncateDiv",
            "OneHot",
            "Where",
            "IsNan",
            "IsInf",
            "IsFinite",
            "InTopK",
            "InTopKV2",
            "Const",
            "Placeholder",
            "VariableShape",
            "VarIsInitializedOp",
            "BroadcastArgs",
            "ListDiff",
            "RandomUniform",
            "RandomStandardNormal",
            "TruncatedNormal",
            "RandomUniformInt"
        )
    }

    private func registerBinaryGradients() {
        for op in ["Add", "AddV2"] {
            register(op) { context throws(WeftError) in
                let gradient = try context.gradient()
                return try context.broadcastGradients(gradient, gradient)
            }
        }
        register("Sub") { context throws(WeftError) in
            let gradient = try context.gradient()
            return try context.broadcastGradients(gradient, negate(gradient))
        }
        register("Mul") { context throws(WeftError) in
            let (x, y, gradient) = try context.binaryOperands()
            return try context.broadcastGradients(gradient * y, x * gradient)
        }
        for op in ["Div", "RealDiv"] {
            register(op) { context throws(WeftError) in
                let (x, y, gradient) = try context.binaryOperands()
                let gy = gradient * OpBuilder.binary(op, OpBuilder.binary(op, negate(x), y), y)
                return try context.broadcastGradients(OpBuilder.binary(op, gradient, y), gy)
            }
        }
        register("DivNoNan") { context throws(WeftError) in
            let (x, y, gradient) = try context.binaryOperands()
            let divide = { (a: Output, b: Output) in OpBuilder.binary("DivNoNan", a, b) }
            return try context.broadcastGradients(divide(gradient, y), gradient * divide(divide(negate(x), y), y))
        }
        register("Pow") { context throws(WeftError) in
            let (x, y, gradient) = try context.binaryOperands()
            let z = try context.output(0)
            let gx = gradient * y * pow(x, y - 1)
            // log(x) only where x > 0, so the gradient for y is zero rather than NaN elsewhere.
            let positive = greater(x, OpBuilder.zerosLike(x))
            let safeX = OpBuilder.selectV2(positive, x, OpBuilder.onesLike(x))
            let logX = OpBuilder.selectV2(positive, log(safeX), OpBuilder.zerosLike(x))
            return try context.broadcastGradients(gx, gradient * z * logX)
        }
        register("Maximum") { context throws(WeftError) in try context.selectionGradients("GreaterEqual") }
        register("Minimum") { context throws(WeftError) in try context.selectionGradients("LessEqual") }
        register("FloorMod") { context throws(WeftError) in
            let (x, y, gradient) = try context.binaryOperands()
            return try context.broadcastGradients(gradient, gradient * negate(OpBuilder.binary("FloorDiv", x, y)))
        }
        register("Xlogy") { context throws(WeftError) in
            let (x, y, gradient) = try context.binaryOperands()
            let xNonZero = cast(OpBuilder.binary("NotEqual", x, OpBuilder.zerosLike(x)), to: x.dtype)
            return try context.broadcastGradients(
                gradient * OpBuilder.binary("Xlogy", xNonZero, y),
                gradient * OpBuilder.binary("Xdivy", x, y)
            )
        }
        register("Xdivy") { context throws(WeftError) in
            let (x, y, gradient) = try context.binaryOperands()
            let xNonZero = cast(OpBuilder.binary("NotEqual", x, OpBuilder.zerosLike(x)), to: x.dtype)
            return try context.broadcastGradients(
                gradient * OpBuilder.binary("Xdivy", xNonZero, y),
                gradient * OpBuilder.binary("Xdivy", negate(x), square(y))
            )
        }
        register("SquaredDifference") { context throws(WeftError) in
            let (x, y, gradient) = try context.binaryOperands()
            let gx = (2 * gradient) * (x - y)
            return try context.broadcastGradients(gx, negate(gx))
        }
    }

    private func registerUnaryGradients() {
        register("Neg") { context throws(WeftError) in [.dense(negate(try context.gradient()))] }
        register("Square") { context throws(WeftError) in
            let x = try context.input(0)
            return [.dense(try context.gradient() * (2 * x))]
        }
        register("Exp") { context throws(WeftError) in [.dense(try context.gradient() * context.output(0))] }
        register("Expm1") { context throws(WeftError) in [.dense(try context.gradient() * exp(context.input(0)))] }
        register("Log") { context throws(WeftError) in
            [.dense(try context.gradient() * OpBuilder.unary("Reciprocal", context.input(0)))]
        }
        register("Log1p") { context throws(WeftError) in
            [.dense(try context.gradient() * OpBuilder.unary("Reciprocal", 1 + context.input(0)))]
        }
        register("Abs") { context throws(WeftError) in
            [.dense(try context.gradient() * OpBuilder.unary("Sign", context.input(0)))]
        }
        register("Sign") { context throws(WeftError) in [.dense(OpBuilder.zerosLike(try context.input(0)))] }
        register("Sin") { context throws(WeftError) in
            [.dense(try context.gradient() * OpBuilder.unary("Cos", context.input(0)))]
        }
        register("Cos") { context throws(WeftError) in
            [.dense(negate(try context.gradient()) * OpBuilder.unary("Sin", try context.input(0)))]
        }
        register("Erf") { context throws(WeftError) in
            // d/dx erf(x) = 2/√π · e^(−x²).
            let x = try context.input(0)
            return [.dense(try context.gradient() * (2 / Double.pi.squareRoot() * exp(negate(square(x)))))]
        }
        register("Erfc") { context throws(WeftError) in
            let x = try context.input(0)
            return [.dense(try context.gradient() * (-2 / Double.pi.squareRoot() * exp(negate(square(x)))))]
        }
        // The kernels that compute `grad · f'(x)` from `y = f(x)` directly.
        for (op, kernel) in [
            ("Sqrt", "SqrtGrad"), ("Rsqrt", "RsqrtGrad"), ("Reciprocal", "ReciprocalGrad"), ("Tanh", "TanhGrad"),
            ("Sigmoid", "SigmoidGrad"),
        ] {
            register(op) { context throws(WeftError) in
                [.dense(OpBuilder.binary(kernel, try context.output(0), try context.gradient()))]
            }
        }
        register("Cast") { context throws(WeftError) in
            let source = try context.input(0)
            let gradient = try context.gradient()
            guard isDifferentiable(source.dtype), isDifferentiable(gradient.dtype) else { return [nil] }
            return [.dense(cast(gradient, to: source.dtype))]
        }
    }
}

/// Whether a gradient can flow through a value of this type (floats and complex numbers).
private func isDifferentiable(_ dtype: DType) -> Bool { dtype.isFloatingPoint || dtype.isComplex }

extension GradientContext {
    /// The two inputs of a binary op and the gradient of its output.
    func binaryOperands() throws(WeftError) -> (Output, Output, Output) {
        (try input(0), try input(1), try gradient())
    }

    /// The gradients of a broadcasting binary op's inputs from their unreduced forms.
    func broadcastGradients(_ gx: Output, _ gy: Output) throws(WeftError) -> [Gradient?] {
        let (x, y) = OpBuilder.unbroadcast(gx, gy, x: try input(0), y: try input(1))
        return [x.map(Gradient.dense), y.map(Gradient.dense)]
    }

    /// `Maximum`/`Minimum`: the gradient goes to the input that was selected (`x` on ties).
    func selectionGradients(_ comparison: String) throws(WeftError) -> [Gradient?] {
        let (x, y, gradient) = try binaryOperands()
        let xSelected = OpBuilder.binary(comparison, x, y)
        let zeros = OpBuilder.zerosLike(gradient)
        return try broadcastGradients(
            OpBuilder.selectV2(xSelected, gradient, zeros),
            OpBuilder.selectV2(xSelected, zeros, gradient)
        )
    }
}
