import WeftPlacement
import WeftRuntime

/// A worker's registration with the coordinator and its heartbeats: a pure state machine. The
/// worker feeds it the answers it gets and carries out the directives it returns (send, wait,
/// log), so the rules are tested without sockets or timers.
///
/// Registration is retried until the coordinator answers; heartbeats follow at the interval
/// the coordinator asks for; a heartbeat answered `notFound` (the coordinator restarted, or
/// gave up on this worker) registers again. A failed heartbeat of any other kind waits for the
/// next one: the coordinator declares the worker dead if it stays silent.
public struct WorkerRegistration: Sendable {
    /// What the worker must do.
    public enum Directive: Sendable, Equatable {
        /// Send a registration after this pause.
        case register(after: Duration)
        /// Send a heartbeat after this pause.
        case heartbeat(after: Duration)
        /// Registration succeeded; `first` the first time, `coordinatorRestarted` when the
        /// coordinator is another process than the one registered with before.
        case registered(DeviceName, first: Bool, coordinatorRestarted: Bool)
        /// Registration failed; `isNew` when the reason differs from the last attempt's, so it
        /// is worth telling the operator.
        case registrationFailed(WeftError, isNew: Bool)
        /// The coordinator no longer knows this worker.
        case forgotten
    }

    /// The pause between registration attempts.
    public static let retryPause: Duration = .milliseconds(300)
    /// The shortest heartbeat interval taken from a coordinator.
    public static let shortestInterval: Duration = .milliseconds(50)

    /// The task held once registered.
    public private(set) var device: DeviceName?
    /// The pause between heartbeats, as the coordinator asked.
    public private(set) var interval: Duration = .milliseconds(300)
    /// Why the last registration attempt failed; `nil` once one succeeded.
    public private(set) var lastError: WeftError?
    /// The coordinator process registered with last; 0 before the first registration.
    public private(set) var coordinatorIncarnation: UInt64 = 0
    /// Set by `stop`: nothing more is sent.
    public private(set) var stopped = false

    /// Makes a machine that has not registered.
    public init() {}

    /// Starts: register at once.
    public mutating func start() -> [Directive] {
        stopped ? [] : [.register(after: .zero)]
    }

    /// Stops: every later event returns no directive.
    public mutating func stop() { stopped = true }

    /// The coordinator accepted the registration as `device`.
    public mutating func registered(
        as device: DeviceName,
        heartbeatInterval: Duration,
        coordinatorIncarnation: UInt64
    ) -> [Directive] {
        let first = self.device == nil
        let restarted = self.coordinatorIncarnation != 0 && self.coordinatorIncarnation != coordinatorIncarnation
        self.device = device
        interval = max(heartbeatInterval, Self.shortestInterval)
        lastError = nil
        self.coordinatorIncarnation = coordinatorIncarnation
        guard !stopped else { return [] }
        return [.registered(device, first: first, coordinatorRestarted: restarted), .heartbeat(after: interval)]
    }

    /// The registration failed, refused or unanswered.
    public mutating func registrationFailed(_ error: WeftError) -> [Directive] {
        let isNew = lastError != error
        lastError = error
        guard !stopped else { return [] }
        return [.registrationFailed(error, isNew: isNew), .register(after: Self.retryPause)]
    }

    /// A heartbeat was answered (`nil`) or failed; an answer may set the interval from now on
    /// (the coordinator slows the pace as the cluster grows).
    public mutating func heartbeatAnswered(_ error: WeftError?, interval: Duration? = nil) -> [Directive] {
        guard !stopped else { return [] }
        if let interval, interval > .zero { self.interval = max(interval, Self.shortestInterval) }
        if let error, error.code == .notFound { return [.forgotten, .register(after: .zero)] }
        return [.heartbeat(after: self.interval)]
    }
}
