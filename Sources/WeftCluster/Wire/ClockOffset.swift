import Synchronization
import WeftProto
import WeftRuntime

/// How far a peer's wall clock stands from ours, measured over one request and its reply the
/// way NTP does: we sent at `sent` and got the reply at `received` (our clock); the peer got
/// the request at `peerReceived` and replied at `peerReplied` (its clock).
struct ClockOffset: Sendable, Hashable {
    /// The peer's clock minus ours, in microseconds.
    var micros: Int64
    /// The most `micros` can be off by: half the round trip, less the time the peer held the
    /// request (the network's two directions may differ by that much).
    var errorMicros: Int64

    /// The offset from one exchange; `nil` when the peer sent no times (an older peer) or
    /// times that make no sense.
    init?(sent: Int64, received: Int64, peerReceived: Int64, peerReplied: Int64) {
        guard peerReceived > 0, peerReplied >= peerReceived, received >= sent else { return nil }
        let (outbound, o1) = peerReceived.subtractingReportingOverflow(sent)
        let (inbound, o2) = peerReplied.subtractingReportingOverflow(received)
        guard !o1, !o2 else { return nil }
        let (sum, o3) = outbound.addingReportingOverflow(inbound)
        guard !o3 else { return nil }
        micros = sum / 2
        errorMicros = max(0, ((received - sent) - (peerReplied - peerReceived)) / 2)
    }
}

/// The best recent measurement of each peer's clock. One exchange can be slowed on one way
/// only (a loaded machine, a busy thread), which its error bound admits but its offset does not
/// show; the exchange with the smallest bound says the most. A kept measurement's bound grows
/// with its age, by how far two clocks may drift apart, so a fresher one replaces it in time.
final class ClockOffsetFilter: Sendable {
    /// How fast two clocks may drift apart: 100 µs a second (100 ppm, above a typical crystal's
    /// tolerance; a clock NTP is slewing may run up to 500 ppm off for a while).
    static let driftMicrosPerSecond = 100.0
    /// Measurements older than this are not used.
    static let lifetime: Duration = .seconds(60)

    private let kept = Mutex<[String: (offset: ClockOffset, at: ContinuousClock.Instant)]>([:])

    /// Adds a measurement of `peer` (none when the exchange had no times) and returns the best
    /// one now: the smallest error bound, counting drift since it was taken.
    func update(
        _ peer: String,
        with measured: ClockOffset?,
        at now: ContinuousClock.Instant = .now
    ) -> ClockOffset? {
        kept.withLock { kept in
            var best: ClockOffset?
            if let (offset, at) = kept[peer], now - at < Self.lifetime {
                let seconds = Double((now - at).components.seconds)
                best = offset
                best?.errorMicros = offset.errorMicros.addingSaturating(Int64(seconds * Self.driftMicrosPerSecond))
            }
            if let measured, measured.errorMicros <= best?.errorMicros ?? .max {
                kept[peer] = (measured, now)
                return measured
            }
            return best
        }
    }
}

extension Weft_StepStats {
    /// Moves every device clock onto our clock: the peer measured its devices against itself,
    /// and it stands `offset` from us.
    mutating func align(by offset: ClockOffset) {
        for index in clocks.indices {
            clocks[index].offsetMicros = clocks[index].offsetMicros.addingSaturating(offset.micros)
            clocks[index].offsetErrorMicros = clocks[index].offsetErrorMicros.addingSaturating(offset.errorMicros)
        }
    }
}

extension Int64 {
    /// The sum, held at the bounds rather than trapping on values from a peer.
    func addingSaturating(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}
