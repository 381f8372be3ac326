import ArgumentParser
import Foundation
import Weft
import WeftCluster
import WeftPlacement

/// `weft run GRAPH --fetch NAME`: runs one step of a GraphDef, locally or on a cluster, and can
/// write its timeline.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one step of a GraphDef (.pbtxt or binary .pb) and print what it fetches.",
        discussion: """
            With --trace FILE the step is timed node by node and its timeline written as a Chrome \
            trace (open it in ui.perfetto.dev or chrome://tracing): a row per worker and executor \
            thread, an arrow per tensor pushed between workers.
            """
    )

    @Argument(help: "A GraphDef file: text (.pbtxt) or binary.")
    var graph: String

    @Option(name: .customLong("fetch"), help: "A tensor to fetch, like 'y:0' or 'y' (repeatable).")
    var fetches: [String] = []

    @Option(name: .customLong("target"), help: "A node to run for its effects in the step (repeatable).")
    var targets: [String] = []

    @Option(name: .customLong("setup"), help: "A node to run in a step of its own first, like 'init' (repeatable).")
    var setup: [String] = []

    @Flag(help: "Run in this process.")
    var local = false

    @Option(help: "Start a local cluster with these jobs, like worker=2.")
    var jobs: String?

    /// The running cluster to use.
    @OptionGroup var cluster: ClusterOptions

    @Option(help: "The placement strategy on a cluster. Default: the coordinator's.")
    var strategy: String?

    @Option(help: "Write the step's timeline to this file (Chrome trace JSON).")
    var trace: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard [local, jobs != nil, cluster.isGiven].filter({ $0 }).count == 1 else {
            throw ValidationError("choose one of --local, --jobs JOBS, or --coordinator ADDRESS or --config FILE")
        }
        guard !fetches.isEmpty || !targets.isEmpty else {
            throw ValidationError("name something to run: --fetch TENSOR or --target NODE")
        }
    }

    func run() throws {
        global.bootstrapLogging()
        let graph = try Graph(contentsOf: URL(fileURLWithPath: self.graph))
        var started: ProcessCluster?
        if let jobs {
            started = try ProcessCluster(executable: selfExecutable(), jobs: try JobCounts(parsing: jobs))
        }
        defer { started?.stop() }
        let session: Session
        if local {
            session = Session(graph: graph)
        } else {
            if let strategy { _ = try PlacementStrategies.named(strategy) }
            let address = try started?.address ?? cluster.coordinatorAddress()
            session = try Session(target: address, graph: graph, options: RemoteSessionOptions(strategy: strategy))
        }
        try session.run { session in
            for node in setup { _ = try session.run(fetches: [], targets: [node]) }
            var metadata = RunMetadata()
            let values: [Tensor]
            if trace == nil {
                values = try session.run(fetches: fetches, targets: targets)
            } else {
                values = try session.run(fetches: fetches, targets: targets, metadata: &metadata)
            }
            for (name, value) in zip(fetches, values) { say("\(name) = \(value)") }
            if let trace {
                try metadata.chromeTrace().jsonData().write(to: URL(fileURLWithPath: trace))
                say("timeline of \(metadata.stepStatistics.nodes.count) nodes written to \(trace)")
            }
        }
    }
}
