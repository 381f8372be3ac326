/// `MaxPoolV2`, `MaxPoolGradV2` and `MaxPoolGradGradV2`: the max-pooling ops of `PoolOps`
/// with `ksize` and `strides` as int32 inputs after the op's tensors rather than attributes.
/// They are read, and checked as TensorFlow checks them, at every run, since a graph may
/// compute them.
struct PoolV2Kernel: OpKernel {
    let kind: PoolKind
    let op: String
    let node: NodeInfo
    /// The number of tensor inputs before `ksize` and `strides`.
    let tensors: Int

    /// The definition of `name`, whose `inputs` tensors are followed by `ksize` and `strides`.
    static func definition(_ name: String, _ kind: PoolKind, inputs: Int) -> OpDefinition {
        OpDefinition(name, inputCount: inputs + 2, outputTypes: OpDefinition.outputOfInput(0)) {
            node throws(WeftError) in
            try PoolAttributes.checkFormat(node, op: name)
            return PoolV2Kernel(kind: kind, op: name, node: node, tensors: inputs)
        }
    }

    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        let ksize = try sizes(context, input: tensors)
        let strides = try sizes(context, input: tensors + 1)
        guard ksize.count == 4 else {
            throw .invalidArgument("Sliding window ksize field must specify 4 dimensions", node: context.node)
        }
        guard strides.count == 4 else {
            throw .invalidArgument("Sliding window stride field must specify 4 dimensions", node: context.node)
        }
        guard ksize[0] == 1, strides[0] == 1 else {
            throw WeftError(
                .unimplemented,
                "Pooling is not yet supported on the batch dimension. (node '\(context.node)')"
            )
        }
        let attributes = try PoolAttributes(ksize: ksize, strides: strides, node: node, op: op, kind: kind)
        let pooling = OpKernelContext(
            node: context.node,
            inputs: Array(context.inputs.prefix(tensors)),
            step: context.step
        )
        return try PoolKernel(kind: kind, attributes: attributes).compute(pooling)
    }

    /// The values of int32 input `index` (TensorFlow's only type for them).
    private func sizes(_ context: OpKernelContext, input index: Int) throws(WeftError) -> [Int] {
        let tensor = try context.input(index)
        try KernelChecks.dtype(tensor, input: index, expected: .int32, op: op, node: context.node)
        return tensor.withElements(of: Int32.self) { $0.map(Int.init) }
    }
}
