import ArgumentParser
import WeftCluster

/// How a command names a running cluster: its coordinator's address, or a cluster file whose
/// coordinator it is. Every command that talks to a cluster takes these two flags the same way.
struct ClusterOptions: ParsableArguments {
    @Option(help: "The coordinator's address, like tcp://host:7070. Default: the cluster file's.")
    var coordinator: String?

    @Option(help: "A cluster file (YAML or JSON) that names the coordinator and the jobs.")
    var config: String?

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

    /// `--coordinator`, else the cluster file's coordinator; throws when neither flag was given.
    func coordinatorAddress() throws -> String {
        if let coordinator { return coordinator }
        guard let file = try clusterFile() else { throw Self.missing }
        return file.coordinatorAddress
    }
}
