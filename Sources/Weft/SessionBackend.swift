import Synchronization
import WeftRuntime

/// What runs a session's steps: in this process (`LocalSessionBackend`) or on a cluster
/// (WeftCluster's remote backend). `Session` turns its typed API into these calls.
public protocol SessionBackend: Sendable {
    /// Runs one step: the nodes that `fetches` and `targets` need, with `feeds` in place of
    /// the tensors they name; returns the fetched values in order, and the step's statistics
    /// when `collectStatistics` is set.
    func run(
        feeds: [(TensorName, Tensor)],
        fetches: [TensorName],
        targets: [String],
        collectStatistics: Bool
    ) throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?)
    /// Frees the session's state; later runs fail with `failedPrecondition`.
    func close()
}

/// Runs a session in this process: the graph's nodes on a kernel thread pool, the session's
/// variables in a resource container of its own.
public final class LocalSessionBackend: SessionBackend {
    private struct Signature: Hashable {
        var feeds: [TensorName]
        var fetches: [TensorName]
        var targets: [String]
    }

    private struct State {
        var runtime: RuntimeGraph?
        var nodeCount = -1
        var plans: [Signature: StepPlan] = [:]
        var nextStep: UInt64 = 1
        var closed = false
        /// Steps running now, so closing the session ends them (a loop that never ends too).
        var running: [UInt64: StepCancellation] = [:]
    }

    private let graph: Graph
    private let optimizations: GraphOptimizations
    private let resources = ResourceContainer()
    private let state = Mutex(State())

    /// Makes a backend for `graph` whose steps apply `optimizations`.
    public init(graph: Graph, optimizations: GraphOptimizations = .default) {
        self.graph = graph
        self.optimizations = optimizations
    }

    /// Runs a step with a cached plan, building the plan the first time a signature is seen.
    public func run(
        feeds: [(TensorName, Tensor)],
        fetches: [TensorName],
        targets: [String],
        collectStatistics: Bool
    ) throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?) {
        let signature = Signature(feeds: feeds.map(\.0), fetches: fetches, targets: targets)
        let cancellation = StepCancellation()
        let (plan, step) = try state.withLock { (state) throws(WeftError) -> (StepPlan, UInt64) in
            guard !state.closed else {
                throw WeftError(.failedPrecondition, "Attempted to use a closed Session.")
            }
            let step = state.nextStep
            state.nextStep += 1
            let count = graph.nodeCount
            if count != state.nodeCount {
                // The graph grew: load the new nodes; plans of the old graph stay valid but are
                // rebuilt so they see nodes that now exist.
                state.runtime = try RuntimeGraph(
                    nodes: graph.nodes().nodes,
                    registry: graph.registry,
                    functions: graph.functions,
                    lowersLoops: true
                )
                state.nodeCount = count
                state.plans.removeAll()
            }
            if let plan = state.plans[signature] { return (plan, step) }
            let plan = try StepPlan(
                graph: state.runtime!,
                feeds: signature.feeds,
                fetches: fetches,
                targets: targets,
                optimizations: optimizations
            )
            state.plans[signature] = plan
            return (plan, step)
        }
        try state.withLock { (state) throws(WeftError) in
            guard !state.closed else { throw WeftError(.cancelled, "the session was closed before the step started") }
            state.running[step] = cancellation
        }
        defer { state.withLock { _ = $0.running.removeValue(forKey: step) } }
        let collector = collectStatistics ? StepStatisticsCollector() : nil
        let context = StepContext(id: step, resources: resources, statistics: collector, cancellation: cancellation)
        let values = try plan.run(feeds: feeds.map(\.1), step: context)
        return (values, collector?.statistics)
    }

    /// Drops the session's variables.
    public func close() {
        let running = state.withLock { state in
            state.closed = true
            state.plans.removeAll()
            return state.running.values
        }
        for step in running { step.cancel(WeftError(.cancelled, "the session was closed while the step ran")) }
        resources.removeAll()
    }
}
