import Dispatch
import Synchronization

/// One running step of a plan without control flow, the common case, as TensorFlow's
/// `SimplePropagatorState`: no frames, no dead values, and no lock.
///
/// Each node has an atomic count of the inputs it still waits for, and each input a slot that
/// exactly one producer writes before it counts the consumer down; the thread that brings the
/// count to zero owns the node and reads its slots. So threads running independent nodes never
/// wait for one another, and a thread running a chain of small ops touches only atomics and the
/// chain's own slots. Scheduling is `StepExecution`'s: inexpensive nodes run inline, and an
/// expensive one runs on this thread only when nothing else waits here.
final class SimpleStepExecution: @unchecked Sendable {
    // Sendable: the buffers are shared by the step's threads under the protocol above, and
    // freed in deinit, after the last thread is done with the step.
    private let plan: StepPlan
    private let feeds: [Tensor]
    private let step: StepContext
    private let inline: StepPlan.InlineKernels
    private let run: StepRun

    // The plan's node table (`StepPlan.NodeTable`), read without retains: `plan` owns the
    // table, and this step holds `plan` until it is freed, so the pointers outlive every use.
    private let entries: UnsafePointer<StepPlan.NodeTable.Entry>
    private let sources: UnsafePointer<StepPlan.NodeTable.Input>
    private let targets: UnsafePointer<StepPlan.NodeTable.Target>
    private let kernels: UnsafeMutablePointer<any OpKernel>
    private let names: UnsafePointer<String>
    private let table: StepPlan.NodeTable

    /// Every node's data input slots (`StepPlan.Edge.slot`).
    private let slots: UnsafeMutablePointer<Value?>
    private let slotCount: Int
    /// Inputs (data and control) each node still waits for.
    private let pending: UnsafeMutablePointer<Atomic<Int32>>
    /// The fetched values, each written once by its producer.
    private let fetched: UnsafeMutablePointer<Value?>
    /// Nodes ready or running and not finished; the step ends when it reaches zero.
    private let outstanding = Atomic<Int>(0)
    /// Set with the first error: nodes not yet started then finish without running.
    private let failed = Atomic<Bool>(false)
    private let firstError = Mutex<WeftError?>(nil)

    private static let pool = DispatchQueue.global(qos: .userInitiated)

    init(_ run: StepRun) {
        self.run = run
        (plan, feeds, step, inline) = (run.plan, run.feeds, run.step, run.inline)
        table = plan.table
        (entries, sources, targets) = (.init(table.entries), .init(table.sources), .init(table.targets))
        (kernels, names) = (table.kernels, .init(table.names))
        let root = plan.layout.frames[0]
        slotCount = root.inputSlots
        slots = .allocate(capacity: max(slotCount, 1))
        slots.initialize(repeating: nil, count: slotCount)
        pending = .allocate(capacity: max(root.initialPending.count, 1))
        for (node, count) in root.initialPending.enumerated() { (pending + node).initialize(to: Atomic(count)) }
        fetched = .allocate(capacity: max(plan.fetches.count, 1))
        fetched.initialize(repeating: nil, count: plan.fetches.count)
    }

    deinit {
        // Each consumer took its inputs, so after a step that ran to the end every slot is
        // empty: testing each inline costs a fraction of `deinitialize(count:)`, which calls
        // the type's destroy witness once per slot.
        for slot in 0..<slotCount where slots[slot] != nil { (slots + slot).deinitialize(count: 1) }
        slots.deallocate()
        pending.deinitialize(count: plan.layout.frames[0].initialPending.count)
        pending.deallocate()
        fetched.deinitialize(count: plan.fetches.count)
        fetched.deallocate()
    }

    func start() {
        let ready = plan.initialReady
        guard !ready.isEmpty else { return finish() }
        outstanding.store(ready.count, ordering: .releasing)
        process(ready, inline)
    }

    /// Runs the ready nodes `policy` lets this thread run, and the nodes they make ready, until
    /// none is left; hands the others to the pool.
    private func process(_ ready: [Int], _ policy: StepPlan.InlineKernels) {
        var queue = InlineQueue<Int>()
        enqueue(ready, into: &queue, policy)
        var budget = if case .inexpensive(let limit) = policy { limit } else { Int.max }
        var next: [Int] = []
        // One context for every node, and so one inputs array: a kernel that returns leaves it
        // unshared, so the next node reuses its storage (after one that kept it, the next gets
        // a copy on write).
        var context = OpKernelContext(node: "", inputs: [], step: step)
        var sends = CorkedSends()
        var current = queue.pop()
        while let index = current {
            guard budget > 0 else {
                flush(&sends)
                return handToPool([index] + queue.drain())
            }
            budget -= 1
            if entries[index].flags.contains(.corksSend) {
                cork(index, &context, into: &sends)
            } else {
                if sends.mustFlush(beforeNodeThatMayTakeLong: mayTakeLong(index)) { flush(&sends) }
                run(index, &context, into: &next)
            }
            current = takeNext(&next, from: &queue, policy)
        }
        flush(&sends)
    }

