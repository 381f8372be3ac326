/// Resource variables, as `tf1.Variable(..., use_resource=True)` builds them: `VarHandleOp`
/// names a variable of the session's `ResourceContainer`, and the ops taking that handle read,
/// assign, gather, scatter and apply optimizers to it. The scatter and optimizer kernels are
/// the ref forms' (`ScatterOps`, `TrainingOps`), reaching their variables through handles.
enum ResourceVariableOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] =
        [
            varHandle, readVariable, assignVariable, assignUpdate("AssignAddVariableOp", .add),
            assignUpdate("AssignSubVariableOp", .sub), isInitialized, destroy, gather, variableShape,
        ] + ScatterOps.definitions(form: .resource) + TrainingOps.definitions(form: .resourceOptimizer)

    private static let varHandle = OpDefinition(
        "VarHandleOp",
        inputCount: 0,
        isStateful: true,
        isExpensive: false,
        outputTypes: { _, _ in [OutputType(.resource)] },
        makeKernel: { node throws(WeftError) in
            let sharedName = try node.attributes.string("shared_name", default: "")
            let handle = ResourceHandle(
                container: try node.attributes.string("container", default: ""),
                name: sharedName.isEmpty ? node.name : sharedName,
                device: node.device,
                dtype: try node.attributes.type("dtype"),
                shape: try node.attributes.shape("shape")
            )
            let tensor = try Tensor(handles: [handle], shape: .scalar)
            return ClosureKernel { _ in [.tensor(tensor)] }
        }
    )

    private static let readVariable = OpDefinition(
        "ReadVariableOp",
        inputCount: 1,
        isStateful: true,
        outputTypes: OpDefinition.outputOfAttribute("dtype"),
        makeKernel: { node throws(WeftError) in
            let dtype = try node.attributes.type("dtype")
            return ClosureKernel { context throws(WeftError) in
                let handle = try ResourceVariables.handle(context, 0)
                guard let variable = context.step.resources.resourceVariable(handle.key), variable.isInitialized else {
                    throw WeftError(
                        .failedPrecondition,
                        "Could not find variable \(handle.name). This could mean that the variable has been deleted. In TF1, it can also mean the variable is uninitialized. Debug info: container=\(handle.containerName), status error message=Resource \(handle.path) does not exist. (node '\(context.node)')"
                    )
                }
                guard variable.dtype == dtype else {
                    throw .invalidArgument(
                        "Trying to read variable \(handle.name) from Container: \(handle.containerName) with wrong dtype. Expected \(dtype) got \(variable.dtype)",
                        node: context.node
                    )
                }
                return [.tensor(try variable.read())]
            }
        }
    )

    private static let assignVariable = OpDefinition(
        "AssignVariableOp",
        inputCount: 2,
        isStateful: true,
        outputTypes: OpDefinition.noOutputs,
        makeKernel: { node throws(WeftError) in
            let dtype = try node.optionalType("dtype")
            let validateShape = try node.attributes.bool("validate_shape", default: false)
            return ClosureKernel { context throws(WeftError) in
                let handle = try ResourceVariables.handle(context, 0)
                let value = try context.input(1)
                try KernelChecks.dtype(value, input: 1, expected: dtype, op: "AssignVariableOp", node: context.node)
                let variable = context.step.resources.resourceVariable(handle.key, creatingWith: value.dtype)
                guard variable.dtype == value.dtype else {
                    throw .invalidArgument(
                        "Trying to assign variable with wrong dtype. Expected \(variable.dtype) got \(value.dtype)",
                        node: context.node
                    )
                }
                if validateShape, let current = try? variable.read(), current.shape != value.shape {
                    throw .invalidArgument(
                        "Trying to assign to variable with tensor with wrong shape. Expected \(current.shape) got \(value.shape)",
                        node: context.node
                    )
                }
                try variable.assign(value, validateShape: false)
                return []
            }
        }
    )

    /// `AssignAddVariableOp` / `AssignSubVariableOp`: the variable combined with a value of its shape.
    private static func assignUpdate(_ op: String, _ operation: BinaryOp) -> OpDefinition {
        OpDefinition(
            op,
            inputCount: 2,
            isStateful: true,
            outputTypes: OpDefinition.noOutputs,
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let variable = try ResourceVariables.existing(context, 0)
                    let value = try context.input(1)
                    try KernelChecks.dtype(value, input: 1, expected: variable.dtype, op: op, node: context.node)
                    _ = try variable.update { (old: Tensor) throws(WeftError) -> Tensor in
                        guard old.shape == value.shape else {
                            throw .invalidArgument(
                                "Cannot update variable with shape \(old.shape) using a Tensor with shape \(value.shape), shapes must be equal.",
                                node: context.node
                            )
                        }
                        return try operation.applyWidening(old, value, op: op, node: context.node)
                    }
                    return []
                }
            }
        )
    }

    private static let isInitialized = OpDefinition(
        "VarIsInitializedOp",
        inputCount: 1,
        isStateful: true,
        isExpensive: false,
        outputTypes: { _, _ in [OutputType(.bool)] },
        makeKernel: { _ in
            ClosureKernel { context throws(WeftError) in
                let handle = try ResourceVariables.handle(context, 0)
                let variable = context.step.resources.resourceVariable(handle.key)
                return [.tensor(Tensor(variable?.isInitialized ?? false))]
            }
        }
    )

    /// `VariableShape`: the shape of a resource variable's value (what gradients of a resource
    /// gather build), in `out_type`.
    private static let variableShape = OpDefinition(
        "VariableShape",
        inputCount: 1,
        isExpensive: false,
        outputTypes: { node, _ throws(WeftError) in [OutputType(try node.optionalType("out_type") ?? .int32)] },
        makeKernel: { node throws(WeftError) in
            let outType = try node.optionalType("out_type") ?? .int32
            guard outType == .int32 || outType == .int64 else {
                throw WeftError(.invalidArgument, "VariableShape's out_type must be int32 or int64, got \(outType) (node '\(node.name)')")
            }
            return ClosureKernel { context throws(WeftError) in
                let dimensions = try ResourceVariables.existing(context, 0).read().shape.dimensions
                if outType == .int64 { return [.tensor(Tensor(dimensions.map { Int64($0) }))] }
                guard dimensions.allSatisfy({ $0 <= Int(Int32.max) }) else {
                    throw .invalidArgument("Shape of the variable does not fit int32; use out_type=int64", node: context.node)
                }
                return [.tensor(Tensor(dimensions.map { Int32($0) }))]
            }
        }
    )

    private static let destroy = OpDefinition(
        "DestroyResourceOp",
        inputCount: 1,
        isStateful: true,
        isExpensive: false,
        outputTypes: OpDefinition.noOutputs,
        makeKernel: { node throws(WeftError) in
            let ignoreLookupError = try node.attributes.bool("ignore_lookup_error", default: true)
            return ClosureKernel { context throws(WeftError) in
                let handle = try ResourceVariables.handle(context, 0)
                if !context.step.resources.removeResourceVariable(handle.key), !ignoreLookupError {
                    throw WeftError(.notFound, "Resource \(handle.path) does not exist. (node '\(context.node)')")
                }
                return []
            }
        }
    )

    private static let gather = OpDefinition(
        "ResourceGather",
        inputCount: 2,
        isStateful: true,
        outputTypes: OpDefinition.outputOfAttribute("dtype"),
        makeKernel: { node throws(WeftError) in
            let dtype = try node.attributes.type("dtype")
            let batchDims = try node.attributes.int("batch_dims", default: 0)
            return ClosureKernel { context throws(WeftError) in
                let variable = try ResourceVariables.existing(context, 0)
                let params = try variable.read()
                guard params.dtype == dtype else {
                    throw .invalidArgument(
                        "Trying to read variable with wrong dtype. Expected \(dtype) got \(params.dtype)",
                        node: context.node
                    )
                }
                // The gathered axis is the first after the batch dimensions, as in TensorFlow.
                let rows = try GatherOps.gather(
                    params,
                    try context.input(1),
                    axis: batchDims,
                    batchDims: batchDims,
                    node: context.node
                )
                return [.tensor(rows)]
            }
        }
    )
}

