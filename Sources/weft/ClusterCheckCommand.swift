import ArgumentParser
import Foundation
import WeftCluster

/// `weft cluster check --config FILE`: validates a cluster file and reports every problem
/// with its place, the way a compiler does, so an operator fixes them all in one pass.
struct ClusterCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a cluster file and report each problem with its line, column and key."
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
        let (cluster, problems) = ClusterConfig.check(data, file: config)
        guard let cluster else {
            for problem in problems { say("\(problem)") }
            say("\(config): \(problems.count) problem\(problems.count == 1 ? "" : "s")")
            throw ExitCode.failure
        }
        let processes = 1 + cluster.jobs.reduce(0) { $0 + $1.tasks.count }
        say(
            "\(config): OK: coordinator \(cluster.coordinatorAddress), jobs \(cluster.jobCounts) (\(processes) processes)"
        )
    }
}
