import Logging
import WeftRuntime
import WeftTransport

/// What a coordinator's or worker's configuration says about the socket it serves on.
protocol ServingConfiguration {
    /// Where to bind.
    var listen: String { get }
    /// Whether a process without keys may bind a non-loopback address.
    var insecure: Bool { get }
    /// The process's keys and the cluster's, if the cluster has keys.
    var security: ProcessSecurity? { get }
}

extension Coordinator.Configuration: ServingConfiguration {}
extension Worker.Configuration: ServingConfiguration {}

extension MessagingNode {
    /// Binds the ROUTER a coordinator or worker serves on, one way for both: the listen policy
    /// first, then, with keys, CURVE admitting every worker and client (and, for a worker, the
    /// coordinator at `coordinator`, whose key it expects there).
    static func serving(
        _ configuration: some ServingConfiguration,
        coordinator: String?,
        logger: Logger
    ) throws(WeftError) -> MessagingNode {
        let listen = configuration.listen
        let security = configuration.security
        try ListenPolicy.check(listen, secured: security != nil, insecure: configuration.insecure, logger: logger)
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
