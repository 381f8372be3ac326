import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// Requests about the cluster itself, for tools.
public enum ClusterClient {
    /// The coordinator's list of workers and sessions.
    public static func status(
        coordinator: String,
        timeout: Duration = .seconds(3)
    ) throws(WeftError) -> Weft_ClusterStatusReply {
        try ClientConnection.shared.get().request(.make(.clusterStatus), to: coordinator, timeout: timeout).envelope
            .clusterStatusReply
    }

    /// Has the coordinator measure every link between its healthy workers, each direction from
    /// its source: latency from empty round trips, bandwidth from a `payloadBytes` message.
    public static func measureLinks(
        coordinator: String,
        roundTrips: Int = 20,
        payloadBytes: Int = 1 << 20,
        timeout: Duration = .seconds(60)
    ) throws(WeftError) -> [LinkMeasurement] {
        let request = WireMessage.make(.measureLinks) { envelope in
            envelope.measureLinks = .with {
                $0.roundTrips = UInt32(clamping: roundTrips)
                $0.payloadBytes = UInt64(clamping: payloadBytes)
            }
        }
        let reply = try ClientConnection.shared.get().request(request, to: coordinator, timeout: timeout)
        return try LinkMeasurement.list(reply.envelope.measureLinksReply)
    }

    /// Whether a coordinator or worker at `address` answers a ping within `timeout`: the health probe.
    public static func ping(_ address: String, timeout: Duration = .seconds(2)) throws(WeftError) {
        _ = try ClientConnection.shared.get().request(.make(.ping), to: address, timeout: timeout)
    }
}
