import Weft
import WeftCluster
import WeftPlacement
import WeftRuntime

/// `weft bench planning`: how long each strategy takes to place a large random DAG, and what its
/// placement should cost per step by the cost model. No cluster is needed.
public enum PlanningBenchmark {
    /// One strategy's result.
    public struct Row: Sendable {
        /// The strategy's name.
        public var strategy: String
        /// Seconds `PlacementStrategies.place` took: constraints, strategy and result.
        public var placeSeconds: Double
        /// The placement's estimated step.
        public var estimate: PlacementEstimate
    }

    /// What the benchmark measured.
    public struct Report: Sendable {
        /// Nodes of the graph.
        public var nodes: Int
        /// Edges of the graph, data and control.
        public var edges: Int
        /// The tensor side of the random DAG.
        public var side: Int
        /// Seconds to build the graph and load it into the runtime.
        public var buildSeconds: Double
        /// One row per strategy, in the order given.
        public var rows: [Row]
    }

    /// Builds `RandomDAG(nodes:layers:ccr:seed:)`, then places it on `workers` workers with every
    /// strategy, timing each (the best of `repetitions` runs) and estimating its step.
    public static func run(
        nodes: Int,
        layers: Int,
        workers: Int,
        ccr: Double,
        seed: UInt64,
        repetitions: Int = 1,
        strategies: [any PlacementStrategy]
    ) throws(WeftError) -> Report {
        let clock = ContinuousClock()
        let start = clock.now
        let dag = RandomDAG(nodes: nodes, layers: layers, ccr: ccr, seed: seed)
        let runtime = try RuntimeGraph(nodes: dag.graph.graphDef.node)
        let buildSeconds = (clock.now - start) / .seconds(1)
        let devices = (0..<workers).map { DeviceName(job: "worker", task: $0) }
        let options = PlacementOptions(seed: seed, feedShapes: dag.feedShapes)
        var rows: [Row] = []
        for strategy in strategies {
            var best = Double.infinity
            var placement: [String: DeviceName] = [:]
            for _ in 0..<max(repetitions, 1) {
                let began = clock.now
                placement = try PlacementStrategies.place(runtime, on: devices, strategy: strategy, options: options)
                best = min(best, (clock.now - began) / .seconds(1))
            }
            let estimate = try PlacementStrategies.estimate(
                runtime,
                placement: placement,
                on: devices,
                options: options
            )
            rows.append(Row(strategy: strategy.name, placeSeconds: best, estimate: estimate))
        }
        let edges = runtime.nodes.reduce(0) { $0 + $1.dataInputs.count + $1.controlInputs.count }
        return Report(nodes: runtime.nodes.count, edges: edges, side: dag.side, buildSeconds: buildSeconds, rows: rows)
    }
}

/// A simple baseline for cuts: the groups in topological order, cut into one contiguous block
/// per device of equal estimated compute. Linear, and better than spreading round-robin because
/// neighbours in the order tend to be neighbours in the graph.
public struct TopologicalBlocksPlacement: PlacementStrategy {
    /// `topological-blocks`.
    public let name = "topological-blocks"
    /// Makes the baseline.
    public init() {}

    /// Fills devices in turn along the topological order of the groups.
    public func place(_ problem: PlacementProblem) throws(WeftError) -> [DeviceName] {
        let open = problem.groups.indices.filter {
            problem.groups[$0].fixed == nil && problem.groups[$0].allowed.count > 1
        }
        var chosen = problem.groups.map { $0.fixed ?? $0.allowed[0] }
        for (rank, group) in open.enumerated() {
            let device = problem.devices[rank * problem.devices.count / max(open.count, 1)]
            if problem.groups[group].allowed.contains(device) { chosen[group] = device }
        }
        return chosen
    }
}
