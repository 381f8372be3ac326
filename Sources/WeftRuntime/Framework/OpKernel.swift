import Synchronization

/// What flows along an edge while a step runs: a tensor, or a reference to a variable that the
/// consumer reads (or updates) when it runs, as TensorFlow's `*_REF` outputs do.
public enum Value: Sendable {
    /// An immutable tensor.
    case tensor(Tensor)
    /// A session's variable, dereferenced by the consumer.
    case ref(VariableResource)

    /// The tensor, reading a referenced variable now.
    public func read() throws(WeftError) -> Tensor {
        switch self {
        case .tensor(let tensor): tensor
        case .ref(let variable): try variable.read()
        }
    }

    /// The tensor moved out of this value (reading a referenced variable now): unlike `read()`,
    /// it retains nothing.
    consuming func take() throws(WeftError) -> Tensor {
        switch consume self {
        case .tensor(let tensor): tensor
        case .ref(let variable): try variable.read()
        }
    }
}

/// The inputs of one kernel invocation and the step it belongs to.
public struct OpKernelContext: Sendable {
    /// The node being run. Settable inside the module: an executor reuses one context, and its
    /// inputs array, for every node it runs.
    public internal(set) var node: String
    /// The input values, data inputs only, in order.
    public internal(set) var inputs: [Value]
    /// The step: the session's resources, the rendezvous for cross-process edges.
    public let step: StepContext

    /// Makes a context; the executor does this for every node it runs.
    public init(node: String, inputs: [Value], step: StepContext) {
        self.node = node
        self.inputs = inputs
        self.step = step
    }

    /// Input `index` as a tensor, reading a referenced variable now.
    public func input(_ index: Int) throws(WeftError) -> Tensor {
        try inputs[index].read()
    }

    /// Removes the last data input and returns it as a tensor, reading a referenced variable
    /// now. The kernel then holds the value: when nothing else does
    /// (`Tensor.isWritableInPlace`), it may write its output into the tensor's buffer, as
    /// TensorFlow's kernels forward an input's buffer.
    mutating func popInput() throws(WeftError) -> Tensor {
        guard let value = inputs.popLast() else {
            throw WeftError(.internal, "node '\(node)': a kernel took more inputs than it has")
        }
        return try value.take()
    }

    /// Input `index` as a variable reference; for ops like `Assign` that update it.
    public func variable(_ index: Int) throws(WeftError) -> VariableResource {
        guard case .ref(let variable) = inputs[index] else {
            throw WeftError(.invalidArgument, "node '\(node)': input \(index) must be a variable reference")
        }
        return variable
    }
}

/// The computation of one op on one node, built once per node when a step plan is made.
public protocol OpKernel: Sendable {
    /// Computes the node's outputs from its inputs.
    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value]
}

/// A kernel with exactly one output. An executor that knows this takes the value as it is: an
/// output array costs an allocation, more than element-wise math on a scalar does.
public protocol SingleOutputKernel: OpKernel {
    /// Computes the node's one output from its inputs. The kernel may take the inputs out of
    /// `context` (`popInput()`), leaving fewer.
    func computeOutput(_ context: inout OpKernelContext) throws(WeftError) -> Value
}

extension SingleOutputKernel {
    /// The one output, in an array.
    public func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        // The copy shares its inputs with the caller's: nothing taken from it is held only here.
        var context = context
        return [try computeOutput(&context)]
    }
}

/// A kernel made from a closure, for ops whose computation needs no per-node state beyond
/// what the closure captures.
public struct ClosureKernel: OpKernel {
    let body: @Sendable (OpKernelContext) throws(WeftError) -> [Value]

    /// Wraps `body` as a kernel.
    public init(_ body: @escaping @Sendable (OpKernelContext) throws(WeftError) -> [Value]) {
        self.body = body
    }

    /// Runs the closure.
    public func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] { try body(context) }
}

/// A kernel of one output made from a closure.
public struct SingleOutputClosureKernel: SingleOutputKernel {
    let body: @Sendable (OpKernelContext) throws(WeftError) -> Value

    /// Wraps `body` as a kernel.
    public init(_ body: @escaping @Sendable (OpKernelContext) throws(WeftError) -> Value) {
        self.body = body
    }

    /// Runs the closure.
    public func computeOutput(_ context: inout OpKernelContext) throws(WeftError) -> Value { try body(context) }
}

/// A kernel that finishes later, such as `_Recv` waiting for a tensor from another worker.
/// The executor calls `computeAsync` instead of `compute` and keeps no thread blocked.
public protocol AsyncOpKernel: OpKernel {
    /// Starts the computation; `done` is called exactly once, on any thread.
    func computeAsync(_ context: OpKernelContext, done: @escaping @Sendable (Result<[Value], WeftError>) -> Void)
}

extension AsyncOpKernel {
    /// Async kernels are never run synchronously.
    public func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        throw WeftError(.internal, "node '\(context.node)': asynchronous kernel run synchronously")
    }
}
