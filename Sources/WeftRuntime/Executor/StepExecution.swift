import Dispatch
import Synchronization

/// The state of one running step of a `StepPlan`: the loop frames and iterations that are
/// running, the values waiting in their input slots, and the first error.
///
/// Scheduling follows TensorFlow's executor: a thread that finishes a node runs the inexpensive
/// nodes it made ready itself, and one expensive node when it has nothing else to do; the
/// others go to the kernel pool, so a chain of small ops never changes thread and independent
/// ops run in parallel. A thread that may not block (`InlineKernels.inexpensive`) hands every
/// expensive node to the pool.
///
/// Control flow follows TensorFlow's too. A value may be dead (the untaken output of a
/// `Switch`); a node with a dead input does not run and its outputs are dead, except `Merge`,
/// which forwards its first live input. A loop runs in a frame whose iterations each hold their
/// own input slots and pending counts; up to `parallel_iterations` of them run at once, and a
/// frame ends when its enters have all arrived and its last iteration is done.
final class StepExecution: Sendable {
    private struct State {
        let root: Iteration
        /// Nodes scheduled or running but not finished, in every frame.
        var outstanding = 0
        var error: WeftError?
        var fetched: [Value?]
    }

    /// A node made ready in an iteration, whether it is dead, and whether running it may hold
    /// a thread long (set under the lock, from what the step learned of its kernel). With
    /// `loop` set, it stands for a whole loop that runs on one thread (`runLoop`): `node` is
    /// then the loop's last enter and `iteration` the one the loop runs in.
    private struct Ready: Sendable {
        let node: Int
        let iteration: Iteration
        let isDead: Bool
        var isExpensive = false
        var loop: Frame?
    }

    private let plan: StepPlan
    private let feeds: [Tensor]
    private let step: StepContext
    /// What the starting thread, and threads completing receives, may run.
    private let inline: StepPlan.InlineKernels
    private let run: StepRun
    private let state: Mutex<State>

    private static let pool = DispatchQueue.global(qos: .userInitiated)

    init(_ run: StepRun) {
        self.run = run
        (plan, feeds, step, inline) = (run.plan, run.feeds, run.step, run.inline)
        let root = Iteration(rootOf: plan.layout)
        self.state = Mutex(State(root: root, fetched: [Value?](repeating: nil, count: plan.fetches.count)))
    }

    deinit {
        // Frames and iterations point at each other; a step that failed leaves some running.
        state.withLock { $0.root.frame.tearDown() }
    }

    func start() {
        let ready = state.withLock { state in
            state.outstanding = plan.initialReady.count
            state.root.outstandingOps = plan.initialReady.count
            return plan.initialReady.map {
                Ready(node: $0, iteration: state.root, isDead: false, isExpensive: isExpensive($0))
            }
        }
        guard !ready.isEmpty else { return finish() }
        process(ready, inline)
    }

    /// Runs the ready nodes `policy` lets this thread run, and the nodes they make ready, until
    /// none is left; hands the others to the pool.
    private func process(_ ready: [Ready], _ policy: StepPlan.InlineKernels) {
        var queue = InlineQueue<Ready>()
        enqueue(ready, into: &queue, policy)
        var budget = if case .inexpensive(let limit) = policy { limit } else { Int.max }
        while let current = queue.pop() {
            guard budget > 0 else { return handToPool([current] + queue.drain()) }
            budget -= 1
            if let loop = current.loop {
                enqueue(completeLoop(current, loop, runLoop(loop)), into: &queue, policy)
                continue
            }
            let node = plan.nodes[current.node]
            guard let inputs = gatherInputs(current) else {
                enqueue(complete(current, .failure(WeftError(.cancelled, "step cancelled"))), into: &queue, policy)
                continue
            }
            if node.kind == .send {
                enqueue(complete(current, send(node, current, inputs)), into: &queue, policy)
                continue
            }
            if current.isDead {
                enqueue(complete(current, .success(.dead)), into: &queue, policy)
                continue
            }
            if node.kind == .recv {
                receive(node, current)
                continue
            }
            if node.kind == .switch || node.kind == .merge {
                enqueue(complete(current, route(node, inputs)), into: &queue, policy)
                continue
            }
            let live = inputs.compactMap { $0 }
            if node.isAsync, let kernel = node.kernel as? any AsyncOpKernel {
                let started = step.statistics == nil ? nil : ContinuousClock.now
                kernel.computeAsync(OpKernelContext(node: node.name, inputs: live, step: step)) { result in
                    node.record(started: started, inputs: live, result, step: self.step)
                    self.process(self.complete(current, result.map(Outputs.values)), self.inline)
                }
                continue
            }
            let result = node.compute(current.node, live, step: step, costs: plan.costs)
            enqueue(complete(current, result.map(Outputs.values)), into: &queue, policy)
        }
    }

