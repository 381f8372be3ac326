import Synchronization

/// A stack of tensors of one step (`StackV2`): where v1 loops keep forward values for their
/// gradients to pop in reverse order.
final class StackResource: Sendable {
    /// The stack's unique name, as messages print it.
    let name: String
    /// The dtype every pushed tensor must have.
    let dtype: DType
    /// The most elements it may hold; `nil` for no bound.
    let maxSize: Int?
    private let state = Mutex<(values: [Tensor], closed: Bool)>(([], false))

    init(name: String, dtype: DType, maxSize: Int?) {
        self.name = name
        self.dtype = dtype
        self.maxSize = maxSize
    }

    /// Pushes `value`; refused when full. A closed stack drops it: TensorFlow's push does not
    /// fail there, and the next pop reports the closed stack.
    func push(_ value: Tensor, node: String) throws(WeftError) {
        try state.withLock { (state: inout (values: [Tensor], closed: Bool)) throws(WeftError) in
            guard !state.closed else { return }
            if let maxSize, state.values.count >= maxSize {
                throw .invalidArgument("Stack[\(name)] overflowed its max_size (\(maxSize))", node: node)
            }
            state.values.append(value)
        }
    }

    /// Pops the top value; `invalidArgument` when the stack is empty or closed.
    func pop(node: String) throws(WeftError) -> Tensor {
        try state.withLock { (state: inout (values: [Tensor], closed: Bool)) throws(WeftError) -> Tensor in
            if state.closed { throw .invalidArgument("Stack[\(name)] has already been closed.", node: node) }
            guard let top = state.values.popLast() else {
                throw .invalidArgument("Stack[\(name)] is empty when calling Pop().", node: node)
            }
            return top
        }
    }

    /// Frees the values; later pushes and pops fail.
    func close() {
        state.withLock { $0 = ([], true) }
    }
}

/// `StackV2`, `StackPushV2`, `StackPopV2` and `StackCloseV2`: stacks that live in the step's
/// resources, reached through a resource handle, as TensorFlow keeps them per step.
enum StackOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [create, push, pop, close]

    /// The container TensorFlow names stack handles with.
    static let container = "_stacks"

    private static let create = OpDefinition(
        "StackV2",
        inputCount: 1,
        isStateful: true,
        isExpensive: false,
        outputTypes: { _, _ in [OutputType(.resource)] },
        makeKernel: { node throws(WeftError) in
            let dtype = try node.attributes.type("elem_type")
            let given = try node.attributes.string("stack_name", default: "")
            let base = given.isEmpty ? node.name : given
            return ClosureKernel { context throws(WeftError) in
                let maxSize = try ElementRows.int32Scalar(try context.input(0), what: "max_size", node: context.node)
                let resources = context.step.stepResources
                let name = resources.uniqueName(base)
                let handle = ResourceHandle(container: container, name: name, device: node.device, dtype: dtype)
                resources.insert(
                    StackResource(name: name, dtype: dtype, maxSize: maxSize < 0 ? nil : maxSize),
                    at: handle.key
                )
                return [.tensor(try Tensor(handles: [handle], shape: .scalar))]
            }
        }
    )

    private static let push = OpDefinition(
        "StackPushV2",
        inputCount: 2,
        isStateful: true,
        outputTypes: OpDefinition.outputOfInput(1),
        makeKernel: { node throws(WeftError) in
            let declared = try node.optionalType("T")
            return ClosureKernel { context throws(WeftError) in
                let stack = try stack(context)
                let value = try context.input(1)
                try KernelChecks.dtype(value, input: 1, expected: declared, op: "StackPushV2", node: context.node)
                guard value.dtype == stack.dtype else {
                    throw .invalidArgument(
                        "Stack[\(stack.name)] holds \(stack.dtype) elements but got a \(value.dtype) tensor",
                        node: context.node
                    )
                }
                try stack.push(value, node: context.node)
                return [.tensor(value)]
            }
        }
    )

    private static let pop = OpDefinition(
        "StackPopV2",
        inputCount: 1,
        isStateful: true,
        outputTypes: OpDefinition.outputOfAttribute("elem_type"),
        makeKernel: { node throws(WeftError) in
            let dtype = try node.attributes.type("elem_type")
            return ClosureKernel { context throws(WeftError) in
                let stack = try stack(context)
                guard stack.dtype == dtype else {
                    throw .invalidArgument(
                        "Stack[\(stack.name)] holds \(stack.dtype) elements but the op pops \(dtype)",
                        node: context.node
                    )
                }
                return [.tensor(try stack.pop(node: context.node))]
            }
        }
    )

    private static let close = OpDefinition(
        "StackCloseV2",
        inputCount: 1,
        isStateful: true,
        isExpensive: false,
        outputTypes: OpDefinition.noOutputs,
        makeKernel: { _ in
            ClosureKernel { context throws(WeftError) in
                try stack(context).close()
                return []
            }
        }
    )

    /// The stack behind the handle in input 0; `notFound` when this step made no such stack.
    private static func stack(_ context: OpKernelContext) throws(WeftError) -> StackResource {
        let handle = try ResourceVariables.handle(context, 0)
        guard let stack = context.step.stepResources.lookup(handle.key, as: StackResource.self) else {
            throw WeftError(
                .notFound,
                "Resource \(handle.path) does not exist: stacks live for one step (node '\(context.node)')"
            )
        }
        return stack
    }
}
