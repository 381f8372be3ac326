import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// Requests about the cluster itself, for tools.
public enum ClusterClient {
    /// The coordinator's list of workers and sessions: this client's sessions with their
    /// handles, other clients' without.
    public static func status(
        coordinator: String,
        security: ClientSecurity? = nil,
        timeout: Duration = .seconds(3)
    ) throws(WeftError) -> Weft_ClusterStatusReply {
        let connection = try ClientConnection.connection(security, coordinator: coordinator)
        let request = WireMessage.make(.clusterStatus) { $0.clusterStatus = .with { $0.client = connection.id } }
        return try connection.request(request, to: coordinator, timeout: timeout).envelope.clusterStatusReply
    }

    /// The host of every registered worker, as the coordinator tells hosts apart (by the address
    /// a worker listens on), so that a model built outside the coordinator prices hosts as it does.
    public static func workerHosts(
        coordinator: String,
        security: ClientSecurity? = nil,
        timeout: Duration = .seconds(3)
    ) throws(WeftError) -> [DeviceName: String] {
        var hosts: [DeviceName: String] = [:]
        for worker in try status(coordinator: coordinator, security: security, timeout: timeout).workers {
            hosts[DeviceName(job: worker.job, task: Int(worker.task))] = LinkProbeSchedule.host(of: worker.address)
        }
        return hosts
    }

    /// Has the coordinator measure the link between every pair of hosts of its healthy workers
    /// (within a host too, between two of its workers), each direction from its source: latency
    /// from empty round trips, bandwidth from a `payloadBytes` message. One measurement stands
    /// for every pair of workers on its two hosts; `weft status --links` prints them.
    public static func measureLinks(
        coordinator: String,
        roundTrips: Int = 20,
        payloadBytes: Int = 1 << 20,
        security: ClientSecurity? = nil,
        timeout: Duration = .seconds(60)
    ) throws(WeftError) -> [LinkMeasurement] {
        let request = WireMessage.make(.measureLinks) { envelope in
            envelope.measureLinks = .with {
                $0.roundTrips = UInt32(clamping: roundTrips)
                $0.payloadBytes = UInt64(clamping: payloadBytes)
            }
        }
        let reply = try ClientConnection.connection(security, coordinator: coordinator)
            .request(request, to: coordinator, timeout: timeout)
        return try LinkMeasurement.list(reply.envelope.measureLinksReply)
    }

    /// Whether a coordinator or worker at `address` answers a ping within `timeout`: the health
    /// probe. With keys, `security.coordinatorKey` is the key expected at `address`.
    public static func ping(
        _ address: String,
        security: ClientSecurity? = nil,
        timeout: Duration = .seconds(2)
    ) throws(WeftError) {
        _ = try ClientConnection.connection(security, coordinator: address).request(
            .make(.ping),
            to: address,
            timeout: timeout
        )
    }
}
