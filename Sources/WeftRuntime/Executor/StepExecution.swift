import Dispatch
import Synchronization

/// The state of one running step of a `StepPlan`: which nodes are still waiting for inputs,
/// the values produced so far, and the first error.
///
/// Scheduling follows TensorFlow's executor: a thread that finishes a node runs the inexpensive
/// nodes it made ready itself, and one expensive node when it has nothing else to do; the
/// others go to the kernel pool, so a chain of small ops never changes thread and independent
/// ops run in parallel. A thread that may not block (`InlineKernels.inexpensive`) hands every
/// expensive node to the pool.
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
    /// What the starting thread, and threads completing receives, may run.
    private let inline: StepPlan.InlineKernels
    private let done: @Sendable (Result<[Tensor], WeftError>) -> Void
    private let state: Mutex<State>

    private static let pool = DispatchQueue.global(qos: .userInitiated)

    init(
        plan: StepPlan,
        feeds: [Tensor],
        step: StepContext,
        inline: StepPlan.InlineKernels,
        done: @escaping @Sendable (Result<[Tensor], WeftError>) -> Void
    ) {
        self.plan = plan
        self.feeds = feeds
        self.step = step
        self.inline = inline
        self.done = done
        self.state = Mutex(State(values: [Value?](repeating: nil, count: plan.slotCount), pending: plan.initialPending))
    }

    func start() {
        let ready = plan.initialReady
        guard !ready.isEmpty else { return finish() }
        state.withLock { $0.outstanding = ready.count }
        process(ready, inline)
    }

    /// Runs the ready nodes `policy` lets this thread run, and the nodes they make ready, until
    /// none is left; hands the others to the pool.
    private func process(_ ready: [Int], _ policy: StepPlan.InlineKernels) {
        var queue = InlineQueue()
        enqueue(ready, into: &queue, policy)
        var budget = if case .inexpensive(let limit) = policy { limit } else { Int.max }
        while let current = queue.pop() {
            guard budget > 0 else { return handToPool([current] + queue.drain()) }
            budget -= 1
            let node = plan.nodes[current]
            guard let inputs = gatherInputs(node) else {
                enqueue(complete(current, .failure(WeftError(.cancelled, "step cancelled"))), into: &queue, policy)
                continue
            }
            let context = OpKernelContext(node: node.name, inputs: inputs, step: step)
            let started = step.statistics == nil ? nil : ContinuousClock.now
            if node.isAsync, let kernel = node.kernel as? any AsyncOpKernel {
                kernel.computeAsync(context) { result in
                    self.record(node, started: started, inputs: inputs, result)
                    self.process(self.complete(current, result), self.inline)
                }
                continue
            }
            let result: Result<[Value], WeftError>
            do throws(WeftError) {
                result = .success(try node.kernel.compute(context))
            } catch {
                result = .failure(error)
            }
            record(node, started: started, inputs: inputs, result)
            enqueue(complete(current, result), into: &queue, policy)
        }
    }

    /// Adds to this thread's `queue` the ready nodes it may run and hands the rest to the pool:
    /// inexpensive nodes stay; an expensive one stays only when `policy` allows it and nothing
    /// else waits here.
    private func enqueue(_ ready: [Int], into queue: inout InlineQueue, _ policy: StepPlan.InlineKernels) {
        for node in ready where !plan.nodes[node].isExpensive { queue.push(node) }
        var mayKeep = if case .all = policy { queue.isEmpty } else { false }
        for node in ready where plan.nodes[node].isExpensive {
            if mayKeep {
                queue.push(node)
                mayKeep = false
            } else {
                handToPool([node])
            }
        }
    }

    private func handToPool(_ nodes: [Int]) {
        Self.pool.async { self.process(nodes, .all) }
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

    /// Records a node's outcome and returns the consumers it made ready; finishes the step
    /// when it was the last node.
    private func complete(_ index: Int, _ result: Result<[Value], WeftError>) -> [Int] {
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
        if finished { finish() }
        return ready
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

/// The nodes one thread will run next, last in first out. The first needs no allocation, so a
/// chain of ops allocates nothing here.
private struct InlineQueue {
    private var top: Int?
    private var rest: [Int] = []

    var isEmpty: Bool { top == nil }

    mutating func push(_ node: Int) {
        if let top { rest.append(top) }
        top = node
    }

    mutating func pop() -> Int? {
        defer { top = rest.popLast() }
        return top
    }

    /// Removes and returns every queued node.
    mutating func drain() -> [Int] {
        var nodes = rest
        if let top { nodes.append(top) }
        self = InlineQueue()
        return nodes
    }
}
