import ArgumentParser
import Foundation
import WeftBench
import WeftCluster
import WeftPlacement

/// `weft bench planning`: placement time of every strategy on a large random DAG, and the cut
/// of `min-cut` against round-robin's and a simple baseline's.
struct PlanningBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "planning",
        abstract: "Time every placement strategy on a random DAG and compare their estimated steps."
    )

    @Option(help: "Nodes of the random DAG.")
    var nodes = 100_000

    @Option(help: "Layers of the random DAG.")
    var layers = 100

    @Option(help: "Workers to place on.")
    var workers = 4

    @Option(help: "Communication-to-computation ratio of the DAG under the default cost model.")
    var ccr = 1.0

    @Option(help: "Seed of the DAG and of the strategies.")
    var seed: UInt64 = 1

    @Option(help: "Timed placements per strategy; the fastest counts.")
    var repetitions = 1

    @Option(help: "Strategies (comma-separated, or 'all'); the baseline topological-blocks is always added.")
    var strategies = "all"

    func validate() throws {
        guard nodes >= 2, layers >= 2, workers >= 1, repetitions >= 1 else {
            throw ValidationError("--nodes and --layers must be at least 2, --workers and --repetitions at least 1")
        }
    }

    func run() throws {
        let chosen =
            strategies == "all"
            ? PlacementStrategies.all
            : try strategies.split(separator: ",").map { try PlacementStrategies.named(String($0)) }
        let report = try PlanningBenchmark.run(
            nodes: nodes,
            layers: layers,
            workers: workers,
            ccr: ccr,
            seed: seed,
            repetitions: repetitions,
            strategies: chosen + [TopologicalBlocksPlacement()]
        )
        say(
            "random-dag: \(report.nodes) nodes, \(report.edges) edges, \(layers) layers, [\(report.side),\(report.side)] floats, ccr \(ccr), seed \(seed); \(workers) workers; built in \(fixed(report.buildSeconds)) s"
        )
        say(
            pad("strategy", 20) + pad("place s", 10) + pad("cut edges", 11) + pad("tensors", 9) + pad("MB sent", 10)
                + pad("balance", 9) + "step ms (est.)"
        )
        for row in report.rows {
            let e = row.estimate
            say(
                pad(row.strategy, 20) + pad(fixed(row.placeSeconds, 3), 10) + pad("\(e.cutEdges)", 11)
                    + pad("\(e.tensorsCrossing)", 9)
                    + pad(fixed(Double(e.bytesCrossing) / 1e6, 2), 10) + pad(fixed(e.computeBalance, 3), 9)
                    + fixed(e.stepSeconds * 1e3, 2)
            )
        }
        let bytes = Dictionary(
            report.rows.map { ($0.strategy, $0.estimate.bytesCrossing) },
            uniquingKeysWith: { a, _ in a }
        )
        if let cut = bytes["min-cut"] {
            for baseline in ["round-robin", "topological-blocks"] {
                guard let other = bytes[baseline], other > 0 else { continue }
                say("min-cut sends \(fixed(100 * Double(cut) / Double(other), 1))% of the bytes \(baseline) sends")
            }
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
