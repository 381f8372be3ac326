/// Resource variables, as `tf1.Variable(..., use_resource=True)` builds them: `VarHandleOp`
/// names a variable of the session's `ResourceContainer`, and the ops taking that handle read,
/// assign, gather, scatter and apply optimizers to it. The scatter and optimizer kernels are
/// the ref forms' (`ScatterOps`, `TrainingOps`), reaching their variables through handles.
enum ResourceVariableOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] =
        [
            varHandle, readVariable, assignVariable, assignUpdate("AssignAddVariableOp", .add),
            assignUpdate("AssignSubVariableOp", .sub), isInitialized, destroy, gather,
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
                        return try operation.apply(old, value, op: op, node: context.node)
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
                return [.tensor(try RowGather.gather(params, try context.input(1), batchDims: batchDims, node: context.node))]
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
    static let resourceOptimizer = VariableForm(prefix: "Resource", isResource: true) { context, index throws(WeftError) in
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

/// `ResourceGather`'s kernel: rows of `params` picked by `indices`, with leading batch
/// dimensions shared by both.
enum RowGather {
    /// `params[b..., indices[b..., i...], ...]`, of shape `params.shape[..<batchDims] +
    /// indices.shape[batchDims...] + params.shape[(batchDims + 1)...]`.
    static func gather(_ params: Tensor, _ indices: Tensor, batchDims: Int, node: String) throws(WeftError) -> Tensor {
        let batch = batchDims < 0 ? batchDims + indices.shape.rank : batchDims
        guard batch >= 0, batch <= indices.shape.rank, batch < params.shape.rank else {
            throw .invalidArgument(
                "batch_dims (\(batchDims)) must be in [\(-indices.shape.rank), \(indices.shape.rank)] and less than the rank of params (\(params.shape.rank))",
                node: node
            )
        }
        let paramDims = params.shape.dimensions
        let indexDims = indices.shape.dimensions
        guard paramDims[..<batch] == indexDims[..<batch] else {
            throw .invalidArgument(
                "params.shape[:\(batch)] should equal indices.shape[:\(batch)], got params.shape \(params.shape) and indices.shape \(indices.shape)",
                node: node
            )
        }
        let rows = try KernelChecks.indices(indices, what: "indices", node: node)
        let limit = paramDims[batch]
        let perBatch = indexDims[batch...].reduce(1, *)
        for (position, row) in rows.enumerated() where row < 0 || row >= limit {
            let coordinates = coordinatesText(position, of: indexDims)
            throw .invalidArgument("indices[\(coordinates)] = \(row) is not in [0, \(limit))", node: node)
        }
        let out = try KernelChecks.allocate(
            params.dtype,
            TensorShape(Array(indexDims) + paramDims[(batch + 1)...]),
            node: node
        )
        let rowBytes = paramDims[(batch + 1)...].reduce(1, *) * params.dtype.byteSize
        let batchBytes = limit * rowBytes
        for (position, row) in rows.enumerated() {
            let source = (position / Swift.max(perBatch, 1)) * batchBytes + row * rowBytes
            (out.buffer.base + position * rowBytes).copyMemory(from: params.buffer.base + source, byteCount: rowBytes)
        }
        return out
    }

    /// `1,1` for flat position 3 of a `[2, 2]` tensor, as TensorFlow prints an index's place.
    private static func coordinatesText(_ position: Int, of dimensions: [Int]) -> String {
        var rest = position
        var coordinates: [Int] = []
        for size in dimensions.reversed() {
            coordinates.append(size > 0 ? rest % size : 0)
            rest = size > 0 ? rest / size : 0
        }
        return coordinates.reversed().map(String.init).joined(separator: ",")
    }
}
