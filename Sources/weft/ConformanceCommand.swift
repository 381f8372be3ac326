import ArgumentParser
import Foundation
import Weft
import WeftCluster
import WeftPlacement
import WeftRuntime

/// `weft conformance DIR`: runs TensorFlow-made cases and compares the values.
struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Run every case of a conformance folder and compare with TensorFlow's values."
    )

    @Argument(help: "A folder of NAME.pbtxt + NAME.json cases.")
    var directory: String

    @Flag(help: "Run in this process.")
    var local = false

    @Option(help: "Start a local cluster with these jobs, like ps=1,worker=2.")
    var jobs: String?

    /// The running cluster to use.
    @OptionGroup var cluster: ClusterOptions

    @Option(help: "Placement strategies to run every case with (comma-separated, or 'all').")
    var strategies = "all"

    @Flag(name: .shortAndLong, help: "Print every case, not only failures.")
    var verbose = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard [local, jobs != nil, cluster.isGiven].filter({ $0 }).count == 1 else {
            throw ValidationError("choose one of --local, --jobs JOBS, or --coordinator ADDRESS or --config FILE")
        }
    }

    func run() throws {
        global.bootstrapLogging()
        let cases = try ConformanceCase.load(directory: URL(fileURLWithPath: directory))
        var results: [ConformanceResult] = []
        if local {
            results = cases.map { $0.run { graph in Session(graph: graph) } }
        } else {
            let names =
                strategies == "all"
                ? PlacementStrategies.all.map(\.name) : strategies.split(separator: ",").map(String.init)
            var started: ProcessCluster?
            if let jobs {
                started = try ProcessCluster(executable: selfExecutable(), jobs: try JobCounts(parsing: jobs))
            }
            defer { started?.stop() }
            let address = try started?.address ?? cluster.coordinatorAddress()
            for name in names {
                _ = try PlacementStrategies.named(name)
                for testCase in cases {
                    var result = testCase.run { graph in
                        try Session(target: address, graph: graph, options: RemoteSessionOptions(strategy: name))
                    }
                    result.name += " [\(name)]"
                    results.append(result)
                }
            }
        }
        Self.report(results, verbose: verbose)
        if results.contains(where: { !$0.passed }) { throw ExitCode.failure }
    }

    static func report(_ results: [ConformanceResult], verbose: Bool) {
        for result in results {
            if result.passed {
                if verbose { say("PASS \(result.name)") }
            } else {
                say("FAIL \(result.name)")
                for failure in result.failures { say("  \(failure)") }
            }
        }
        let passed = results.filter(\.passed).count
        say("\(passed) passed, \(results.count - passed) failed")
    }
}