    /// The outputs of a `Switch` (data to output 1 when the predicate holds, else to output 0)
    /// or a `Merge` (its first live input and that input's index).
    private func route(_ node: StepPlan.Node, _ inputs: [Value?]) -> Result<Outputs, WeftError> {
        if node.kind == .merge {
            guard let index = inputs.firstIndex(where: { $0 != nil }), let value = inputs[index] else {
                return .failure(WeftError(.internal, "Merge '\(node.name)' ran without a live input"))
            }
            return .success(.merged(value, index: index))
        }
        guard inputs.count == 2, let data = inputs[0], let predicate = inputs[1] else {
            return .failure(WeftError(.internal, "Switch '\(node.name)' ran without its two inputs"))
        }
        return Self.switched(node, data, predicate)
    }

    /// A `Switch`'s outputs: `data` on the side its bool scalar `predicate` picks.
    private static func switched(_ node: StepPlan.Node, _ data: Value, _ predicate: Value) -> Result<Outputs, WeftError>
    {
        do throws(WeftError) {
            let predicate = try predicate.read()
            guard predicate.dtype == .bool, predicate.shape.rank == 0, let taken = predicate.scalar(as: Bool.self)
            else {
                throw WeftError(
                    .invalidArgument,
                    "the predicate of Switch '\(node.name)' must be a bool scalar, not a \(predicate.dtype) of shape \(predicate.shape)"
                )
            }
            return .success(.switched(data, taken: taken))
        } catch {
            return .failure(error)
        }
    }

    /// Runs a `_Send`, live or dead: a dead input sends a dead tensor, so the receiver's side of
    /// a cond or loop split across processes knows the branch or iteration is dead.
    private func send(_ node: StepPlan.Node, _ ready: Ready, _ inputs: [Value?]) -> Result<Outputs, WeftError> {
        guard let kernel = node.kernel as? SendKernel else {
            return .failure(WeftError(.internal, "'\(node.name)' is not a send"))
        }
        do throws(WeftError) {
            var tensor: Tensor?
            if !ready.isDead {
                guard let value = inputs.first ?? nil else {
                    throw WeftError(.internal, "'\(node.name)' ran without its input")
                }
                tensor = try value.read()
            }
            let context = OpKernelContext(node: node.name, inputs: [], step: step)
            try kernel.send(tensor, context, iteration: iterationKey(ready.iteration))
            return .success(ready.isDead ? .dead : .values([]))
        } catch {
            return .failure(error)
        }
    }

    /// Starts a `_Recv`; a dead tensor makes its output dead.
    private func receive(_ node: StepPlan.Node, _ ready: Ready) {
        guard let kernel = node.kernel as? RecvKernel else {
            return process(complete(ready, .failure(WeftError(.internal, "'\(node.name)' is not a receive"))), inline)
        }
        let started = step.statistics == nil ? nil : ContinuousClock.now
        let context = OpKernelContext(node: node.name, inputs: [], step: step)
        kernel.receive(context, iteration: iterationKey(ready.iteration)) { result in
            let values = result.map { tensor in tensor.map { [Value.tensor($0)] } ?? [] }
            node.record(started: started, inputs: [], values, step: self.step)
            guard case .success(nil) = result else {
                return self.process(self.complete(ready, values.map(Outputs.values)), self.inline)
            }
            let dead = Ready(node: ready.node, iteration: ready.iteration, isDead: true)
            self.process(self.complete(dead, .success(.dead)), self.inline)
        }
    }