extension VariableForm {
    /// Variables reached through resource handles; the op has no outputs.
    static let resource = VariableForm(prefix: "Resource", isResource: true) { context, index throws(WeftError) in
        try ResourceVariables.existing(context, index)
    }

    /// The resource form of the optimizer ops. TensorFlow reports a variable (or slot) that
    /// was never created with `internal` ("Invalid variable reference.") there, not `notFound`.
    static let resourceOptimizer = VariableForm(prefix: "Resource", isResource: true) {
        context,
        index throws(WeftError) in
        let handle = try ResourceVariables.handle(context, index)
        guard let variable = context.step.resources.resourceVariable(handle.key) else {
            throw WeftError(
                .internal,
                "Invalid variable reference: resource \(handle.path) does not exist; initialize the variable and its slots first (node '\(context.node)')"
            )
        }
        return variable
    }
}

/// Finding the variable behind a handle input.
enum ResourceVariables {
    /// The handle of input `index`, which must be a scalar `resource` tensor.
    static func handle(_ context: OpKernelContext, _ index: Int) throws(WeftError) -> ResourceHandle {
        let tensor = try context.input(index)
        guard tensor.dtype == .resource, tensor.shape.rank == 0, let handle = tensor.handles.first else {
            throw .invalidArgument(
                "input \(index) must be a scalar resource handle, got a \(tensor.dtype) tensor of shape \(tensor.shape)",
                node: context.node
            )
        }
        return handle
    }

    /// The variable behind input `index`; TensorFlow's `notFound` when none was created.
    static func existing(_ context: OpKernelContext, _ index: Int) throws(WeftError) -> VariableResource {
        let handle = try handle(context, index)
        guard let variable = context.step.resources.resourceVariable(handle.key) else {
            throw WeftError(.notFound, "Resource \(handle.path) does not exist. (node '\(context.node)')")
        }
        return variable
    }
}

extension ResourceHandle {
    /// The key of the handle's variable in a session's container.
    var key: ResourceContainer.ResourceKey { ResourceContainer.ResourceKey(container: container, name: name) }

    /// The container as TensorFlow's messages name it: `localhost` for the default one.
    var containerName: String { container.isEmpty ? "localhost" : container }

    /// `container/name`, as TensorFlow's messages print a resource.
    var path: String { "\(containerName)/\(name)" }
}
