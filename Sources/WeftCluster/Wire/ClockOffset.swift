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

    /// The offset from one exchange; `nil` when the peer sent no times (an older peer, or
    /// statistics off) or times that make no sense.
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

extension Weft_StepStats {
    /// Moves every device clock of statistics a peer sent onto our clock, by the offset one
    /// request measured (see `ClockOffset`); statistics without the peer's times stay as sent.
    mutating func align(sent: Int64, received: Int64, peerReceived: Int64, peerReplied: Int64) {
        guard
            let offset = ClockOffset(
                sent: sent,
                received: received,
                peerReceived: peerReceived,
                peerReplied: peerReplied
            )
        else { return }
        align(by: offset)
    }

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
    fileprivate func addingSaturating(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}
