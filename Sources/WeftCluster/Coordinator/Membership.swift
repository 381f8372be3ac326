import WeftPlacement
import WeftRuntime

/// The coordinator's view of its workers: who registered, from where, and whether they still
/// send heartbeats. A pure state machine, part of `ClusterState`: it is fed events with the
/// time they happened, and its caller acts on what it returns, so it is tested without sockets
/// or clocks.
public struct Membership: Sendable {
    /// One registered worker.
    public struct Worker: Sendable {
        /// Its task.
        public var device: DeviceName
        /// Where its ROUTER listens.
        public var address: String
        /// Changes whenever the worker process restarts.
        public var incarnation: UInt64
        /// When it was last heard from.
        public var lastSeen: ContinuousClock.Instant
        /// Whether heartbeats arrive in time.
        public var healthy: Bool
        /// Sessions it hosts, from its last heartbeat.
        public var sessions: UInt32 = 0
        /// Resident memory, from its last heartbeat.
        public var residentBytes: UInt64 = 0
        /// How fast it computes, once it has measured itself.
        public var rates: CostModel.Rates?
        /// Its tensor memory, from its last heartbeat.
        public var memory = MemoryUse()
    }

    /// A worker's tensor memory: what its buffers hold and the most they may hold.
    public struct MemoryUse: Sendable, Hashable {
        /// Bytes tensor buffers hold.
        public var tensorBytes: UInt64 = 0
        /// The process's budget for them.
        public var limitBytes: UInt64 = 0

        /// Makes a record; zeros when the worker has not said.
        public init(tensorBytes: UInt64 = 0, limitBytes: UInt64 = 0) {
            self.tensorBytes = tensorBytes
            self.limitBytes = limitBytes
        }
    }

    /// What a registration did.
    public enum Registration: Sendable, Equatable {
        /// A task joined for the first time.
        case joined(DeviceName)
        /// A known task came back with the same process (after a network cut).
        case rejoined(DeviceName)
        /// A known task came back as a new process: state held by the old one is gone.
        case restarted(DeviceName)

        /// The task registered.
        public var device: DeviceName {
            switch self {
            case .joined(let device), .rejoined(let device), .restarted(let device): device
            }
        }
    }

    /// Workers by task.
    public private(set) var workers: [DeviceName: Worker] = [:]
    /// Silence after which a worker is declared dead.
    public internal(set) var heartbeatTimeout: Duration

    /// Makes an empty membership.
    public init(heartbeatTimeout: Duration) {
        self.heartbeatTimeout = heartbeatTimeout
    }

    /// Registers a worker. `task` `nil` asks for the lowest free task of the job (or the task
    /// this address held before). A task held by another live process is `alreadyExists`.
    public mutating func register(
        job: String,
        task: Int?,
        address: String,
        incarnation: UInt64,
        now: ContinuousClock.Instant
    ) throws(WeftError) -> Registration {
        guard !job.isEmpty, !job.contains("/"), !job.contains(":") else {
            throw WeftError(.invalidArgument, "'\(job)' is not a valid job name")
        }
        let device = DeviceName(
            job: job,
            task: task ?? assignTask(job: job, address: address, incarnation: incarnation)
        )
        let registration: Registration
        if let existing = workers[device] {
            if existing.incarnation == incarnation {
                registration = .rejoined(device)
            } else if existing.healthy && existing.address != address {
                throw WeftError(
                    .alreadyExists,
                    "\(device) is held by a live worker at \(existing.address); stop it or choose another task"
                )
            } else {
                registration = .restarted(device)
            }
        } else {
            registration = .joined(device)
        }
        workers[device] = Worker(
            device: device,
            address: address,
            incarnation: incarnation,
            lastSeen: now,
            healthy: true
        )
        return registration
    }

    private func assignTask(job: String, address: String, incarnation: UInt64) -> Int {
        let tasks = workers.values.filter { $0.device.job == job }
        if let same = tasks.first(where: { $0.address == address || $0.incarnation == incarnation }) {
            return same.device.task
        }
        let used = Set(tasks.filter(\.healthy).map(\.device.task))
        return (0...).first { !used.contains($0) }!  // some index is always free
    }

    /// Records a heartbeat. Returns `false` when the worker is unknown or a different process
    /// holds its task, so the worker registers again.
    public mutating func heartbeat(
        device: DeviceName,
        incarnation: UInt64,
        sessions: UInt32,
        residentBytes: UInt64,
        rates: CostModel.Rates? = nil,
        memory: MemoryUse = MemoryUse(),
        now: ContinuousClock.Instant
    ) -> Bool {
        guard var worker = workers[device], worker.incarnation == incarnation else { return false }
        worker.lastSeen = now
        worker.healthy = true
        worker.sessions = sessions
        worker.residentBytes = residentBytes
        worker.memory = memory
        worker.rates = rates ?? worker.rates
        workers[device] = worker
        return true
    }

    /// Declares dead the workers silent for longer than the timeout; returns the newly dead.
    public mutating func expire(now: ContinuousClock.Instant) -> [DeviceName] {
        var dead: [DeviceName] = []
        for (device, worker) in workers where worker.healthy && now - worker.lastSeen > heartbeatTimeout {
            workers[device]?.healthy = false
            dead.append(device)
        }
        return dead.sorted()
    }

    /// Marks a worker dead at once, as when a request to it went unanswered.
    public mutating func markUnreachable(_ device: DeviceName) {
        workers[device]?.healthy = false
    }

    /// The devices of healthy workers, sorted.
    public var healthyDevices: [DeviceName] { workers.values.filter(\.healthy).map(\.device).sorted() }

    /// The worker holding `device`, if registered.
    public subscript(device: DeviceName) -> Worker? { workers[device] }
}