    /// Names a loop iteration in rendezvous keys, the same in every process: each enclosing
    /// frame's name and iteration number, outermost first; empty in the root frame. Reads only
    /// what is fixed when the iteration starts (loops run on one thread, whose iterations are
    /// renumbered, hold no sends or receives).
    private func iterationKey(_ iteration: Iteration) -> String {
        guard let outer = iteration.frame.parent else { return "" }
        let own = plan.layout.frames[iteration.frame.index].name + ":" + String(iteration.number)
        let enclosing = iterationKey(outer)
        return enclosing.isEmpty ? own : enclosing + "/" + own
    }

    /// Adds to this thread's `queue` the ready nodes it may run and hands the rest to the pool:
    /// inexpensive nodes stay; an expensive one stays only when `policy` allows it and nothing
    /// else waits here. A thread that may not block (an I/O thread) goes by the ops' declared
    /// cost only: a kernel quick on the inputs seen so far may meet larger ones.
    private func enqueue(_ ready: [Ready], into queue: inout InlineQueue<Ready>, _ policy: StepPlan.InlineKernels) {
        let mayBlock = if case .all = policy { true } else { false }
        func expensive(_ item: Ready) -> Bool {
            if item.loop != nil { return true }
            return mayBlock ? item.isExpensive : !item.isDead && plan.nodes[item.node].isExpensive
        }
        // Last first, so nodes ready together run in the plan's order (see `SimpleStepExecution`).
        for item in ready.reversed() where !expensive(item) { queue.push(item) }
        var mayKeep = mayBlock && queue.isEmpty
        for item in ready where expensive(item) {
            if mayKeep {
                queue.push(item)
                mayKeep = false
            } else {
                handToPool([item])
            }
        }
    }

    private func handToPool(_ ready: [Ready]) {
        Self.pool.async { self.process(ready, .all) }
    }

    /// The node's inputs (`nil` where dead), taken out of its iteration's slots; `nil` when the
    /// step already failed and it should not run.
    private func gatherInputs(_ ready: Ready) -> [Value?]? {
        let node = plan.nodes[ready.node]
        return state.withLock { state -> [Value?]? in
            guard state.error == nil else { return nil }
            return node.inputs.map { source in
                switch source {
                case .feed(let feed): return .tensor(feeds[feed])
                case .slot(let slot): return ready.iteration.take(slot)
                }
            }
        }
    }

    /// Records a node's outcome and returns the nodes it made ready; finishes the step when
    /// nothing is left to run.
    private func complete(_ ready: Ready, _ result: Result<Outputs, WeftError>) -> [Ready] {
        let node = plan.nodes[ready.node]
        return settle { next, state throws(WeftError) in
            let outputs = try result.get()
            guard outputs.fits(node.outputCount) else {
                throw WeftError(
                    .internal,
                    "kernel of '\(node.name)' returned the wrong number of outputs, expected \(node.outputCount)"
                )
            }
            try propagate(ready, outputs, into: &next, &state)
        }
    }

    /// Finishes a loop that ran on one thread: passes its exits out, as when its last iteration
    /// ends, and retires it from the iteration it ran in.
    private func completeLoop(_ ready: Ready, _ loop: Frame, _ result: Result<Void, WeftError>) -> [Ready] {
        settle { next, state throws(WeftError) in
            try result.get()
            for exit in plan.layout.frames[loop.index].exits {
                let value = loop.exitValues[exit]
                for (output, fetch) in plan.nodes[exit].fetched where output == 0 && value != nil {
                    state.fetched[fetch] = value
                }
                activate(exit, value.map(Outputs.single) ?? .dead, isDead: value == nil, in: ready.iteration, &next)
            }
            ready.iteration.children[loop.index] = nil
            ready.iteration.outstandingOps -= 1
            retire(ready.iteration, &next)
        }
    }

    /// Applies a finished node's outcome under the step's lock (`apply` adds the nodes it made
    /// ready) and returns those nodes; keeps the step's first error and finishes the step when
    /// nothing is left to run.
    private func settle(_ apply: (inout [Ready], inout State) throws(WeftError) -> Void) -> [Ready] {
        var firstError: WeftError?
        let (next, finished) = state.withLock { state -> ([Ready], Bool) in
            var next: [Ready] = []
            if state.error == nil {
                do throws(WeftError) {
                    try apply(&next, &state)
                } catch {
                    state.error = error
                    firstError = error
                }
            }
            if state.error != nil { next = [] }
            for index in next.indices where !next[index].isDead && next[index].loop == nil {
                next[index].isExpensive = isExpensive(next[index].node)
            }
            state.outstanding += next.count - 1
            return (next, state.outstanding == 0)
        }
        if let firstError, let rendezvous = step.rendezvous {
            // Wake receives of this step that would otherwise wait for tensors that never come.
            rendezvous.abort(step: step.id, error: firstError)
        }
        if finished { finish() }
        return next
    }

