import Weft
import WeftRuntime

extension Workloads {
    /// `RandomDAG` as a workload: `nodes` real ops in `layers` layers with communication-to-
    /// computation ratio `ccr` under the default cost model; every step feeds the inputs and
    /// fetches every sink (a node nothing consumes), so every value is compared.
    public static func randomDAG(nodes: Int, layers: Int, ccr: Double, seed: UInt64) -> Workload {
        Workload(
            name: "random-dag",
            parameters: "nodes=\(nodes) layers=\(layers) ccr=\(ccr) seed=\(seed)"
        ) { () throws(WeftError) in
            let dag = RandomDAG(nodes: nodes, layers: layers, ccr: ccr, seed: seed)
            let feeds = Dictionary(uniqueKeysWithValues: dag.feeds(seed: seed).map { ($0.key.name, $0.value) })
            return BuiltWorkload(graph: dag.graph, feeds: feeds, fetches: dag.sinks.map(\.name))
        }
    }

    static let randomDAGKind = Kind(
        name: "random-dag",
        summary: "a layered random DAG with a chosen communication-to-computation ratio",
        knobs: [
            knob("nodes", "nodes in all", 40, 500, 100_000),
            knob("layers", "layers (inputs are the first)", 5, 20, 1_000),
            knob("ccr-percent", "communication-to-computation ratio, in percent", 100, 100, 100),
        ]
    ) { k, seed in
        randomDAG(nodes: k["nodes"]!, layers: k["layers"]!, ccr: Double(k["ccr-percent"]!) / 100, seed: seed)
    }
}
