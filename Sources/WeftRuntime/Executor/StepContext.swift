import Synchronization

/// Moves tensors between the partitions of one step that run in different processes.
/// `_Send` and `_Recv` kernels call it; keys name the source, destination and tensor.
public protocol Rendezvous: Sendable {
    /// Hands a tensor to the consumer of `key` in step `step`.
    func send(key: String, step: UInt64, tensor: Tensor) throws(WeftError)
    /// Calls `done` once the tensor for `key` in step `step` is there, or the step failed.
    func receive(key: String, step: UInt64, done: @escaping @Sendable (Result<Tensor, WeftError>) -> Void)
    /// Fails every pending and future receive of step `step` with `error`: the step failed
    /// elsewhere and the tensors it waits for will never come.
    func abort(step: UInt64, error: WeftError)
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

    /// Makes a step context.
    public init(
        id: UInt64,
        resources: ResourceContainer,
        rendezvous: (any Rendezvous)? = nil,
        statistics: StepStatisticsCollector? = nil
    ) {
        self.id = id
        self.resources = resources
        self.rendezvous = rendezvous
        self.statistics = statistics
    }
}
