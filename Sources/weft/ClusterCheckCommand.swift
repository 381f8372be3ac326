import ArgumentParser
import Foundation
import WeftCluster

/// `weft cluster check --config FILE`: validates a cluster file and reports every problem
/// with its place, the way a compiler does, so an operator fixes them all in one pass.
struct ClusterCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a cluster file and report each problem with its line, column and key.",
        discussion: """
            Key files of the security section are checked too: each exists and holds a Z85 key of 32 bytes, each \
            secret key is mode 0600 and belongs to the public key listed beside it. Run it where every key file is.
            """
    )

    @Option(help: "The cluster file (YAML or JSON).")
    var config: String

    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.bootstrapLogging()
        let data: Data
        do {
            data = try ClusterConfig.contents(ofFile: config)
        } catch {
            throw ValidationError(error.message)
        }
        let (cluster, problems) = ClusterConfig.check(data, file: config, secrets: true)
        guard let cluster else {
            for problem in problems { say("\(problem)") }
            say("\(config): \(problems.count) problem\(problems.count == 1 ? "" : "s")")
            throw ExitCode.failure
        }
        let processes = 1 + cluster.jobs.reduce(0) { $0 + $1.tasks.count }
        let security =
            if let keys = cluster.security {
                "CURVE keys for \(processes) processes and \(keys.clients.count) client\(keys.clients.count == 1 ? "" : "s")"
            } else if cluster.insecure {
                "no keys, insecure: processes may listen on any address unencrypted"
            } else {
                "no keys: processes listen on loopback only"
            }
        say(
            "\(config): OK: coordinator \(cluster.coordinatorAddress), jobs \(cluster.jobCounts) (\(processes) processes); "
                + security
        )
    }
}
