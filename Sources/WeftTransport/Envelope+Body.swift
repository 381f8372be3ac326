import WeftProto
import WeftRuntime

/// The envelope names its message twice, by `kind` and by the `body` it sets; the body decides,
/// and this check makes sure the kind agrees before anything dispatches on it.
extension Weft_Envelope {
    /// Throws `invalidArgument` unless `body` is the one `kind` calls for: a request its own
    /// body (or none, for requests that need nothing but the header), a reply none or one of
    /// the reply bodies. A peer that mixes them up would otherwise have its message read as
    /// an empty body of the expected type.
    public func validateBody() throws(WeftError) {
        guard Self.bodyMatches(kind, body) else {
            let found = body.map { "a \(Self.name(of: $0)) body" } ?? "no body"
            throw WeftError(.invalidArgument, "the envelope is a \(kind) message but carries \(found)")
        }
    }

    private static func bodyMatches(_ kind: Weft_Kind, _ body: OneOf_Body?) -> Bool {
        switch (kind, body) {
        case (.registerWorker, .registerWorker?), (.heartbeat, .heartbeat?), (.createSession, .createSession?),
            (.extendSession, .extendSession?), (.runStep, .runStep?), (.registerPartition, .registerPartition?),
            (.runPartition, .runPartition?), (.pushTensor, .pushTensor?), (.keepAlive, .keepAlive?),
            (.measureLinks, .measureLinks?), (.clusterStatus, .clusterStatus?), (.leaveCluster, .heartbeat?):
            return true
        case (.closeSession, nil), (.clusterStatus, nil), (.releaseSession, nil), (.abortStep, nil), (.ping, nil):
            return true
        case (.reply, nil), (.reply, .registerWorkerReply?), (.reply, .createSessionReply?),
            (.reply, .runStepReply?), (.reply, .clusterStatusReply?), (.reply, .runPartitionReply?),
            (.reply, .measureLinksReply?):
            return true
        default:
            return false
        }
    }

    /// The body's case name, `runStep`.
    private static func name(of body: OneOf_Body) -> String {
        String(describing: body).prefix { $0 != "(" }.description
    }
}
