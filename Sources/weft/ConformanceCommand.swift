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

    @Flag(
        inversion: .prefixedNo,
        help: "On a cluster, also run the cases with loops or conds with each strategy free to split them across workers."
    )
    var splitControlFlow = true

    @Option(help: "Run only the cases whose names start with one of these prefixes (comma-separated).")
    var filter: String?

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
        let folder = URL(fileURLWithPath: directory)
        let prefixes = filter?.split(separator: ",").map(String.init) ?? [""]
        let cases = try ConformanceCase.load(directory: folder).filter { testCase in
            prefixes.contains { testCase.name.hasPrefix($0) }
        }
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
            // A cluster file with keys admits this client only with its key.
            let security = started == nil ? try cluster.clientSecurity() : nil
            // Benchmark cases (10,000 iterations) split every iteration across workers take
            // minutes in a debug build; `weft bench case --split-control-flow` times them.
            let splittable = splitControlFlow ? cases.filter { $0.hasControlFlow && !$0.name.contains("_bench_") } : []
            for name in names {
                _ = try PlacementStrategies.named(name)
                var options = RemoteSessionOptions(strategy: name)
                options.security = security
                results += Self.run(cases, on: address, options: options, label: name)
                options.splitControlFlow = true
                results += Self.run(splittable, on: address, options: options, label: name + ", control flow split")
            }
        }
        let pending = ConformanceCase.pending(directory: folder)
        if !Self.report(results, pending: pending, verbose: verbose) { throw ExitCode.failure }
    }

    private static func run(
        _ cases: [ConformanceCase],
        on address: String,
        options: RemoteSessionOptions,
        label: String
    ) -> [ConformanceResult] {
        cases.map { testCase in
            var result = testCase.run { graph in try Session(target: address, graph: graph, options: options) }
            result.name += " [\(label)]"
            return result
        }
    }

    /// Prints failures (and passes with `verbose`) and the closing count; `true` when nothing
    /// failed. A case listed in `pending` that fails is skipped with its reason.
    static func report(_ results: [ConformanceResult], pending: [String: String], verbose: Bool) -> Bool {
        var (passed, failed, skipped) = (0, 0, 0)
        for result in results {
            let caseName = String(result.name.prefix { $0 != " " })
            if result.passed {
                passed += 1
                if pending[caseName] != nil {
                    say("PASS \(result.name), listed in pending.txt: remove it from there")
                } else if verbose {
                    say("PASS \(result.name)")
                }
            } else if let reason = pending[caseName] {
                skipped += 1
                if verbose { say("SKIP \(result.name): \(reason)") }
            } else {
                failed += 1
                say("FAIL \(result.name)")
                for failure in result.failures { say("  \(failure)") }
            }
        }
        say("\(passed) passed, \(failed) failed" + (skipped > 0 ? ", \(skipped) skipped" : ""))
        return failed == 0
    }
}
