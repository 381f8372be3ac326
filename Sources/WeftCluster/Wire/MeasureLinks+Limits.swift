import WeftProto
import WeftRuntime

/// The bounds a MEASURE_LINKS request must keep: its sizes come from whoever sent it, and a
/// worker allocates the payload and runs the round trips it asks for.
extension Weft_MeasureLinks {
    /// The largest payload a link is measured with: far more than bandwidth needs, far less
    /// than a worker's memory.
    static let maxPayloadBytes = 256 << 20
    /// The most round trips a latency is measured from.
    static let maxRoundTrips = 1000

    /// The request's round trips and payload size as `Int`s, or `invalidArgument` when either is
    /// beyond its bound; zero asks for the coordinator's default.
    func checkedSizes() throws(WeftError) -> (roundTrips: Int, payloadBytes: Int) {
        guard roundTrips <= Self.maxRoundTrips else {
            throw WeftError(
                .invalidArgument,
                "MEASURE_LINKS asks for \(roundTrips) round trips; at most \(Self.maxRoundTrips) are allowed"
            )
        }
        guard payloadBytes <= Self.maxPayloadBytes else {
            throw WeftError(
                .invalidArgument,
                "MEASURE_LINKS asks for a \(payloadBytes)-byte payload; at most \(Self.maxPayloadBytes) bytes are allowed"
            )
        }
        return (Int(roundTrips), Int(payloadBytes))
    }
}
