import Synchronization

/// A variable of one session: a name, its declared dtype and shape, and a value once assigned.
public final class VariableResource: Sendable {
    /// The variable's name, as messages print it (`foo`).
    public let name: String
    /// The dtype every value must have.
    public let dtype: DType
    /// The declared shape; assignments must fit it when they validate shapes.
    public let shape: PartialShape
    private let value = Mutex<Tensor?>(nil)

    /// Makes an uninitialized variable.
    public init(name: String, dtype: DType, shape: PartialShape) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    /// The current value, or TensorFlow's `failedPrecondition` for an uninitialized variable.
    public func read() throws(WeftError) -> Tensor {
        guard let tensor = value.withLock({ $0 }) else {
            throw WeftError(.failedPrecondition, "Attempting to use uninitialized value \(name)")
        }
        return tensor
    }

    /// Whether a value was assigned.
    public var isInitialized: Bool { value.withLock { $0 != nil } }

    /// The payload bytes held, for memory reports.
    public var byteCount: Int { value.withLock { $0?.byteCount ?? 0 } }

    /// Replaces the value after checking its dtype and, if asked, its shape.
    public func assign(_ tensor: Tensor, validateShape: Bool) throws(WeftError) {
        try check(tensor, validateShape: validateShape)
        value.withLock { $0 = tensor }
    }

    /// Replaces the value with `update(current)` atomically; fails on an uninitialized variable.
    public func update(_ update: (Tensor) throws(WeftError) -> Tensor) throws(WeftError) -> Tensor {
        try value.withLock { (current: inout Tensor?) throws(WeftError) -> Tensor in
            guard let old = current else {
                throw WeftError(.failedPrecondition, "Attempting to use uninitialized value \(name)")
            }
            let new = try update(old)
            current = new
            return new
        }
    }

    private func check(_ tensor: Tensor, validateShape: Bool) throws(WeftError) {
        guard tensor.dtype == dtype else {
            throw WeftError(
                .invalidArgument,
                "cannot assign a \(tensor.dtype) value to variable \(name) of type \(dtype)"
            )
        }
        guard !validateShape || shape.isCompatible(with: tensor.shape) else {
            throw WeftError(
                .invalidArgument,
                "Assign requires shapes of both tensors to match. lhs shape= \(shape) rhs shape= \(tensor.shape) (variable \(name))"
            )
        }
    }
}

/// The resources of one session on one process: its variables, by name. Sessions never share
/// a container, so no session sees another's values; closing a session drops its container.
public final class ResourceContainer: Sendable {
    private let variables = Mutex<[String: VariableResource]>([:])
    private let kernelStates = Mutex<[String: any AnyObject & Sendable]>([:])

    /// Makes an empty container.
    public init() {}

    /// The variable named `name`, created uninitialized on first use. A second declaration with
    /// another dtype is an `invalidArgument`.
    public func variable(named name: String, dtype: DType, shape: PartialShape) throws(WeftError) -> VariableResource {
        let variable = variables.withLock { table in
            if let existing = table[name] { return existing }
            let created = VariableResource(name: name, dtype: dtype, shape: shape)
            table[name] = created
            return created
        }
        guard variable.dtype == dtype else {
            throw WeftError(
                .invalidArgument,
                "variable \(name) exists with type \(variable.dtype) and cannot be used as \(dtype)"
            )
        }
        return variable
    }

    /// The state a stateful kernel keeps for the session's whole life (a random op's generator),
    /// made by `make` on the node's first run. Plans are rebuilt per run signature and when the
    /// graph grows, so state kept in a kernel would restart; TensorFlow keeps such kernels per
    /// session and node, and so does this.
    public func kernelState<State: AnyObject & Sendable>(
        node: String,
        make: () -> State
    ) throws(WeftError) -> State {
        let state = kernelStates.withLock { table in
            if let existing = table[node] { return existing }
            let created = make()
            table[node] = created
            return created
        }
        guard let typed = state as? State else {
            throw WeftError(.internal, "node '\(node)' has kept state of another kind (\(type(of: state)))")
        }
        return typed
    }

    /// The number of variables.
    public var variableCount: Int { variables.withLock { $0.count } }

    /// The payload bytes all variables hold.
    public var byteCount: Int { variables.withLock { $0.values.reduce(0) { $0 + $1.byteCount } } }

    /// Drops every variable and every kernel's state.
    public func removeAll() {
        variables.withLock { $0.removeAll() }
        kernelStates.withLock { $0.removeAll() }
    }
}
