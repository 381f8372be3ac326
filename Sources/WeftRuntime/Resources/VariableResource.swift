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

    /// Replaces the values of several variables at once, as an optimizer updates a variable
    /// and its slots: `update` gets their current values in order and returns the new ones,
    /// which are swapped in together while every variable is locked, so no reader sees a half
    /// update. Locks are taken in one global order, so overlapping updates never deadlock; a
    /// variable listed twice is locked once and gets the last of its new values.
    public static func update(
        _ variables: [VariableResource],
        _ update: ([Tensor]) throws(WeftError) -> [Tensor]
    ) throws(WeftError) {
        var unique: [VariableResource] = []
        for variable in variables where !unique.contains(where: { $0 === variable }) { unique.append(variable) }
        unique.sort { ObjectIdentifier($0) < ObjectIdentifier($1) }
        var values: [Tensor] = []
        values.reserveCapacity(unique.count)
        try lock(unique[...], values: &values) { (locked: inout [Tensor]) throws(WeftError) in
            let old = variables.map { variable in locked[unique.firstIndex { $0 === variable } ?? 0] }
            let new = try update(old)
            for (variable, value) in zip(variables, new) {
                locked[unique.firstIndex { $0 === variable } ?? 0] = value
            }
        }
    }

    /// Locks `variables` one after the other, appending each value to `values`; with all held,
    /// runs `body`, then stores each (possibly replaced) value back as the locks are released.
    private static func lock(
        _ variables: ArraySlice<VariableResource>,
        values: inout [Tensor],
        _ body: (inout [Tensor]) throws(WeftError) -> Void
    ) throws(WeftError) {
        guard let first = variables.first else { return try body(&values) }
        try first.value.withLock { (current: inout Tensor?) throws(WeftError) in
            guard let old = current else {
                throw WeftError(.failedPrecondition, "Attempting to use uninitialized value \(first.name)")
            }
            let position = values.count
            values.append(old)
            try lock(variables.dropFirst(), values: &values, body)
            current = values[position]
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
    /// Resource variables (`VarHandleOp`), by TensorFlow's container and name: a namespace of
    /// their own, as TensorFlow keeps them apart from `VariableV2`'s by type.
    private let resourceVariables = Mutex<[ResourceKey: VariableResource]>([:])
    /// Other resources that live as long as the container (queues, accumulators), by
    /// TensorFlow's container and shared name.
    private let resources = Mutex<[ResourceKey: any AnyObject & Sendable]>([:])

    /// A resource's container and name.
    public struct ResourceKey: Sendable, Hashable {
        /// The container; empty for the default one.
        public var container: String
        /// The name in the container.
        public var name: String

        /// Makes a key.
        public init(container: String, name: String) {
            self.container = container
            self.name = name
        }
    }

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

    /// The resource variable at `key`, or `nil` when none was created there.
    public func resourceVariable(_ key: ResourceKey) -> VariableResource? {
        resourceVariables.withLock { $0[key] }
    }

    /// The resource variable at `key`, created uninitialized with `dtype` when missing
    /// (TensorFlow's `AssignVariableOp` creates the variable it assigns).
    public func resourceVariable(_ key: ResourceKey, creatingWith dtype: DType) -> VariableResource {
        resourceVariables.withLock { table in
            if let existing = table[key] { return existing }
            let created = VariableResource(name: key.name, dtype: dtype, shape: .unknown)
            table[key] = created
            return created
        }
    }

    /// The resource at `key`, made by `make` and stored when there is none, as TensorFlow's
    /// `LookupOrCreate`; one of another type there is TensorFlow's `invalidArgument`.
    public func resource<Resource: AnyObject & Sendable>(
        _ key: ResourceKey,
        creatingWith make: () throws(WeftError) -> Resource
    ) throws(WeftError) -> Resource {
        let found = try resources.withLock {
            (table: inout [ResourceKey: any AnyObject & Sendable]) throws(WeftError) -> any AnyObject & Sendable in
            if let existing = table[key] { return existing }
            let made = try make()
            table[key] = made
            return made
        }
        guard let typed = found as? Resource else {
            throw WeftError(
                .invalidArgument,
                "resource \(key.container)/\(key.name) exists as a \(type(of: found)), not a \(Resource.self)"
            )
        }
        return typed
    }

    /// The resource at `key` when there is one of type `Resource`.
    public func resource<Resource: AnyObject & Sendable>(_ key: ResourceKey, as type: Resource.Type) -> Resource? {
        resources.withLock { $0[key] } as? Resource
    }

    /// Deletes the resource variable at `key`; whether there was one.
    public func removeResourceVariable(_ key: ResourceKey) -> Bool {
        resourceVariables.withLock { $0.removeValue(forKey: key) != nil }
    }

    /// The number of variables, of both kinds.
    public var variableCount: Int { variables.withLock { $0.count } + resourceVariables.withLock { $0.count } }

    /// The payload bytes all variables hold.
    public var byteCount: Int {
        variables.withLock { $0.values.reduce(0) { $0 + $1.byteCount } }
            + resourceVariables.withLock { $0.values.reduce(0) { $0 + $1.byteCount } }
    }

    /// Drops every variable and every kernel's state.
    public func removeAll() {
        variables.withLock { $0.removeAll() }
        resourceVariables.withLock { $0.removeAll() }
        kernelStates.withLock { $0.removeAll() }
        resources.withLock { $0.removeAll() }
    }
}
