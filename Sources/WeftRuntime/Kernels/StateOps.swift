/// Variables: `VariableV2` and the ops that update it in place.
enum StateOps {
    static let definitions: [OpDefinition] = [
        OpDefinition(
            "VariableV2",
            inputCount: 0,
            isStateful: true,
            isExpensive: false,
            outputTypes: { node, _ throws(WeftError) in [OutputType(try node.attributes.type("dtype"), isRef: true)] },
            makeKernel: { node throws(WeftError) in
                let dtype = try node.attributes.type("dtype")
                let shape = try node.attributes.shape("shape")
                let sharedName = try node.attributes.string("shared_name", default: "")
                let container = try node.attributes.string("container", default: "")
                let key = (container.isEmpty ? "" : container + "/") + (sharedName.isEmpty ? node.name : sharedName)
                return ClosureKernel { context throws(WeftError) in
                    [.ref(try context.step.resources.variable(named: key, dtype: dtype, shape: shape))]
                }
            }
        ),
        OpDefinition(
            "Assign",
            inputCount: 2,
            refInputs: [0],
            isStateful: true,
            outputTypes: refOfInput,
            makeKernel: { node throws(WeftError) in
                let validate = try node.attributes.bool("validate_shape", default: true)
                return ClosureKernel { context throws(WeftError) in
                    let variable = try context.variable(0)
                    try variable.assign(try context.input(1), validateShape: validate)
                    return [.ref(variable)]
                }
            }
        ),
        update("AssignAdd", BinaryOp.add),
        update("AssignSub", BinaryOp.sub),
    ]

    static let refOfInput: @Sendable (NodeInfo, [OutputType]) throws(WeftError) -> [OutputType] = {
        node,
        inputs throws(WeftError) in
        guard let first = inputs.first else {
            throw WeftError(.invalidArgument, "node '\(node.name)' needs a variable as its first input")
        }
        return [OutputType(first.dtype, isRef: true)]
    }

    /// `AssignAdd` / `AssignSub`: variable = variable ∘ value, with the value's shape equal to the variable's.
    private static func update(_ op: String, _ binary: BinaryOp) -> OpDefinition {
        OpDefinition(
            op,
            inputCount: 2,
            refInputs: [0],
            isStateful: true,
            outputTypes: refOfInput,
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let variable = try context.variable(0)
                    let delta = try context.input(1)
                    _ = try variable.update { (old: Tensor) throws(WeftError) -> Tensor in
                        guard old.shape == delta.shape else {
                            throw WeftError(
                                .invalidArgument,
                                "\(op) requires the value's shape \(delta.shape) to equal variable \(variable.name)'s shape \(old.shape)"
                            )
                        }
                        return try binary.applyWidening(old, delta, op: op, node: context.node)
                    }
                    return [.ref(variable)]
                }
            }
        )
    }
}

/// Ops every graph uses: constants, placeholders, identity and grouping.
enum CoreOps {
    static let definitions: [OpDefinition] = [
        OpDefinition(
            "Const",
            inputCount: 0,
            isExpensive: false,
            outputTypes: OpDefinition.outputOfAttribute("dtype"),
            makeKernel: { node throws(WeftError) in
                let value = try node.attributes.tensor("value")
                let dtype = try node.attributes.type("dtype")
                guard value.dtype == dtype else {
                    throw WeftError(
                        .invalidArgument,
                        "node '\(node.name)': value is \(value.dtype) but dtype is \(dtype)"
                    )
                }
                return ClosureKernel { _ in [.tensor(value)] }
            }
        ),
        OpDefinition(
            "Placeholder",
            inputCount: 0,
            isExpensive: false,
            outputTypes: OpDefinition.outputOfAttribute("dtype"),
            makeKernel: { node throws(WeftError) in
                let dtype = try node.attributes.type("dtype")
                let shape = try node.attributes.shape("shape")
                let message =
                    "You must feed a value for placeholder tensor '\(node.name)' with dtype \(dtype)"
                    + (shape.dimensions == nil ? "" : " and shape \(shape)")
                return ClosureKernel { _ throws(WeftError) in throw WeftError(.invalidArgument, message) }
            }
        ),
        OpDefinition(
            "PlaceholderWithDefault",
            inputCount: 1,
            isExpensive: false,
            outputTypes: OpDefinition.outputOfAttribute("dtype"),
            makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try context.input(0))] } }
        ),
        OpDefinition(
            "IsVariableInitialized",
            inputCount: 1,
            refInputs: [0],
            isStateful: true,
            isExpensive: false,
            outputTypes: { _, _ in [OutputType(.bool)] },
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    [.tensor(Tensor(try context.variable(0).isInitialized))]
                }
            }
        ),
        identity("Identity"),
        identity("StopGradient"),
        identity("Snapshot"),
        OpDefinition(
            "NoOp",
            inputCount: 0,
            isExpensive: false,
            outputTypes: OpDefinition.noOutputs,
            makeKernel: { _ in ClosureKernel { _ in [] } }
        ),
    ]

    /// Reads its input: for a variable reference, the value at the time the node runs.
    private static func identity(_ op: String) -> OpDefinition {
        OpDefinition(
            op,
            inputCount: 1,
            isExpensive: false,
            outputTypes: { node, inputs throws(WeftError) in
                guard let first = inputs.first else {
                    throw WeftError(.invalidArgument, "node '\(node.name)' needs one input")
                }
                return [OutputType(first.dtype)]
            },
            makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try context.input(0))] } }
        )
    }
}