    /// Takes a `_Send`'s tensor into `sends` rather than handing it to the rendezvous at once:
    /// the `_Send`s one thread runs together then travel in one message per receiving process
    /// (a parameter server's twelve sends to two towers in two messages, not twelve, each
    /// costing both processes thread wake-ups and an acknowledgement). The node completes when
    /// `flush` hands them over; it has no edges out, so nothing waits for it meanwhile.
    private func cork(_ index: Int, _ context: inout OpKernelContext, into sends: inout CorkedSends) {
        var next: [Int] = []
        guard !failed.load(ordering: .relaxed), takeInputs(index, into: &context.inputs),
            let kernel = kernels[index] as? SendKernel
        else {
            return complete(index, .failure(WeftError(.cancelled, "step cancelled")), into: &next)
        }
        let tensor: Tensor
        do throws(WeftError) {
            tensor = try context.input(0)
        } catch {
            context.inputs.empty()
            return complete(index, .failure(error), into: &next)
        }
        if let collector = step.statistics {
            collector.record(
                node: names[index],
                op: "_Send",
                started: .now,
                inputs: context.inputs,
                outputs: [],
                rendezvousKey: kernel.key
            )
        }
        context.inputs.empty()
        sends.add(RendezvousSend(key: kernel.key, tensor: tensor), node: index)
    }

    /// Whether node `index` may keep this thread long: an asynchronous kernel, whose completion
    /// may run on this thread, or an expensive one not seen to run quickly.
    private func mayTakeLong(_ index: Int) -> Bool {
        let flags = entries[index].flags
        return flags.contains(.isAsync) || flags.contains(.isExpensive) && !plan.costs.isQuick(index)
    }

    /// Hands the corked sends to the rendezvous and completes their nodes.
    private func flush(_ sends: inout CorkedSends) {
        guard !sends.isEmpty else { return }
        let (corked, nodes) = sends.take()
        var result = Result<Outputs, WeftError>.success(.array([]))
        if let rendezvous = step.rendezvous {
            do throws(WeftError) {
                try rendezvous.send(corked, step: step.id)
            } catch {
                result = .failure(error)
            }
        } else {
            result = .failure(SendRecvOps.noRendezvous(names[nodes[0]]))
        }
        var next: [Int] = []
        for node in nodes { complete(node, result, into: &next) }
    }

    /// Runs node `index` on this thread, or starts it when it is asynchronous, and appends the
    /// nodes it made ready to `next`.
    private func run(_ index: Int, _ context: inout OpKernelContext, into next: inout [Int]) {
        guard !failed.load(ordering: .relaxed), takeInputs(index, into: &context.inputs) else {
            return complete(index, .failure(WeftError(.cancelled, "step cancelled")), into: &next)
        }
        context.node = names[index]
        if entries[index].flags.contains(.isAsync), let kernel = kernels[index] as? any AsyncOpKernel {
            startAsync(index, kernel, context)
            context.inputs = []  // the kernel's own now
            return
        }
        let result = compute(index, &context)
        // The inputs go now, as they would with the node's own array.
        context.inputs.empty()
        complete(index, result, into: &next)
    }

    /// The node to run next, and `ready` emptied: a lone ready node this thread may run (a
    /// chain's next link) skips the queue, which would hand it back at once; otherwise the
    /// queue's top, once `ready` is queued.
    private func takeNext(
        _ ready: inout [Int],
        from queue: inout InlineQueue<Int>,
        _ policy: StepPlan.InlineKernels
    ) -> Int? {
        defer { ready.empty() }
        if ready.count == 1, !isExpensive(ready[0], policy) { return ready[0] }
        enqueue(ready, into: &queue, policy)
        return queue.pop()
    }

    /// Starts an asynchronous kernel, which completes the node, and runs what it made ready,
    /// on whichever thread it ends.
    private func startAsync(_ index: Int, _ kernel: any AsyncOpKernel, _ context: OpKernelContext) {
        let node = plan.nodes[index]
        let started = step.statistics == nil ? nil : ContinuousClock.now
        kernel.computeAsync(context) { result in
            node.record(started: started, inputs: context.inputs, result, step: self.step)
            var next: [Int] = []
            self.complete(index, result.map(Outputs.array), into: &next)
            self.process(next, self.inline)
        }
    }

