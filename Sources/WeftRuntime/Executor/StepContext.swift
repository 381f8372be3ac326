import Synchronization

/// Moves tensors between the partitions of one step that run in different processes.
/// `_Send` and `_Recv` kernels call it; keys name the source, destination and tensor.
public protocol Rendezvous: Sendable {
    /// Hands tensors to their consumers in step `step`: one `_Send`'s, or those of the `_Send`s
    /// one thread ran together, which may travel to another process in one message.
    func send(_ sends: [RendezvousSend], step: UInt64) throws(WeftError)
    /// Calls `done` once the tensor for `key` in step `step` is there (`nil` when it is dead), or
    /// the step failed.
    func receive(key: String, step: UInt64, done: @escaping @Sendable (Result<Tensor?, WeftError>) -> Void)
    /// Fails every pending and future receive of step `step` with `error`: the step failed
    /// elsewhere and the tensors it waits for will never come.
    func abort(step: UInt64, error: WeftError)
}

/// One tensor a `_Send` hands to the rendezvous.
public struct RendezvousSend: Sendable {
    /// `send_device;recv_device;tensor_name`, and the loop iteration inside loops.
    public var key: String
    /// `nil` for a dead tensor (an untaken branch of a cond, a loop's last iteration).
    public var tensor: Tensor?

    /// A tensor for the consumer of `key`.
    public init(key: String, tensor: Tensor?) {
        self.key = key
        self.tensor = tensor
    }
}

/// What every kernel of one step can reach: the session's resources, the step id, and the
/// rendezvous when the step spans processes.
public final class StepContext: Sendable {
    /// The step's id, unique within the session.
    public let id: UInt64
    /// The session's variables on this process.
    public let resources: ResourceContainer
    /// The rendezvous for `_Send`/`_Recv`; `nil` in a local session.
    public let rendezvous: (any Rendezvous)?
    /// Where node timings go when the caller asked for them; `nil` for ordinary steps.
    public let statistics: StepStatisticsCollector?
    /// The step's deadline and its owner's cancel; loops check it every iteration.
    public let cancellation: StepCancellation
    /// The step's own resources (TensorArrays, stacks), freed with the context when it ends.
    public let stepResources = StepResources()

    /// Makes a step context.
    public init(
        id: UInt64,
        resources: ResourceContainer,
        rendezvous: (any Rendezvous)? = nil,
        statistics: StepStatisticsCollector? = nil,
        cancellation: StepCancellation = StepCancellation()
    ) {
        self.id = id
        self.resources = resources
        self.rendezvous = rendezvous
        self.statistics = statistics
        self.cancellation = cancellation
    }
}

/// Why a step must stop before it finishes: its deadline passed, or its owner cancelled it (the
/// session closed). Work that may run without bound, such as a loop's iterations, checks it, so a
/// loop that never ends fails at the deadline and frees what it holds.
public final class StepCancellation: Sendable {
    /// When the step fails with `deadlineExceeded`; `nil` for no deadline.
    public let deadline: ContinuousClock.Instant?
    private struct State {
        var reason: WeftError?
        /// Called once when the step is cancelled: what blocking kernels wait for.
        var handlers: [Int: @Sendable (WeftError) -> Void] = [:]
        var nextHandler = 0
    }
    private let state = Mutex(State())

    /// A cancellation that fires at `deadline`, if given, or when `cancel` is called.
    public init(deadline: ContinuousClock.Instant? = nil) {
        self.deadline = deadline
    }

    /// Stops the step with `error`; the first reason given wins and reaches every handler.
    public func cancel(_ error: WeftError) {
        let handlers = state.withLock { state -> [@Sendable (WeftError) -> Void] in
            guard state.reason == nil else { return [] }
            state.reason = error
            defer { state.handlers.removeAll() }
            return Array(state.handlers.values)
        }
        for handler in handlers { handler(error) }
    }

    /// Calls `handler` once when the step is cancelled (at once, here, when it was already),
    /// so a kernel that waits (a queue's dequeue) stops waiting. The deadline is not watched:
    /// the kernel arms its own timer. Returns the token `removeHandler` takes.
    @discardableResult
    public func onCancel(_ handler: @escaping @Sendable (WeftError) -> Void) -> Int {
        let (token, reason) = state.withLock { state -> (Int, WeftError?) in
            state.nextHandler += 1
            if state.reason == nil { state.handlers[state.nextHandler] = handler }
            return (state.nextHandler, state.reason)
        }
        if let reason { handler(reason) }
        return token
    }

    /// Forgets a handler `onCancel` registered: what it waited for ended.
    public func removeHandler(_ token: Int) {
        state.withLock { _ = $0.handlers.removeValue(forKey: token) }
    }

    /// Throws why the step must stop, if it must.
    public func check() throws(WeftError) {
        if let error = state.withLock({ $0.reason }) { throw error }
        if let deadline, ContinuousClock.now >= deadline {
            throw WeftError(.deadlineExceeded, "the step passed its deadline")
        }
    }
}
