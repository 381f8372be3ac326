import ArgumentParser
import Foundation
import Weft
import WeftBench
import WeftCluster
import WeftPlacement
import WeftRuntime

/// `weft place`: places a graph without a cluster and writes the placement node by node with
/// the cost graph it used, so another partitioner can be compared on the same weights.
struct PlaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "place",
        abstract: "Place a graph on planned workers and write every node's device, the cost graph and the totals as JSON.",
        discussion: """
            The graph is a GraphDef file (--graph; text for .pbtxt, binary otherwise) or a generated workload \
            (--workload: \(Workloads.catalog.map(\.name).joined(separator: ", "))).
            """
    )

    @Option(help: "A GraphDef file to place.")
    var graph: String?

    @Option(help: "A generated workload to place instead of --graph.")
    var workload: String?

    @Option(help: "Preset size of the generated workload: small, medium or large (~100,000 nodes).")
    var size: WorkloadSize = .medium

    @Option(name: .customLong("param"), help: "A knob of the generated workload, like blocks=80 (repeatable).")
    var parameters: [String] = []

    @Option(help: "Seed of the generated workload and of the strategy.")
    var seed: UInt64 = 1

    @Option(help: "Workers to plan for, like worker=4.")
    var jobs = "worker=4"

    @Option(help: "The placement strategy (\(PlacementStrategies.all.map(\.name).joined(separator: ", "))).")
    var strategy = "min-cut"

    @Option(help: "Bytes each worker may hold (like 64MiB); critical-path counts live tensors against it too.")
    var memoryLimit: String?

    @Flag(help: "Let the strategy split while loops and conds across workers.")
    var splitControlFlow = false

    @Option(help: "The JSON file to write.")
    var output = "placement.json"

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard (graph == nil) != (workload == nil) else {
            throw ValidationError("give exactly one of --graph and --workload")
        }
        if graph != nil && !parameters.isEmpty {
            throw ValidationError("--param sets knobs of a generated workload; it does not apply to --graph")
        }
        if let memoryLimit {
            do { _ = try ConfigByteSize.parse(memoryLimit) } catch {
                throw ValidationError("--memory-limit: \(error.message)")
            }
        }
    }

    func run() throws {
        global.bootstrapLogging()
        let (runtime, feeds) = try loadGraph()
        var options = PlacementOptions(seed: seed)
        options.memoryLimit = try memoryLimit.map { (text) throws(WeftError) in try ConfigByteSize.parse(text) }
        options.useShapes(of: feeds)
        options.splitControlFlow = splitControlFlow
        let devices = try JobCounts(parsing: jobs).jobs.flatMap { job in
            (0..<job.tasks).map { DeviceName(job: job.name, task: $0) }
        }
        let export = try PlacementStrategies.export(
            runtime,
            on: devices,
            strategy: try PlacementStrategies.named(strategy),
            options: options
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(export).write(to: URL(fileURLWithPath: output))
        let totals = export.totals
        say(
            "\(export.nodes.count) nodes in \(export.groups.count) groups on \(devices.count) devices by \(export.strategy) in \(fixed(totals.placeSeconds, 3)) s: traffic \(totals.trafficBytes) bytes, cut edges \(totals.cutEdgeBytes) bytes, group-graph cut \(totals.groupGraphCut), balance \(fixed(totals.balance, 3)); wrote \(output)"
        )
    }

    /// The graph, and the values a generated workload feeds (their shapes fill open dimensions).
    private func loadGraph() throws -> (RuntimeGraph, [String: Tensor]) {
        if let graph {
            let loaded = try Graph(contentsOf: URL(fileURLWithPath: graph))
            return (try RuntimeGraph(nodes: loaded.graphDef.node, registry: loaded.registry), [:])
        }
        var knobs: [String: Int] = [:]
        for text in parameters {
            let pieces = text.split(separator: "=", maxSplits: 1)
            guard pieces.count == 2, let value = Int(pieces[1]) else {
                throw ValidationError("'\(text)' is not a knob; write knob=value, like blocks=80")
            }
            knobs[String(pieces[0])] = value
        }
        let built = try Workloads.named(workload ?? "", size: size, overrides: knobs, seed: seed).build()
        return (try RuntimeGraph(nodes: built.graph.graphDef.node, registry: built.graph.registry), built.feeds)
    }
}
