import Logging
import WeftRuntime
import WeftTransport

extension MessagingNode {
    /// Binds the ROUTER a coordinator or worker serves on, one way for both: the listen policy
    /// first, then, with keys, CURVE admitting every worker and client (and, for a worker, the
    /// coordinator at `coordinator`, whose key it expects there).
    static func serving(
        _ listen: String,
        insecure: Bool,
        security: ProcessSecurity?,
        coordinator: String?,
        logger: Logger
    ) throws(WeftError) -> MessagingNode {
        try ListenPolicy.check(listen, secured: security != nil, insecure: insecure, logger: logger)
        let settings = security.map { security in
            let cluster = security.cluster
            let coordinatorKeys = coordinator.map { [$0: cluster.coordinator.publicKey] } ?? [:]
            return security.node(
                admitting: cluster.workerKeys.union(cluster.clientKeys).union(coordinatorKeys.values),
                serverKeys: coordinatorKeys
            )
        }
        return try MessagingNode(listen: listen, security: settings, logger: logger)
    }
}
