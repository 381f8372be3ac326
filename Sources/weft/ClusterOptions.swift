import ArgumentParser
import WeftCluster

/// How a command names a running cluster: its coordinator's address, or a cluster file whose
/// coordinator it is. Every command that talks to a cluster takes these two flags the same way.
struct ClusterOptions: ParsableArguments {
    @Option(help: "The coordinator's address, like tcp://host:7070. Default: the cluster file's.")
    var coordinator: String?

    @Option(help: "A cluster file (YAML or JSON) that names the coordinator and the jobs.")
    var config: String?

    @Option(help: "This client's secret key file, for a cluster file with a security section.")
    var key: String?

    /// Whether either flag was given.
    var isGiven: Bool { coordinator != nil || config != nil }

    private static let missing = ValidationError(
        "give the coordinator's address with --coordinator ADDRESS, or a cluster file with --config FILE"
    )

    /// Throws unless the cluster is named, for commands that cannot start one themselves.
    func requireOne() throws {
        guard isGiven else { throw Self.missing }
    }

    /// The cluster file, read and checked, when `--config` names one.
    func clusterFile() throws -> ClusterConfig? {
        try config.map { try ClusterConfig(contentsOfFile: $0) }
    }

    /// The client's keys when the cluster file has a security section: `--key` and the file's
    /// coordinator key. Throws when one is given without the other.
    func clientSecurity() throws -> ClientSecurity? {
        let security = try clusterFile()?.security
        switch (security, key) {
        case (nil, nil): return nil
        case (nil, .some):
            throw ValidationError("--key needs --config with a cluster file that has a security section")
        case (.some, nil):
            throw ValidationError("the cluster file has keys: give this client's secret key file with --key FILE")
        case (.some(let security), .some(let key)):
            return try ClientSecurity(secretKeyFile: key, cluster: security)
        }
    }

    /// `--coordinator`, else the cluster file's coordinator; throws when neither flag was given.
    func coordinatorAddress() throws -> String {
        if let coordinator { return coordinator }
        guard let file = try clusterFile() else { throw Self.missing }
        return file.coordinatorAddress
    }
}
