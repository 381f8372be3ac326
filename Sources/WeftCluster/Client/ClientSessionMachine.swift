import WeftRuntime

/// A client's session and its lease on the coordinator: a pure state machine. `RemoteSessionBackend`
/// feeds it what happened (the session opened, a reply came, a timer fired, the user closed) with
/// the time it happened, and carries out the directives it returns: send a keep-alive or a close,
/// wake at an instant, report how closing ended. No sockets, no sleeps, no clock of its own.
///
/// The rules:
/// - An open session renews its lease a third of the lease after the coordinator last heard of
///   it: any reply from the coordinator about the session (a step, an extension, a keep-alive)
///   counts, since the coordinator renews the lease on each.
/// - Closing asks the coordinator until it acknowledges, pausing 50 ms after the first failure
///   and twice as long after each next one, up to 1 s, within `closeTimeout`; an attempt waits at
///   most 2 s or what is left. Past the timeout, closing fails with `deadlineExceeded` (the
///   workers free the session when their lease runs out).
/// - `notFound` closes: an earlier attempt whose answer was lost closed it, or its lease ran out.
///   An error other than `unavailable` or `deadlineExceeded` ends closing with that error.
/// - Once closing starts, the session takes no step and renews nothing; replies that arrive
///   after it (a step's, a keep-alive's, a close attempt's that was retried) change nothing.
struct ClientSessionMachine: Sendable {
    typealias Instant = ContinuousClock.Instant

    /// Where the session stands.
    enum Phase: Sendable, Equatable {
        /// Open; the lease is renewed at `renewal` unless a reply comes first.
        case open(renewal: Instant)
        /// Asking the coordinator to close: attempt number `attempt` is in flight, or failed and
        /// the next starts at `retry`; a failure pauses `pause` before the next, and no attempt
        /// starts after `deadline`.
        case closing(attempt: Int, pause: Duration, deadline: Instant, lastError: WeftError?, retry: Instant?)
        /// Closed, acknowledged by the coordinator.
        case closed
        /// Closing failed; the workers free the session when their lease runs out.
        case failed(WeftError)
    }

    /// What the shell must do.
    enum Directive: Sendable, Equatable {
        /// Call `renewalDue` at this instant.
        case wakeForRenewal(at: Instant)
        /// Send a keep-alive for the client's sessions, waiting at most `timeout` for its reply.
        case sendKeepAlive(timeout: Duration)
        /// Send the close request, waiting at most `timeout` for its reply.
        case sendClose(timeout: Duration)
        /// Call `closeRetryDue` at this instant.
        case wakeForCloseRetry(at: Instant)
        /// Closing ended: the coordinator acknowledged it (or no longer knew the session).
        case closed
        /// Closing ended without an acknowledgement.
        case closeFailed(WeftError)
    }

    /// The pause after the first failed close attempt, and the longest.
    static let firstClosePause = Duration.milliseconds(50)
    static let longestClosePause = Duration.seconds(1)
    /// The longest one close attempt waits for its reply.
    static let closeAttemptTimeout = Duration.seconds(2)

    /// How long the coordinator keeps the session without hearing of it.
    let lease: Duration
    /// How long closing keeps asking.
    let closeTimeout: Duration
    /// The session's handle and the coordinator's address, for error messages.
    let handle: String
    let coordinator: String

    private(set) var phase: Phase

    /// The machine of a session the coordinator just opened at `now`, and what to do first.
    init(
        handle: String,
        coordinator: String,
        lease: Duration,
        closeTimeout: Duration,
        openedAt now: Instant
    ) {
        self.handle = handle
        self.coordinator = coordinator
        self.lease = lease
        self.closeTimeout = closeTimeout
        self.phase = .open(renewal: now + lease / 3)
    }

    /// The first directive: when to renew.
    var start: [Directive] {
        guard case .open(let renewal) = phase else { return [] }
        return [.wakeForRenewal(at: renewal)]
    }

    /// Whether steps may run.
    var isOpen: Bool {
        if case .open = phase { return true }
        return false
    }

    /// The coordinator answered a request about the session at `now`: it renewed the lease then.
    mutating func replied(at now: Instant) -> [Directive] {
        guard case .open(let renewal) = phase else { return [] }  // late: closing already
        phase = .open(renewal: max(renewal, now + lease / 3))
        return []
    }

    /// The renewal wake-up fired at `now`: keep the lease alive if nothing renewed it meanwhile.
    mutating func renewalDue(at now: Instant) -> [Directive] {
        guard case .open(let renewal) = phase else { return [] }
        guard now >= renewal else { return [.wakeForRenewal(at: renewal)] }
        let next = now + lease / 3
        phase = .open(renewal: next)
        // A keep-alive that takes longer than the renewal period is lost anyway.
        return [.sendKeepAlive(timeout: lease / 3), .wakeForRenewal(at: next)]
    }

    /// The user closes the session at `now`. Closing twice, or after closing ended, does nothing.
    mutating func closeAsked(at now: Instant) -> [Directive] {
        guard case .open = phase else { return [] }
        let deadline = now + closeTimeout
        guard now < deadline else { return giveUp(lastError: nil) }
        phase = .closing(attempt: 1, pause: Self.firstClosePause, deadline: deadline, lastError: nil, retry: nil)
        return [.sendClose(timeout: min(closeTimeout, Self.closeAttemptTimeout))]
    }

    /// The close attempt in flight ended at `now`: acknowledged (`error` nil) or failed.
    mutating func closeReplied(_ error: WeftError?, at now: Instant) -> [Directive] {
        guard case .closing(let attempt, let pause, let deadline, _, nil) = phase else { return [] }
        guard let error, error.code != .notFound else {
            phase = .closed
            return [.closed]
        }
        guard error.code == .unavailable || error.code == .deadlineExceeded else {
            phase = .failed(error)
            return [.closeFailed(error)]
        }
        let retry = min(now + pause, deadline)
        guard retry < deadline else { return giveUp(lastError: error) }
        phase = .closing(
            attempt: attempt,
            pause: min(pause * 2, Self.longestClosePause),
            deadline: deadline,
            lastError: error,
            retry: retry
        )
        return [.wakeForCloseRetry(at: retry)]
    }

    /// The pause after a failed close attempt ended at `now`: ask again, or give up.
    mutating func closeRetryDue(at now: Instant) -> [Directive] {
        guard case .closing(let attempt, let pause, let deadline, let lastError, let retry?) = phase else { return [] }
        guard now < deadline else { return giveUp(lastError: lastError) }
        guard now >= retry else { return [.wakeForCloseRetry(at: retry)] }
        phase = .closing(attempt: attempt + 1, pause: pause, deadline: deadline, lastError: lastError, retry: nil)
        return [.sendClose(timeout: min(deadline - now, Self.closeAttemptTimeout))]
    }

    private mutating func giveUp(lastError: WeftError?) -> [Directive] {
        let reason = lastError.map { " (\($0.message))" } ?? ""
        let error = WeftError(
            .deadlineExceeded,
            "the coordinator at \(coordinator) did not acknowledge closing session \(handle) within "
                + "\(closeTimeout)\(reason); workers free its state when their lease runs out"
        )
        phase = .failed(error)
        return [.closeFailed(error)]
    }
}
