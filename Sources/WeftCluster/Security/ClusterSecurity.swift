import WeftPlacement
import WeftRuntime
import WeftTransport

/// Who a peer is, known from the public key it proved it holds.
public enum PeerRole: Sendable, Hashable, CustomStringConvertible {
    /// The cluster's coordinator.
    case coordinator
    /// The worker holding this task.
    case worker(DeviceName)
    /// A client, by the name the cluster file gives its key.
    case client(String)

    /// `coordinator`, `worker /job:worker/task:0`, `client alice`.
    public var description: String {
        switch self {
        case .coordinator: "coordinator"
        case .worker(let device): "worker \(device)"
        case .client(let name): "client \(name)"
        }
    }
}

/// The cluster file's `security` section: every process's public key, and where each process
/// finds its own secret key.
public struct ClusterSecurity: Sendable, Equatable {
    /// One process's keys as the file names them.
    public struct ProcessKeys: Sendable, Equatable {
        /// The key others know the process by.
        public var publicKey: CurveKey
        /// The file holding its secret key, read only by that process.
        public var secretKeyFile: String

        /// Makes a process's entry.
        public init(publicKey: CurveKey, secretKeyFile: String) {
            self.publicKey = publicKey
            self.secretKeyFile = secretKeyFile
        }
    }

    /// The coordinator's keys.
    public var coordinator: ProcessKeys
    /// Each task's keys.
    public var tasks: [DeviceName: ProcessKeys]
    /// The clients' public keys by name.
    public var clients: [String: CurveKey]

    /// Makes a security section.
    public init(coordinator: ProcessKeys, tasks: [DeviceName: ProcessKeys], clients: [String: CurveKey]) {
        self.coordinator = coordinator
        self.tasks = tasks
        self.clients = clients
    }

    /// The role of the process holding `key`, or `nil` when the file does not list it.
    public func role(of key: CurveKey) -> PeerRole? {
        if key == coordinator.publicKey { return .coordinator }
        if let device = tasks.first(where: { $0.value.publicKey == key })?.key { return .worker(device) }
        if let name = clients.first(where: { $0.value == key })?.key { return .client(name) }
        return nil
    }

    /// Every worker's public key.
    public var workerKeys: Set<CurveKey> { Set(tasks.values.map(\.publicKey)) }

    /// Every client's public key.
    public var clientKeys: Set<CurveKey> { Set(clients.values) }
}

/// What a coordinator or worker needs to speak CURVE: its own key pair and the cluster's keys.
public struct ProcessSecurity: Sendable {
    /// This process's keys.
    public let keyPair: CurveKeyPair
    /// Every process's public key and role.
    public let cluster: ClusterSecurity
    /// Roles by key, looked up on every message.
    let roles: [CurveKey: PeerRole]

    /// Pairs this process's keys with the cluster's.
    public init(keyPair: CurveKeyPair, cluster: ClusterSecurity) {
        self.keyPair = keyPair
        self.cluster = cluster
        var roles: [CurveKey: PeerRole] = [cluster.coordinator.publicKey: .coordinator]
        for (device, keys) in cluster.tasks { roles[keys.publicKey] = .worker(device) }
        for (name, key) in cluster.clients { roles[key] = .client(name) }
        self.roles = roles
    }

    /// Reads the secret key of the process `own` names (mode 0600 required) and checks that it
    /// is the one whose public key the file lists.
    public init(cluster: ClusterSecurity, own: ClusterSecurity.ProcessKeys) throws(WeftError) {
        let keyPair = try CurveKeyFile.readSecret(own.secretKeyFile)
        guard keyPair.publicKey == own.publicKey else {
            throw WeftError(
                .invalidArgument,
                "the secret key in \(own.secretKeyFile) does not belong to the public key the cluster file lists "
                    + "for this process (\(own.publicKey))"
            )
        }
        self.init(keyPair: keyPair, cluster: cluster)
    }

    /// The role of the sender of a message, from its authenticated key.
    func role(of key: CurveKey?) -> PeerRole? {
        key.flatMap { roles[$0] }
    }

    /// The transport settings: this process's keys, the keys its ROUTER admits and the
    /// coordinator's address and key.
    func node(admitting admitted: Set<CurveKey>, serverKeys: [String: CurveKey]) -> MessagingNode.Security {
        MessagingNode.Security(keyPair: keyPair, admitted: admitted, serverKeys: serverKeys)
    }
}