    /// Whether a node may hold the thread that runs it long: an expensive op whose kernel this
    /// plan has not seen run quickly.
    private func isExpensive(_ node: Int) -> Bool {
        plan.nodes[node].isExpensive && !plan.costs.isQuick(node)
    }

    // MARK: Propagation, under the step's lock

    /// Passes a finished node's outputs to the frame and iteration its kind sends them to, then
    /// retires the node from its iteration, which may end iterations and frames.
    private func propagate(
        _ ready: Ready,
        _ outputs: Outputs,
        into next: inout [Ready],
        _ state: inout State
    ) throws(WeftError) {
        let node = plan.nodes[ready.node]
        let iteration = ready.iteration
        let frame = iteration.frame
        // Only live values: a loop's exit is dead in every iteration but its last.
        for (output, fetch) in node.fetched where outputs[output] != nil { state.fetched[fetch] = outputs[output] }
        switch node.kind {
        case .enter(let child, let isConstant):
            let loop = iteration.child(child, layout: plan.layout) { self.runsOnOneThread(child) }
            if loop.runsOnOneThread {
                loop.entries.append((ready.node, outputs[0], isConstant))
                loop.pendingEnters -= 1
                if loop.pendingEnters == 0 {
                    next.append(
                        Ready(node: ready.node, iteration: iteration, isDead: false, isExpensive: true, loop: loop)
                    )
                    iteration.outstandingOps += 1
                }
            } else if isConstant {
                loop.invariants.append((ready.node, outputs[0]))
                for running in loop.iterations.all {
                    activate(ready.node, outputs, isDead: ready.isDead, in: running, &next)
                }
            } else if let first = loop.iterations[0] {
                activate(ready.node, outputs, isDead: ready.isDead, in: first, &next)
            }
            if !loop.runsOnOneThread {
                loop.pendingEnters -= 1
                if let first = loop.iterations[0] { retire(first, &next) } else { endIfDone(loop, &next) }
            }
        case .exit:
            if outputs[0] != nil, let outer = frame.parent {
                frame.liveExits.insert(ready.node)
                activate(ready.node, outputs, isDead: false, in: outer, &next)
            }
        case .nextIteration:
            if outputs[0] != nil { try advance(ready.node, outputs, from: iteration, &next) }
        default:
            activate(ready.node, outputs, isDead: ready.isDead, in: iteration, &next)
        }
        iteration.outstandingOps -= 1
        retire(iteration, &next)
    }

    /// Hands a `NextIteration`'s value to the next iteration, starting it unless
    /// `parallel_iterations` are already running (then it starts when the oldest ends).
    private func advance(
        _ node: Int,
        _ outputs: Outputs,
        from iteration: Iteration,
        _ next: inout [Ready]
    ) throws(WeftError) {
        let frame = iteration.frame
        if let following = frame.iterations[iteration.number + 1] {
            return activate(node, outputs, isDead: false, in: following, &next)
        }
        // A runaway loop ends at the step's deadline or when its owner cancels the step.
        try step.cancellation.check()
        guard frame.iterations.count < plan.layout.frames[frame.index].parallelIterations else {
            return frame.deferred.append((node, outputs[0]))
        }
        activate(node, outputs, isDead: false, in: startIteration(frame, &next), &next)
    }

    /// Starts the frame's next iteration with the loop's invariants and any deferred values.
    private func startIteration(_ frame: Frame, _ next: inout [Ready]) -> Iteration {
        frame.iterationCount += 1
        let iteration = Iteration(frame: frame, number: frame.iterationCount, layout: plan.layout)
        frame.iterations.append(iteration)
        for (node, value) in frame.invariants {
            activate(node, .single(value), isDead: value == nil, in: iteration, &next)
        }
        let deferred = frame.deferred
        frame.deferred = []
        for (node, value) in deferred { activate(node, .single(value), isDead: false, in: iteration, &next) }
        return iteration
    }

