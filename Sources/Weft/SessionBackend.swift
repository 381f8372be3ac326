import Dispatch
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
    /// Runs one step like `run(feeds:fetches:targets:collectStatistics:)` without holding a
    /// thread while the step is computed elsewhere. Cancelling the awaiting task ends the step
    /// with `cancelled`; the session serves later steps.
    func run(
        feeds: [(TensorName, Tensor)],
        fetches: [TensorName],
        targets: [String],
        collectStatistics: Bool
    ) async throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?)
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
        /// The last step's signature and plan: a loop of `run` calls compares its names, which
        /// share storage from step to step, instead of hashing them.
        var last: (signature: Signature, plan: StepPlan)?
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
        let step = try start(feeds: feeds, fetches: fetches, targets: targets, collectStatistics: collectStatistics)
        defer { finish(step) }
        let values = try step.plan.run(feeds: feeds.map(\.1), step: step.context)
        return (values, step.collector?.statistics)
    }

    /// Runs a step on a thread of its own and the kernel pool, resuming the caller when it is
    /// done; cancelling the caller's task cancels the step.
    public func run(
        feeds: [(TensorName, Tensor)],
        fetches: [TensorName],
        targets: [String],
        collectStatistics: Bool
    ) async throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?) {
        let step = try start(feeds: feeds, fetches: fetches, targets: targets, collectStatistics: collectStatistics)
        defer { finish(step) }
        let tensors = feeds.map(\.1)
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<[Tensor], WeftError>, Never>) in
                // The calling thread belongs to the cooperative pool: kernels run elsewhere.
                DispatchQueue.global().async {
                    step.plan.run(feeds: tensors, step: step.context, inline: .all) { continuation.resume(returning: $0) }
                }
            }
        } onCancel: {
            step.context.cancellation.cancel(WeftError(.cancelled, "the task awaiting the step was cancelled"))
        }
        return (try result.get(), step.collector?.statistics)
    }

    /// A step about to run: its plan and context, entered among the running steps.
    private struct StartedStep: Sendable {
        var plan: StepPlan
        var context: StepContext
        var collector: StepStatisticsCollector?
    }

    /// Loads nodes added since the last step, finds or builds the signature's plan and enters
    /// the step among those running, so closing the session cancels it.
    private func start(
        feeds: [(TensorName, Tensor)],
        fetches: [TensorName],
        targets: [String],
        collectStatistics: Bool
    ) throws(WeftError) -> StartedStep {
        let signature = Signature(feeds: feeds.map(\.0), fetches: fetches, targets: targets)
        let cancellation = StepCancellation()
        let (plan, step) = try state.withLock { (state) throws(WeftError) -> (StepPlan, UInt64) in
            guard !state.closed else {
                throw WeftError(.failedPrecondition, "Attempted to use a closed Session.")
            }
            let step = state.nextStep
            state.nextStep += 1
            let count = graph.nodeCount
            if count != state.nodeCount || state.runtime == nil {
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
                state.last = nil
            }
            // At most one lookup of the signature per step: hashing it is a good part of a small step.
            let plan: StepPlan
            if let last = state.last, last.signature == signature {
                plan = last.plan
            } else {
                if let known = state.plans[signature] {
                    plan = known
                } else {
                    plan = try self.plan(for: signature, in: &state)
                }
                state.last = (signature, plan)
            }
            state.running[step] = cancellation
            return (plan, step)
        }
        let collector = collectStatistics ? StepStatisticsCollector() : nil
        collector?.record(partitionGraph: plan.optimizedGraph)
        let context = StepContext(id: step, resources: resources, statistics: collector, cancellation: cancellation)
        return StartedStep(plan: plan, context: context, collector: collector)
    }

    /// Builds and keeps the plan of a signature the session has not run since its graph grew.
    private func plan(for signature: Signature, in state: inout State) throws(WeftError) -> StepPlan {
        guard let runtime = state.runtime else { throw WeftError(.internal, "the session's graph was not loaded") }
        let plan = try StepPlan(
            graph: runtime,
            feeds: signature.feeds,
            fetches: signature.fetches,
            targets: signature.targets,
            optimizations: optimizations
        )
        state.plans[signature] = plan
        return plan
    }

    /// Leaves the running steps.
    private func finish(_ step: StartedStep) {
        state.withLock { _ = $0.running.removeValue(forKey: step.context.id) }
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
