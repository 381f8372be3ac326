import WeftProto
import WeftRuntime
import WeftTransport

/// Requests about the cluster itself, for tools.
public enum ClusterClient {
    /// The coordinator's list of workers and sessions.
    public static func status(coordinator: String, timeout: Duration = .seconds(3)) throws(WeftError) -> Weft_ClusterStatusReply {
        try ClientConnection.shared.get().request(.make(.clusterStatus), to: coordinator, timeout: timeout).envelope.clusterStatusReply
    }

    /// Whether a coordinator or worker at `address` answers a ping within `timeout`: the health probe.
    public static func ping(_ address: String, timeout: Duration = .seconds(2)) throws(WeftError) {
        _ = try ClientConnection.shared.get().request(.make(.ping), to: address, timeout: timeout)
    }
}
