import WeftPlacement
import WeftRuntime
import WeftTransport

/// The rules of one distributed step, as a pure state machine: the coordinator feeds it what
/// happened (a partition registered or replied, a worker died, time passed, the step was
/// cancelled) with the time it happened, and carries out the directives it returns. It holds
/// no sockets and reads no clock, so every rule is tested by driving it with events.
///
/// A step registers the partitions its workers lack, then runs every partition; the first
/// failure ends it, and every later event (a reply that arrives after the failure, a second
/// copy of a reply) changes nothing.
struct StepMachine: Sendable {
    /// Where the step is.
    enum Phase: Sendable, Equatable {
        /// Waiting for workers to confirm the partitions they lacked.
        case registering
        /// Waiting for every partition's reply.
        case running
        /// Every partition replied; the client has its answer.
        case done
        /// The step failed; the client has the error.
        case failed(WeftError)
    }

    /// Something that happened to the step.
    enum Event: Sendable {
        /// A worker confirmed a partition registration.
        case partitionRegistered(DeviceName)
        /// A worker's partition finished the step.
        case partitionReplied(DeviceName, WireMessage)
        /// A registration or a partition run failed: the worker's error, or the transport's.
        case partitionFailed(DeviceName, WeftError)
        /// The coordinator declared a worker dead (or it left).
        case workerDied(DeviceName, WeftError)
        /// A timer fired: the step fails if its current phase's deadline has passed.
        case deadline
        /// The step was called off (its session closed, the coordinator is stopping).
        case cancelled(WeftError)
    }

    /// What the coordinator must do.
    enum Directive: Sendable {
        /// Send a partition's graph to its worker.
        case registerPartition(DeviceName)
        /// Record that these partitions are registered, then run every partition.
        case runPartitions(registered: [DeviceName])
        /// Wake the partitions of a failed step still waiting for tensors.
        case abortPartitions(on: [DeviceName], WeftError)
        /// Answer the client.
        case reply(Result<[DeviceName: WireMessage], WeftError>)
    }

    /// The workers the step runs on.
    let participants: Set<DeviceName>
    /// The workers that lack the step's partition.
    let toRegister: [DeviceName]
    /// How long a worker may take to confirm a registration.
    let registrationTimeout: Duration
    /// How long the step may run (the deadline workers are told).
    let stepTimeout: Duration
    /// How long past `stepTimeout` the coordinator waits, so the worker's own account of why
    /// it stopped (a loop's `deadlineExceeded`), not a bare timeout, reaches the client.
    let grace: Duration

    private(set) var phase = Phase.registering
    /// When the current phase fails if it has not ended.
    private(set) var deadline: ContinuousClock.Instant?
    private var waiting: Set<DeviceName> = []
    private var replies: [DeviceName: WireMessage] = [:]

    /// A step over `participants` of which `toRegister` lack their partition.
    init(
        participants: Set<DeviceName>,
        toRegister: [DeviceName],
        registrationTimeout: Duration,
        stepTimeout: Duration,
        grace: Duration
    ) {
        self.participants = participants
        self.toRegister = toRegister
        self.registrationTimeout = registrationTimeout
        self.stepTimeout = stepTimeout
        self.grace = grace
    }

    /// Starts the step: registers what is missing, or runs at once.
    mutating func start(at now: ContinuousClock.Instant) -> [Directive] {
        guard phase == .registering, deadline == nil else { return [] }
        guard !toRegister.isEmpty else { return run(registered: [], at: now) }
        waiting = Set(toRegister)
        deadline = now + registrationTimeout
        return toRegister.map { .registerPartition($0) }
    }

    /// Takes one event; returns what to do about it.
    mutating func handle(_ event: Event, at now: ContinuousClock.Instant) -> [Directive] {
        switch (phase, event) {
        case (.registering, .partitionRegistered(let device)):
            guard waiting.remove(device) != nil else { return [] }
            return waiting.isEmpty ? run(registered: toRegister, at: now) : []
        case (.running, .partitionReplied(let device, let reply)):
            guard waiting.remove(device) != nil else { return [] }
            replies[device] = reply
            guard waiting.isEmpty else { return [] }
            phase = .done
            deadline = nil
            return [.reply(.success(replies))]
        case (.registering, .partitionFailed(let device, let error)), (.running, .partitionFailed(let device, let error)):
            return waiting.contains(device) ? fail(error) : []
        case (.registering, .workerDied(let device, let error)), (.running, .workerDied(let device, let error)):
            return participants.contains(device) ? fail(error) : []
        case (.registering, .deadline), (.running, .deadline):
            guard let deadline, now >= deadline else { return [] }
            return fail(deadlineError())
        case (.registering, .cancelled(let error)), (.running, .cancelled(let error)):
            return fail(error)
        default:
            // A reply of the wrong phase, or anything after the step ended: nothing to do.
            return []
        }
    }

    private mutating func run(registered: [DeviceName], at now: ContinuousClock.Instant) -> [Directive] {
        phase = .running
        waiting = participants
        deadline = now + stepTimeout + grace
        if participants.isEmpty {
            phase = .done
            deadline = nil
            return [.runPartitions(registered: registered), .reply(.success([:]))]
        }
        return [.runPartitions(registered: registered)]
    }

    private mutating func fail(_ error: WeftError) -> [Directive] {
        let ran = phase == .running
        phase = .failed(error)
        deadline = nil
        waiting = []
        replies = [:]
        guard ran else { return [.reply(.failure(error))] }
        return [.abortPartitions(on: participants.sorted(), error), .reply(.failure(error))]
    }

    private func deadlineError() -> WeftError {
        let silent = waiting.sorted().map(\.description).joined(separator: ", ")
        if phase == .registering {
            return WeftError(
                .deadlineExceeded,
                "registering the step's partitions took longer than \(registrationTimeout); no answer from \(silent)"
            )
        }
        return WeftError(.deadlineExceeded, "the step did not finish within \(stepTimeout); no reply from \(silent)")
    }
}