    /// Delivers a node's outputs (`nil` where dead) to its consumers in `iteration`, and adds
    /// the consumers that became ready to `next`. A dead node's control edges carry deadness.
    private func activate(
        _ index: Int,
        _ outputs: Outputs,
        isDead: Bool,
        in iteration: Iteration,
        _ next: inout [Ready]
    ) {
        let node = plan.nodes[index]
        for edge in plan.edges[node.edges] {
            let consumer = plan.nodes[edge.consumer]
            let local = consumer.local
            let inputDead: Bool
            if edge.input < 0 {
                inputDead = isDead
            } else {
                let value = outputs[edge.output]
                iteration.inputs[edge.slot] = value
                inputDead = value == nil
            }
            let pendingBefore = iteration.pending[local]
            if consumer.kind == .merge {
                updateMerge(consumer, local: local, isControl: edge.input < 0, inputDead: inputDead, iteration)
            } else {
                iteration.pending[local] -= 1
                if inputDead { iteration.dead[local] += 1 }
            }
            guard pendingBefore > 0, iteration.pending[local] == 0 else { continue }
            let consumerDead =
                switch consumer.kind {
                case .merge: iteration.dead[local] >= 0
                case .controlTrigger: false
                default: iteration.dead[local] > 0
                }
            next.append(Ready(node: edge.consumer, iteration: iteration, isDead: consumerDead))
            iteration.outstandingOps += 1
        }
    }

    /// A Merge waits for its control inputs and for one live data input, or all of them dead.
    /// `dead` counts dead data inputs until a live one arrives, then stays -1.
    private func updateMerge(
        _ merge: StepPlan.Node,
        local: Int,
        isControl: Bool,
        inputDead: Bool,
        _ iteration: Iteration
    ) {
        if isControl {
            iteration.pending[local] -= 1
            return
        }
        guard iteration.dead[local] >= 0, iteration.pending[local] > 0 else { return }  // already live
        if !inputDead {
            iteration.dead[local] = -1
            iteration.pending[local] -= 1
            return
        }
        iteration.dead[local] += 1
        if Int(iteration.dead[local]) == merge.unfedDataInputs { iteration.pending[local] -= 1 }
    }

    /// Ends `iteration` and the ones after it that are done, in order, starting deferred
    /// iterations as room frees up; ends the frame when nothing is left in it.
    private func retire(_ iteration: Iteration, _ next: inout [Ready]) {
        let frame = iteration.frame
        var number = iteration.number
        while let current = frame.iterations[number], isDone(current) {
            frame.iterations.removeOldest()
            if !frame.deferred.isEmpty { _ = startIteration(frame, &next) }
            number += 1
        }
        endIfDone(frame, &next)
    }

    private func isDone(_ iteration: Iteration) -> Bool {
        guard iteration.outstandingOps == 0, iteration.children.isEmpty else { return false }
        if iteration.number == 0 { return iteration.frame.pendingEnters == 0 }
        return iteration.frame.iterations[iteration.number - 1] == nil
    }

    /// Ends a loop frame whose enters have all arrived and whose iterations are all done: exits
    /// that never produced a live value pass a dead one out, as the whole loop was dead.
    private func endIfDone(_ frame: Frame, _ next: inout [Ready]) {
        guard let outer = frame.parent, frame.pendingEnters == 0, frame.iterations.isEmpty else { return }
        for exit in plan.layout.frames[frame.index].exits where !frame.liveExits.contains(exit) {
            activate(exit, .dead, isDead: true, in: outer, &next)
        }
        outer.children[frame.index] = nil
        retire(outer, &next)
    }

    // MARK: Loops on one thread

    /// Whether loop frame `frame` runs all its iterations on the thread that starts it: it may
    /// (`StepPlan.sequentialLoops`) and its expensive kernels were all seen to run quickly, so
    /// spreading its iterations over threads would gain less than the hand-offs cost.
    private func runsOnOneThread(_ frame: Int) -> Bool {
        guard let expensive = plan.sequentialLoops[frame] else { return false }
        return expensive.allSatisfy { plan.costs.isQuick($0) }
    }

