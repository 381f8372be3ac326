import WeftProto

/// `bfloat16` for the ops TensorFlow's CPU build registers it for: each computes in `float` and
/// rounds its result to `bfloat16` (to nearest, ties to even), as TensorFlow's kernels do on
/// CPU, where Eigen's `bfloat16` widens every operand to `float` too.
///
/// A node whose `T` is `bfloat16` gets the op's own `float` kernel, with its `bfloat16` inputs
/// widened on the way in and its `float` outputs rounded on the way out: one conversion pass
/// per tensor, no per-element allocation, and every op keeps one implementation of its
/// semantics (broadcasting, attributes, errors). Ops left out of `registered` refuse
/// `bfloat16` as TensorFlow does (`invalidArgument`, no kernel registered).
enum BFloat16Kernels {
    /// The ops (of those Weft implements) that TensorFlow 2.21's CPU build runs on `bfloat16`,
    /// checked one by one against TensorFlow. Their `bfloat16` tensors are all of type `T`.
    static let registered: Set<String> = [
        // Element-wise arithmetic and comparisons.
        "Add", "AddV2", "Sub", "Mul", "Div", "RealDiv", "DivNoNan", "MulNoNan", "Maximum", "Minimum", "Pow",
        "SquaredDifference", "FloorDiv", "FloorMod", "TruncateDiv", "Xdivy", "Xlogy", "Xlog1py", "Atan2",
        "Less", "LessEqual", "Greater", "GreaterEqual", "Equal", "NotEqual", "AddN",
        // Unary math.
        "Neg", "Abs", "Square", "Sqrt", "Rsqrt", "Exp", "Log", "Tanh", "Sigmoid", "Sign", "Reciprocal", "Inv",
        "Floor", "Ceil", "Round", "Log1p", "Expm1", "Erf", "Erfc", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan",
        "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "IsNan", "IsFinite", "IsInf",
        // Activations, losses and their gradients.
        "Relu", "Relu6", "Elu", "Selu", "Softplus", "Softsign", "LeakyRelu", "Softmax", "LogSoftmax", "L2Loss",
        "ReluGrad", "Relu6Grad", "EluGrad", "SeluGrad", "SoftplusGrad", "SoftsignGrad", "LeakyReluGrad",
        "TanhGrad", "SigmoidGrad", "SqrtGrad", "RsqrtGrad", "ReciprocalGrad",
        "SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits",
        // Reductions and scans.
        "Sum", "Mean", "Prod", "Max", "Min", "ArgMax", "ArgMin", "EuclideanNorm", "Cumsum", "Cumprod",
        "SegmentSum", "UnsortedSegmentSum", "TopKV2",
        // Products and layers.
        "MatMul", "BatchMatMul", "BatchMatMulV2", "Einsum", "BiasAdd", "BiasAddGrad",
        "Conv2D", "DepthwiseConv2dNative", "MaxPool", "AvgPool", "Conv2DBackpropInput", "MaxPoolGrad",
        "Conv2DBackpropFilter", "DepthwiseConv2dNativeBackpropInput", "DepthwiseConv2dNativeBackpropFilter",
        "AvgPoolGrad", "MaxPoolV2", "MaxPoolGradV2", "MaxPoolGradGrad", "MaxPoolGradGradV2",
    ]

    /// The definitions in `definitions` that `registered` names, each also running `bfloat16`
    /// nodes through its `float` kernel. Listed after the originals in the registry, they
    /// replace them.
    static func definitions(extending definitions: [OpDefinition]) -> [OpDefinition] {
        definitions.filter { registered.contains($0.name) }.map(extending)
    }

    private static func extending(_ base: OpDefinition) -> OpDefinition {
        var definition = base
        definition.makeKernel = { node throws(WeftError) in
            guard try node.optionalType("T") == .bfloat16 else { return try base.makeKernel(node) }
            var single = node
            var float = Tensorflow_AttrValue()
            float.type = DType.float.proto
            single.attributes.values["T"] = float
            return SinglePrecisionKernel(inner: try base.makeKernel(single), op: base.name)
        }
        return definition
    }
}

/// Runs a `float` kernel for a `bfloat16` node: `bfloat16` inputs are widened (exactly) and
/// `float` outputs rounded to nearest even.
private struct SinglePrecisionKernel: OpKernel {
    let inner: any OpKernel
    let op: String

    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        var inputs: [Value] = []
        inputs.reserveCapacity(context.inputs.count)
        for (index, value) in context.inputs.enumerated() {
            guard case .tensor(let tensor) = value else {
                inputs.append(value)
                continue
            }
            // A `float` tensor where the node declares `bfloat16` would pass the inner kernel's
            // own check, so it is refused here.
            try KernelChecks.dtype(
                tensor,
                input: index,
                expected: tensor.dtype == .float ? .bfloat16 : nil,
                op: op,
                node: context.node
            )
            inputs.append(.tensor(tensor.dtype == .bfloat16 ? try CastOp.cast(tensor, to: .float) : tensor))
        }
        let outputs = try inner.compute(OpKernelContext(node: context.node, inputs: inputs, step: context.step))
        var rounded: [Value] = []
        rounded.reserveCapacity(outputs.count)
        for value in outputs {
            guard case .tensor(let tensor) = value, tensor.dtype == .float else {
                rounded.append(value)
                continue
            }
            rounded.append(.tensor(try CastOp.cast(tensor, to: .bfloat16)))
        }
        return rounded
    }
}