    /// Runs node `index`'s kernel on this thread, as `StepPlan.Node.compute` does: timed only
    /// when the step collects statistics or the plan's costs ask.
    private func compute(_ index: Int, _ context: inout OpKernelContext) -> Result<Outputs, WeftError> {
        let learns = entries[index].flags.contains(.isExpensive) && plan.costs.shouldTime(index, step: step.id)
        guard learns || step.statistics != nil else { return computeUntimed(index, &context) }
        return computeTimed(index, &context, learns: learns)
    }

    private func computeUntimed(_ index: Int, _ context: inout OpKernelContext) -> Result<Outputs, WeftError> {
        do throws(WeftError) {
            if entries[index].flags.contains(.singleOutput) {
                return .success(.one(try table.computeOutput(index, &context)))
            }
            return .success(.array(try StepPlan.NodeTable.call(&kernels[index], context)))
        } catch {
            return .failure(error)
        }
    }

    // Out of line: the clock's types are resilient, and would cost every untimed node their
    // metadata and stack space.
    @inline(never)
    private func computeTimed(
        _ index: Int,
        _ context: inout OpKernelContext,
        learns: Bool
    ) -> Result<Outputs, WeftError> {
        // Kept for the step's statistics, when it collects them: the kernel may take its inputs
        // out of the context (and cannot write into one that a copy holds).
        let inputs = step.statistics == nil ? [] : context.inputs
        let began = ContinuousClock.now
        let result = computeUntimed(index, &context)
        if learns { plan.costs.learn(index, ranFor: ContinuousClock.now - began) }
        // Only a step that collects statistics records: the outputs' array would be made for nothing.
        if step.statistics != nil {
            plan.nodes[index].record(started: began, inputs: inputs, result.map(\.values), step: step)
        }
        return result
    }

    /// Puts node `index`'s inputs in `inputs`, taken out of their slots (each is read once, so
    /// memory held by a value goes as soon as its last consumer ran); `false` if a slot is
    /// empty, which the counting protocol rules out.
    private func takeInputs(_ index: Int, into inputs: inout [Value]) -> Bool {
        inputs.empty()
        for position in entries[index].sourceStart..<entries[index + 1].sourceStart {
            let source = sources[position]
            guard source.slot >= 0 else {
                inputs.append(.tensor(feeds[-1 - source.slot]))
                continue
            }
            guard let value = slots[source.slot].take() else { return false }
            inputs.append(value)
        }
        return true
    }

    /// Adds to `queue` the ready nodes this thread may run and hands the rest to the pool, as
    /// `StepExecution.enqueue` does.
    private func enqueue(_ ready: [Int], into queue: inout InlineQueue<Int>, _ policy: StepPlan.InlineKernels) {
        // Each node is judged once: other steps of the plan (a function's calls, concurrent
        // runs) teach it costs meanwhile, and a node judged twice could be queued twice or lost.
        withUnsafeTemporaryAllocation(of: Bool.self, capacity: ready.count) { expensive in
            for (position, node) in ready.enumerated() {
                expensive.initializeElement(at: position, to: isExpensive(node, policy))
            }
            // Last first: the stack then runs nodes ready together in the plan's order, the
            // graph's, so a parameter server sends the first layer's weights, awaited first,
            // before the last's.
            for position in ready.indices.reversed() where !expensive[position] { queue.push(ready[position]) }
            var mayKeep = policy.mayBlock && queue.isEmpty
            for position in ready.indices where expensive[position] {
                if mayKeep {
                    queue.push(ready[position])
                    mayKeep = false
                } else {
                    handToPool([ready[position]])
                }
            }
        }
    }

    /// Whether node `node` counts as expensive for a thread under `policy`: one that may block
    /// runs expensive ops seen to run quickly as if inexpensive.
    private func isExpensive(_ node: Int, _ policy: StepPlan.InlineKernels) -> Bool {
        entries[node].flags.contains(.isExpensive) && !(policy.mayBlock && plan.costs.isQuick(node))
    }

    private func handToPool(_ ready: [Int]) {
        Self.pool.async { self.process(ready, .all) }
    }

    /// Records a node's outcome, appends the nodes it made ready to `next`, and finishes the
    /// step when nothing is left to run.
    private func complete(_ index: Int, _ result: consuming Result<Outputs, WeftError>, into next: inout [Int]) {
        let before = next.count
        switch consume result {
        case .success(let outputs) where outputs.count == entries[index].outputCount:
            if !failed.load(ordering: .relaxed) { deliver(index, outputs, into: &next) }
        case .success:
            let node = plan.nodes[index]
            fail(
                WeftError(
                    .internal,
                    "kernel of '\(node.name)' returned the wrong number of outputs, expected \(node.outputCount)"
                )
            )
        case .failure(let error):
            fail(error)
        }
        // The new nodes count in as this one counts out, in one change, so the count cannot
        // touch zero early; a node that made one other ready (a chain's link) changes nothing.
        let change = next.count - before - 1
        guard change != 0 else { return }
        if outstanding.add(change, ordering: .acquiringAndReleasing).newValue == 0 { finish() }
    }