    /// Runs a loop whose enters have all arrived, one iteration after another on this thread
    /// and without the step's lock: nothing else touches the frame until it is done. Each
    /// iteration follows the executor's rules (`activate`) on one reused iteration's storage; the
    /// values its `NextIteration`s pass start the next one. Live exits go to `loop.exitValues`.
    private func runLoop(_ loop: Frame) -> Result<Void, WeftError> {
        // Statistics time every node, and a loop entered dead runs its first iteration dead:
        // both need the general rules.
        let live = loop.entries.compactMap { entry in entry.value.map { (node: entry.node, value: $0) } }
        if step.statistics == nil, live.count == loop.entries.count, let program = plan.loopPrograms[loop.index] {
            return run(program, loop, entries: live)
        }
        let iteration = Iteration(frame: loop, number: 0, layout: plan.layout)
        var ready: [Ready] = []
        var carried: [(node: Int, value: Value)] = []
        do throws(WeftError) {
            for (node, value, _) in loop.entries {
                activate(node, value.map(Outputs.single) ?? .dead, isDead: value == nil, in: iteration, &ready)
            }
            while true {
                try runIteration(iteration, loop, &ready, carrying: &carried)
                guard !carried.isEmpty else { return .success(()) }
                // A runaway loop ends at the step's deadline, when its owner cancels the step,
                // or when another part of the step failed.
                try step.cancellation.check()
                if state.withLock({ $0.error != nil }) { throw WeftError(.cancelled, "step cancelled") }
                iteration.restart(number: iteration.number + 1, layout: plan.layout)
                for (node, value, isConstant) in loop.entries where isConstant {
                    activate(node, value.map(Outputs.single) ?? .dead, isDead: value == nil, in: iteration, &ready)
                }
                for (node, value) in carried { activate(node, .single(value), isDead: false, in: iteration, &ready) }
                carried.removeAll(keepingCapacity: true)
            }
        } catch {
            return .failure(error)
        }
    }

