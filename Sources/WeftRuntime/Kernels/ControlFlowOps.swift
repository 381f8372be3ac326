/// TensorFlow's dataflow control flow, as `tf.compat.v1` writes it with v2 control flow off:
/// `Switch` and `Merge` for conditionals, `Enter`, `Exit`, `NextIteration` and `LoopCond` for
/// loops, `ControlTrigger`, and the `Ref` forms that carry variable references.
///
/// What these ops do is mostly routing: which output of a `Switch` is live, which input a
/// `Merge` forwards, which frame and iteration a value moves to. The executor does that
/// (`StepExecution`, `ControlFlowKind`); the kernels here only forward their input.
enum ControlFlowOps {
    static let definitions: [OpDefinition] =
        ["Switch", "RefSwitch"].map(switchOp) + ["Merge", "RefMerge"].map(mergeOp)
        + ["Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration"].map(forwarding)
        + [
            OpDefinition(
                "LoopCond",
                inputCount: 1,
                isExpensive: false,
                outputTypes: { node, inputs throws(WeftError) in
                    guard inputs.first?.dtype == .bool else {
                        throw WeftError(.invalidArgument, "LoopCond '\(node.name)' needs a bool input")
                    }
                    return [OutputType(.bool)]
                },
                makeKernel: { _ in readKernel }
            ),
            OpDefinition(
                "ControlTrigger",
                inputCount: 0,
                isExpensive: false,
                outputTypes: OpDefinition.noOutputs,
                makeKernel: { _ in ClosureKernel { _ in [] } }
            ),
        ]

    /// Passes input 0 through unchanged, a variable reference as a reference (the `Ref` forms).
    private static let forwardKernel = ClosureKernel { context throws(WeftError) in
        guard let first = context.inputs.first else {
            throw WeftError(.invalidArgument, "node '\(context.node)' needs one input")
        }
        return [first]
    }

    /// Passes input 0 through, reading a variable reference now, as `Identity` does.
    private static let readKernel = ClosureKernel { context throws(WeftError) in [.tensor(try context.input(0))] }

    /// The type of a forwarded input: a `Ref` op keeps the reference, the other form reads it.
    private static func forwardedType(_ op: String, _ input: OutputType) -> OutputType {
        OutputType(input.dtype, isRef: op.hasPrefix("Ref") && input.isRef)
    }

    private static func forwarding(_ op: String) -> OpDefinition {
        OpDefinition(
            op,
            inputCount: 1,
            refInputs: op.hasPrefix("Ref") ? [0] : [],
            isExpensive: false,
            outputTypes: { node, inputs throws(WeftError) in
                guard let first = inputs.first else {
                    throw WeftError(.invalidArgument, "node '\(node.name)' (\(op)) needs one input")
                }
                return [forwardedType(op, first)]
            },
            makeKernel: { _ in op.hasPrefix("Ref") ? forwardKernel : readKernel }
        )
    }

    private static func switchOp(_ op: String) -> OpDefinition {
        OpDefinition(
            op,
            inputCount: 2,
            refInputs: op == "RefSwitch" ? [0] : [],
            isExpensive: false,
            outputTypes: { node, inputs throws(WeftError) in
                guard inputs.count == 2, inputs[1].dtype == .bool else {
                    throw WeftError(.invalidArgument, "\(op) '\(node.name)' takes data and a bool predicate")
                }
                let routed = forwardedType(op, inputs[0])
                return [routed, routed]
            },
            makeKernel: { _ in RoutedByExecutor(op: op) }
        )
    }

    private static func mergeOp(_ op: String) -> OpDefinition {
        OpDefinition(
            op,
            inputCount: nil,
            isExpensive: false,
            outputTypes: { node, inputs throws(WeftError) in
                guard let first = inputs.first else {
                    throw WeftError(.invalidArgument, "\(op) '\(node.name)' needs at least one input")
                }
                return [forwardedType(op, first), OutputType(.int32)]
            },
            makeKernel: { _ in RoutedByExecutor(op: op) }
        )
    }
}

/// The kernel of `Switch` and `Merge`, whose outputs the executor computes itself: a kernel
/// returns values, and these ops decide which outputs are dead.
struct RoutedByExecutor: OpKernel {
    let op: String

    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        throw WeftError(.internal, "\(op) '\(context.node)' is routed by the executor and has no kernel to run")
    }
}
