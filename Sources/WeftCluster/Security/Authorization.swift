import WeftProto
import WeftRuntime
import WeftTransport

/// Which role may send which request, once CURVE has proved who the sender is.
///
/// Workers take partitions, steps and session requests from the coordinator only, tensors
/// from workers only; the coordinator takes registrations and heartbeats from workers and
/// session requests from clients. A client's own direct steps on a worker, and whether a
/// session is the client's, are checked where the session is known.
public enum Authorization {
    /// The process a request arrives at.
    public enum Receiver: Sendable {
        /// The cluster's coordinator.
        case coordinator
        /// A worker.
        case worker
    }

    /// Throws `permissionDenied` unless `role` may send a request with `body` to `receiver`; an
    /// unlisted sender (`nil`) may send nothing.
    public static func check(
        _ body: Weft_Envelope.OneOf_Body?,
        from role: PeerRole?,
        to receiver: Receiver
    ) throws(WeftError) {
        guard let role else {
            throw WeftError(.permissionDenied, "the sender's public key is not listed in the cluster file")
        }
        // A missing body or a reply body is refused by the transport before this.
        guard let kind = body.map(MessageKind.init), allows(kind, from: role, to: receiver) else {
            let kind = body.map { "\(MessageKind($0))" } ?? "bodiless"
            throw WeftError(.permissionDenied, "a \(receiver) does not take \(kind) requests from the \(role)")
        }
    }

    /// Whether `role` may send a request of `kind` to `receiver`.
    public static func allows(_ kind: MessageKind, from role: PeerRole, to receiver: Receiver) -> Bool {
        if kind == .ping { return true }
        switch (receiver, role) {
        case (.coordinator, .worker):
            return [.registerWorker, .heartbeat, .leaveCluster].contains(kind)
        case (.coordinator, .client):
            return [
                .createSession, .extendSession, .runStep, .cancelStep, .closeSession, .keepAlive, .clusterStatus,
                .measureLinks,
            ].contains(kind)
        case (.coordinator, .coordinator):
            return false
        case (.worker, .coordinator):
            return [.registerPartition, .runPartition, .releaseSession, .abortStep, .measureLinks].contains(kind)
        case (.worker, .worker):
            return kind == .pushTensor
        case (.worker, .client):
            // Only the session's owner, on its direct steps, which the worker checks.
            return kind == .runPartition || kind == .abortStep
        }
    }
}