    /// Runs a loop compiled to straight-line code (`LoopProgram`), its exits' values going to
    /// `loop.exitValues`.
    private func run(
        _ program: LoopProgram,
        _ loop: Frame,
        entries: [(node: Int, value: Value)]
    ) -> Result<Void, WeftError> {
        // One context serves every kernel: making one retains.
        let step = step
        var context = OpKernelContext(node: "", inputs: [], step: step)
        let kernels = LoopProgram.Kernels(table: plan.table, costs: plan.costs, step: step.id)
        do throws(WeftError) {
            let exits = try program.run(entries: entries, context: &context, kernels: kernels) { () throws(WeftError) in
                try step.cancellation.check()
                if state.withLock({ $0.error != nil }) { throw WeftError(.cancelled, "step cancelled") }
            }
            for (node, value) in exits { loop.exitValues[node] = value }
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    /// Runs the nodes of one iteration of a loop on one thread until none is ready, keeping the
    /// live values its `NextIteration`s pass in `carried` and its exits' in `loop.exitValues`.
    private func runIteration(
        _ iteration: Iteration,
        _ loop: Frame,
        _ ready: inout [Ready],
        carrying carried: inout [(node: Int, value: Value)]
    ) throws(WeftError) {
        var inputs: [Value] = []
        while let current = ready.popLast() {
            let node = plan.nodes[current.node]
            let outputs = try current.isDead ? .dead : runInLoop(node, current.node, iteration, &inputs)
            switch node.kind {
            case .exit:
                if let value = outputs[0] { loop.exitValues[current.node] = value }
            case .nextIteration:
                if let value = outputs[0] { carried.append((current.node, value)) }
            default:
                activate(current.node, outputs, isDead: current.isDead, in: iteration, &ready)
            }
        }
    }

    /// Runs one live node of a loop run on one thread: routes a `Switch` or `Merge`, or runs the
    /// kernel on `inputs`, a buffer reused from node to node.
    private func runInLoop(
        _ node: StepPlan.Node,
        _ index: Int,
        _ iteration: Iteration,
        _ inputs: inout [Value]
    ) throws(WeftError) -> Outputs {
        func input(_ source: StepPlan.Source) -> Value? {
            switch source {
            case .feed(let feed): .tensor(feeds[feed])
            case .slot(let slot): iteration.take(slot)
            }
        }
        switch node.kind {
        case .merge:
            for (position, source) in node.inputs.enumerated() {
                if let value = input(source) { return .merged(value, index: position) }
            }
            throw WeftError(.internal, "Merge '\(node.name)' ran without a live input")
        case .switch:
            guard node.inputs.count == 2, let data = input(node.inputs[0]), let predicate = input(node.inputs[1]) else {
                throw WeftError(.internal, "Switch '\(node.name)' ran without its two inputs")
            }
            return try Self.switched(node, data, predicate).get()
        default:
            inputs.removeAll(keepingCapacity: true)
            for source in node.inputs {
                guard let value = input(source) else {
                    throw WeftError(.internal, "'\(node.name)' ran without its inputs")
                }
                inputs.append(value)
            }
            let result = node.compute(index, inputs, step: step, costs: plan.costs)
            let values = try result.get()
            guard values.count == node.outputCount else {
                throw WeftError(
                    .internal,
                    "kernel of '\(node.name)' returned the wrong number of outputs, expected \(node.outputCount)"
                )
            }
            return .values(values)
        }
    }

    private func finish() {
        let (error, fetched) = state.withLock { state in (state.error, state.fetched) }
        run.finish(error: error, produced: { fetched[$0] }) { position in
            WeftError(
                .invalidArgument,
                "the fetched tensor \(position) is dead: it lies on a branch of a cond that was not taken"
            )
        }
    }
}

/// A frame's running iterations, oldest first: they start in order and end in order.
private struct RunningIterations {
    private var first = 0
    private var items: [Iteration] = []

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    var all: [Iteration] { items }

    subscript(number: Int) -> Iteration? {
        let offset = number - first
        return offset >= 0 && offset < items.count ? items[offset] : nil
    }

    /// Adds the iteration after the newest.
    mutating func append(_ iteration: Iteration) {
        if items.isEmpty { first = iteration.number }
        items.append(iteration)
    }

    mutating func removeOldest() {
        items.removeFirst()
        first += 1
    }
}

/// What a finished node passes on, without copying a kernel's values into a new array.
private enum Outputs {
    /// A kernel's values, all live.
    case values([Value])
    /// A `Switch`'s or `Merge`'s outputs, `nil` where dead.
    case routed([Value?])
    /// A `Switch`'s outputs: `value` on output 1 when the predicate held, else on output 0.
    case switched(Value, taken: Bool)
    /// A `Merge`'s outputs: the live input and its index, made only when a consumer reads it.
    case merged(Value, index: Int)
    /// One output: a loop invariant or a deferred next iteration.
    case single(Value?)
    /// Every output dead: the node did not run.
    case dead

    subscript(output: Int) -> Value? {
        switch self {
        case .values(let values): values[output]
        case .routed(let values): values[output]
        case .switched(let value, let taken): (output == 1) == taken ? value : nil
        case .merged(let value, let index): output == 0 ? value : .tensor(Tensor(Int32(index)))
        case .single(let value): value
        case .dead: nil
        }
    }

    /// Whether there are as many outputs as the node has (routing and deadness always fit).
    func fits(_ count: Int) -> Bool {
        if case .values(let values) = self { return values.count == count }
        return true
    }
}

/// One running instance of a loop frame (or the step's root frame). Touched only under the
/// step's lock, which is why its state skips Swift's dynamic exclusivity checks (they cost
/// more than the work on a loop of scalar ops).
private final class Frame: @unchecked Sendable {
    /// The frame in `FrameLayout`.
    let index: Int
    /// The iteration of the outer frame the loop runs in; `nil` for the root.
    let parent: Iteration?
    /// Running iterations, at most `parallel_iterations` of them.
    @exclusivity(unchecked) var iterations = RunningIterations()
    /// The highest iteration started.
    @exclusivity(unchecked) var iterationCount = 0
    @exclusivity(unchecked) var pendingEnters: Int
    /// Values of constant enters, given to every iteration.
    @exclusivity(unchecked) var invariants: [(node: Int, value: Value?)] = []
    /// `NextIteration` values waiting for room under `parallel_iterations`.
    @exclusivity(unchecked) var deferred: [(node: Int, value: Value?)] = []
    /// Exits that passed a live value out.
    @exclusivity(unchecked) var liveExits: Set<Int> = []
    /// Whether the loop runs all its iterations on one thread (`StepExecution.runLoop`), once
    /// its enters have all arrived; then it has no `iterations` here.
    let runsOnOneThread: Bool
    /// For a loop run on one thread: the enters' values (`nil` where dead), and the live value
    /// each exit passed out.
    @exclusivity(unchecked) var entries: [(node: Int, value: Value?, isConstant: Bool)] = []
    @exclusivity(unchecked) var exitValues: [Int: Value] = [:]

    init(layout: FrameLayout, index: Int, parent: Iteration?, runsOnOneThread: Bool = false) {
        self.index = index
        self.parent = parent
        self.pendingEnters = layout.frames[index].enters
        self.runsOnOneThread = runsOnOneThread
    }

    /// Drops every iteration and the loops inside them, breaking the references between them.
    func tearDown() {
        for iteration in iterations.all {
            for child in iteration.children.values { child.tearDown() }
            iteration.children = [:]
        }
        iterations = RunningIterations()
    }
}

/// One iteration of a frame: its nodes' input slots and pending counts, and the loops started
/// in it. Touched only under the step's lock.
private final class Iteration: @unchecked Sendable {
    let frame: Frame
    @exclusivity(unchecked) var number: Int
    @exclusivity(unchecked) var inputs: [Value?]
    @exclusivity(unchecked) var pending: [Int32]
    /// Dead inputs per node (for a Merge, see `StepExecution.updateMerge`).
    @exclusivity(unchecked) var dead: [Int32]
    /// Nodes made ready here and not finished.
    @exclusivity(unchecked) var outstandingOps = 0
    /// Loops running inside this iteration, by frame.
    @exclusivity(unchecked) var children: [Int: Frame] = [:]

    init(frame: Frame, number: Int, layout: FrameLayout) {
        self.frame = frame
        self.number = number
        let info = layout.frames[frame.index]
        inputs = [Value?](repeating: nil, count: info.inputSlots)
        pending = info.initialPending
        dead = info.initialDead
    }

    /// The value in input slot `slot`, which is emptied: each is read once, and memory held by
    /// an iteration's values goes as soon as their consumer has them.
    func take(_ slot: Int) -> Value? {
        defer { inputs[slot] = nil }
        return inputs[slot]
    }

    /// Makes this the frame's iteration `number`, as new: for a loop run on one thread, which
    /// reuses one iteration's storage for all of them.
    func restart(number: Int, layout: FrameLayout) {
        self.number = number
        let info = layout.frames[frame.index]
        for slot in inputs.indices { inputs[slot] = nil }
        for node in pending.indices {
            pending[node] = info.initialPending[node]
            dead[node] = info.initialDead[node]
        }
        outstandingOps = 0
    }

    /// Iteration 0 of a new root frame.
    convenience init(rootOf layout: FrameLayout) {
        self.init(frame: Frame(layout: layout, index: 0, parent: nil), number: 0, layout: layout)
        frame.iterations.append(self)
    }

    /// The running instance of loop frame `index` in this iteration, started by its first enter
    /// with its iteration 0, unless `runsOnOneThread` decides the loop waits for all its enters
    /// and then runs on one thread.
    func child(_ index: Int, layout: FrameLayout, runsOnOneThread: () -> Bool) -> Frame {
        if let frame = children[index] { return frame }
        let oneThread = runsOnOneThread()
        let frame = Frame(layout: layout, index: index, parent: self, runsOnOneThread: oneThread)
        if !oneThread { frame.iterations.append(Iteration(frame: frame, number: 0, layout: layout)) }
        children[index] = frame
        return frame
    }
}

/// The nodes one thread will run next, last in first out. The first needs no allocation, so a
/// chain of ops allocates nothing here.
struct InlineQueue<Element> {
    private var top: Element?
    private var rest: [Element] = []

    var isEmpty: Bool { top == nil }

    mutating func push(_ element: Element) {
        if let top { rest.append(top) }
        top = element
    }

    mutating func pop() -> Element? {
        defer { top = rest.popLast() }
        return top
    }

    /// Removes and returns every queued element.
    mutating func drain() -> [Element] {
        var elements = rest
        if let top { elements.append(top) }
        self = InlineQueue()
        return elements
    }
}
