/// A worker's own leases on the sessions it holds state of: a pure state machine. The worker
/// feeds it what happened, with the time it happened, and frees the sessions it names.
///
/// The coordinator renews a lease by naming the session in its answer to a heartbeat (or a
/// registration) that listed it: the worker asks "I hold these", the coordinator answers "keep
/// these". A session the answer leaves out was closed, ran out on the coordinator, or was not
/// adopted by a restarted coordinator, and is freed at once. A session nobody renews for its
/// lease (the coordinator is gone, or cut off) is freed when the lease runs out. Either way no
/// state outlives its coordinator's interest in it.
///
/// An inquiry is a snapshot: a session registered, or registered anew, after the inquiry left is
/// not in it, so an answer that crossed its registration never frees it.
public struct SessionLeases: Sendable {
    /// What the worker must do.
    public enum Directive: Sendable, Hashable {
        /// Free the session's state here: the coordinator no longer keeps it.
        case free(String)
        /// Free the session's state here: nobody renewed its lease in time.
        case expired(String)
    }

    /// The sessions an inquiry names, as they were when it left.
    public struct Inquiry: Sendable, Hashable {
        /// Each session's handle with the registration it refers to.
        fileprivate var generations: [String: UInt64]
        /// The handles, sorted, for the message.
        public var handles: [String] { generations.keys.sorted() }
    }

    private struct Lease {
        var generation: UInt64
        var duration: Duration
        var expiry: ContinuousClock.Instant
    }

    private var leases: [String: Lease] = [:]
    private var nextGeneration: UInt64 = 1

    /// Makes a state machine holding no session.
    public init() {}

    /// The handles of the sessions held, sorted.
    public var handles: [String] { leases.keys.sorted() }

    /// When the lease of `handle` runs out, if it is held.
    public func expiry(of handle: String) -> ContinuousClock.Instant? { leases[handle]?.expiry }

    /// A partition of `handle` was registered: the session is held for `duration` from `now`,
    /// or longer if its lease already runs further.
    public mutating func registered(_ handle: String, lease duration: Duration, now: ContinuousClock.Instant) {
        if var lease = leases[handle] {
            lease.duration = duration
            lease.expiry = max(lease.expiry, now + duration)
            leases[handle] = lease
            return
        }
        leases[handle] = Lease(generation: nextGeneration, duration: duration, expiry: now + duration)
        nextGeneration += 1
    }

    /// The coordinator released `handle`: it is forgotten; the caller frees it.
    public mutating func released(_ handle: String) {
        leases[handle] = nil
    }

    /// An inquiry about every session held now, to send with a heartbeat or a registration.
    public func inquiry() -> Inquiry {
        Inquiry(generations: leases.mapValues(\.generation))
    }

    /// The coordinator answered `inquiry` at `now`, keeping `renewed`: their leases run their
    /// full duration from now; every other session the inquiry named, still held by the same
    /// registration, is freed.
    public mutating func answered(
        _ inquiry: Inquiry,
        renewed: some Sequence<String>,
        now: ContinuousClock.Instant
    ) -> [Directive] {
        let kept = Set(renewed)
        var directives: [Directive] = []
        for (handle, generation) in inquiry.generations.sorted(by: { $0.key < $1.key }) {
            guard var lease = leases[handle], lease.generation == generation else { continue }
            if kept.contains(handle) {
                lease.expiry = max(lease.expiry, now + lease.duration)
                leases[handle] = lease
            } else {
                leases[handle] = nil
                directives.append(.free(handle))
            }
        }
        return directives
    }

    /// Frees the sessions whose lease ran out by `now`.
    public mutating func expire(now: ContinuousClock.Instant) -> [Directive] {
        let expired = leases.filter { $0.value.expiry <= now }.keys.sorted()
        for handle in expired { leases[handle] = nil }
        return expired.map(Directive.expired)
    }
}
