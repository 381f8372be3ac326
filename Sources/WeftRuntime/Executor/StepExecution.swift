import Dispatch
import Synchronization

/// The state of one running step of a `StepPlan`: which nodes are still waiting for inputs,
/// the values produced so far, and the first error.
///
/// Scheduling follows TensorFlow's executor: a thread that finishes a node runs one of the
/// nodes it made ready itself and hands the others to the kernel pool, so a chain of small
/// ops never changes thread and independent ops run in parallel.
final class StepExecution: Sendable {
    private struct State {
        var values: [Value?]
        var pending: [Int]
        /// Nodes scheduled or running but not finished.
        var outstanding = 0
        var error: WeftError?
    }

    private let plan: StepPlan
    private let feeds: [Tensor]
    private let step: StepContext
    private let done: @Sendable (Result<[Tensor], WeftError>) -> Void
    private let state: Mutex<State>

    private static let pool = DispatchQueue.global(qos: .userInitiated)

    init(
        plan: StepPlan,
        feeds: [Tensor],
        step: StepContext,
        done: @escaping @Sendable (Result<[Tensor], WeftError>) -> Void
    ) {
        self.plan = plan
        self.feeds = feeds
        self.step = step
        self.done = done
        self.state = Mutex(State(values: [Value?](repeating: nil, count: plan.slotCount), pending: plan.initialPending))
    }

    func start() {
        let ready = plan.initialReady
        guard !ready.isEmpty else { return finish() }
        state.withLock { $0.outstanding = ready.count }
        schedule(ready)
    }

    /// Hands all but the first ready node to the pool and runs the first here.
    private func schedule(_ ready: [Int]) {
        for node in ready.dropFirst() {
            Self.pool.async { self.process(node) }
        }
        if let first = ready.first { process(first) }
    }

    private func process(_ first: Int) {
        var next: Int? = first
        while let current = next {
            let node = plan.nodes[current]
            guard let inputs = gatherInputs(node) else {
                next = complete(current, .failure(WeftError(.cancelled, "step cancelled")))
                continue
            }
            let context = OpKernelContext(node: node.name, inputs: inputs, step: step)
            let started = step.statistics == nil ? nil : ContinuousClock.now
            if node.isAsync, let kernel = node.kernel as? any AsyncOpKernel {
                kernel.computeAsync(context) { result in
                    self.record(node, started: started, inputs: inputs, result)
                    if let following = self.complete(current, result) { self.process(following) }
                }
                return
            }
            let result: Result<[Value], WeftError>
            do throws(WeftError) {
                result = .success(try node.kernel.compute(context))
            } catch {
                result = .failure(error)
            }
            record(node, started: started, inputs: inputs, result)
            next = complete(current, result)
        }
    }

    /// Times a node that ran, when the step collects statistics (`started` is set only then).
    private func record(
        _ node: StepPlan.Node,
        started: ContinuousClock.Instant?,
        inputs: [Value],
        _ result: Result<[Value], WeftError>
    ) {
        guard let started, let collector = step.statistics, case .success(let outputs) = result else { return }
        collector.record(node: node.name, op: node.op, started: started, inputs: inputs, outputs: outputs)
    }

    /// The node's input values, or `nil` when the step already failed and it should not run.
    private func gatherInputs(_ node: StepPlan.Node) -> [Value]? {
        state.withLock { state -> [Value]? in
            guard state.error == nil else { return nil }
            return node.inputs.map { source in
                switch source {
                case .feed(let feed): .tensor(feeds[feed])
                case .slot(let slot): state.values[slot]!  // producers finish before consumers start
                }
            }
        }
    }

    /// Records a node's outcome, releases its consumers, and returns one of them to run inline.
    private func complete(_ index: Int, _ result: Result<[Value], WeftError>) -> Int? {
        let node = plan.nodes[index]
        var firstError: WeftError?
        let (ready, finished) = state.withLock { state -> ([Int], Bool) in
            switch result {
            case .success(let outputs) where outputs.count == node.outputCount:
                for (offset, value) in outputs.enumerated() { state.values[node.firstSlot + offset] = value }
            case .success(let outputs):
                if state.error == nil {
                    state.error = WeftError(
                        .internal,
                        "kernel of '\(node.name)' returned \(outputs.count) outputs, expected \(node.outputCount)"
                    )
                    firstError = state.error
                }
            case .failure(let error):
                if state.error == nil {
                    state.error = error
                    firstError = error
                }
            }
            var ready: [Int] = []
            if state.error == nil {
                for consumer in node.consumers {
                    state.pending[consumer] -= 1
                    if state.pending[consumer] == 0 { ready.append(consumer) }
                }
            }
            state.outstanding += ready.count - 1
            return (ready, state.outstanding == 0)
        }
        if let firstError, let rendezvous = step.rendezvous {
            // Wake receives of this step that would otherwise wait for tensors that never come.
            rendezvous.abort(step: step.id, error: firstError)
        }
        if finished {
            finish()
            return nil
        }
        for node in ready.dropFirst() {
            Self.pool.async { self.process(node) }
        }
        return ready.first
    }

    private func finish() {
        let (error, values) = state.withLock { state in (state.error, state.values) }
        if let error { return done(.failure(error)) }
        do throws(WeftError) {
            var fetched: [Tensor] = []
            fetched.reserveCapacity(plan.fetches.count)
            for source in plan.fetches {
                switch source {
                case .feed(let feed): fetched.append(feeds[feed])
                case .slot(let slot): fetched.append(try values[slot]!.read())  // every planned node ran
                }
            }
            done(.success(fetched))
        } catch {
            done(.failure(error))
        }
    }
}