    /// Writes a node's outputs into its consumers' slots and counts them down.
    private func deliver(_ index: Int, _ outputs: consuming Outputs, into next: inout [Int]) {
        if entries[index].flags.contains(.hasFetch) {
            for (output, fetch) in plan.nodes[index].fetched { fetched[fetch] = outputs[output] }
        }
        for position in entries[index].targetStart..<entries[index + 1].targetStart {
            let target = targets[position]
            if target.slot >= 0 {
                slots[target.slot] = target.takesOutput ? outputs.take(target.output) : outputs[target.output]
            }
            // Only this edge counts down a node that waits for nothing else: it is ready now.
            if target.isOnlyInput
                || pending[target.consumer].subtract(1, ordering: .acquiringAndReleasing).newValue == 0
            {
                next.append(target.consumer)
            }
        }
    }

    /// Keeps the first error, and wakes this step's receives that would otherwise wait for
    /// tensors that never come.
    private func fail(_ error: WeftError) {
        let isFirst = firstError.withLock { first in
            guard first == nil else { return false }
            first = error
            return true
        }
        guard isFirst else { return }
        failed.store(true, ordering: .relaxed)
        step.rendezvous?.abort(step: step.id, error: error)
    }

    private func finish() {
        run.finish(error: firstError.withLock { $0 }, produced: { fetched[$0] }) { position in
            WeftError(.internal, "the fetched tensor \(position) was never produced")
        }
    }
}

extension StepPlan.InlineKernels {
    /// Whether the thread may run any kernel, and so block.
    fileprivate var mayBlock: Bool {
        if case .all = self { true } else { false }
    }
}

extension Array {
    /// Removes every element and keeps the storage, as `removeAll(keepingCapacity: true)` does
    /// without its trip through the generic `replaceSubrange`, a good part of a small node's
    /// cost when run for every node.
    fileprivate mutating func empty() {
        while popLast() != nil {}
    }
}

extension StepPlan.Node {
    /// Runs the kernel on this thread. It is timed only when the step collects statistics
    /// (and recorded) or `costs` asks, so the plan learns whether an expensive op is quick: an
    /// untimed node reads no clock.
    func compute(_ index: Int, _ inputs: [Value], step: StepContext, costs: KernelCosts) -> Result<[Value], WeftError> {
        let learns = isExpensive && costs.shouldTime(index, step: step.id)
        guard learns || step.statistics != nil else { return compute(inputs, step: step) }
        let began = ContinuousClock.now
        let result = compute(inputs, step: step)
        if learns { costs.learn(index, ranFor: ContinuousClock.now - began) }
        record(started: began, inputs: inputs, result, step: step)
        return result
    }

    private func compute(_ inputs: [Value], step: StepContext) -> Result<[Value], WeftError> {
        do throws(WeftError) {
            return .success(try kernel.compute(OpKernelContext(node: name, inputs: inputs, step: step)))
        } catch {
            return .failure(error)
        }
    }

    /// Times a node that ran, when the step collects statistics (`started` is set only then).
    func record(
        started: ContinuousClock.Instant?,
        inputs: [Value],
        _ result: Result<[Value], WeftError>,
        step: StepContext
    ) {
        guard let started, let collector = step.statistics, case .success(let outputs) = result else { return }
        collector.record(
            node: name,
            op: op,
            started: started,
            inputs: inputs,
            outputs: outputs,
            rendezvousKey: (kernel as? any RendezvousKernel)?.key ?? ""
        )
    }
}

extension SimpleStepExecution {
    /// A node's outputs: the value of a `SingleOutputKernel` as it came, or a kernel's array.
    private enum Outputs {
        case one(Value)
        case array([Value])

        var count: Int {
            switch self {
            case .one: 1
            case .array(let values): values.count
            }
        }

        subscript(output: Int) -> Value {
            switch self {
            case .one(let value): value
            case .array(let values): values[output]
            }
        }

        /// Output `output` for its last reader: a single value moves out, saving a retain and
        /// a release; an array's element is copied.
        mutating func take(_ output: Int) -> Value {
            switch consume self {
            case .one(let value):
                self = .array([])
                return value
            case .array(let values):
                self = .array(values)
                return values[output]
            }
        }

        var values: [Value] {
            switch self {
            case .one(let value): [value]
            case .array(let values): values
            }
        }
    }
}
