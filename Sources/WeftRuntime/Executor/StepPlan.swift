import Dispatch
import Synchronization
import WeftProto

/// One run signature (feeds, fetches, targets) of a graph, pruned and compiled once: the
/// nodes that must run, their kernels, and the edges between them. Running it is cheap and
/// allocation-light, so sessions cache plans and reuse them for every step.
public final class StepPlan: Sendable {
    /// Which kernels a thread that enters a step (starts it, or completes a receive) may run
    /// itself; the rest go to the kernel pool.
    public enum InlineKernels: Sendable {
        /// Any kernel: the thread belongs to the kernel pool, or waits for the step anyway.
        case all
        /// Inexpensive kernels only (`OpDefinition.isExpensive` false), at most `limit` of them
        /// in a row: for an I/O thread, which must stay free for the sockets it serves.
        case inexpensive(limit: Int)
    }

    /// Where a kernel input or a fetch comes from.
    enum Source: Sendable {
        /// Input slot `slot` of the iteration the node runs in.
        case slot(Int)
        /// Feed number `feed`.
        case feed(Int)
    }

    /// One edge out of a node: data to input `input` of `consumer`, or control (`input` -1).
    struct Edge: Sendable {
        let consumer: Int
        let input: Int
        let output: Int
        /// The consumer's input slot in its frame's iterations (`inputBase + input`).
        let slot: Int
    }

    /// A class, not a struct: the executor reads nodes in its hottest loop, and copying a
    /// struct of this size retains every one of its references.
    final class Node: Sendable {
        let name: String
        let op: String
        let kernel: any OpKernel
        let kind: ControlFlowKind
        let isAsync: Bool
        let isExpensive: Bool
        /// Where each data input is read from, in order.
        let inputs: [Source]
        /// The node's loop frame (`FrameLayout`), its index there, and where its inputs start
        /// in an iteration's input slots.
        let frame: Int
        let local: Int
        let inputBase: Int
        /// Data inputs that are not fed and not a loop's back edge: a Merge is dead when all of
        /// them are. A back edge brings only live values, and only to later iterations, so a
        /// loop whose enters are all dead runs its first iteration dead, down to its `LoopCond`
        /// (which a control loop on another device may wait for), and ends.
        let unfedDataInputs: Int
        let outputCount: Int
        /// Its edges to the nodes it feeds or controls, in the plan's flat `edges`: one array
        /// for the whole plan keeps a step's walk over edges in contiguous memory.
        let edges: Range<Int>
        /// Outputs the caller fetches, with the fetch's position.
        let fetched: [(output: Int, fetch: Int)]

        init(
            name: String,
            op: String,
            kernel: any OpKernel,
            kind: ControlFlowKind,
            isAsync: Bool,
            isExpensive: Bool,
            inputs: [Source],
            frame: Int,
            local: Int,
            inputBase: Int,
            unfedDataInputs: Int,
            outputCount: Int,
            edges: Range<Int>,
            fetched: [(output: Int, fetch: Int)]
        ) {
            self.name = name
            self.op = op
            self.kernel = kernel
            self.kind = kind
            self.isAsync = isAsync
            self.isExpensive = isExpensive
            self.inputs = inputs
            self.frame = frame
            self.local = local
            self.inputBase = inputBase
            self.unfedDataInputs = unfedDataInputs
            self.outputCount = outputCount
            self.edges = edges
            self.fetched = fetched
        }
    }

    /// Where a fetch comes from: a feed, or the node that produces it (`Node.fetched`).
    enum Fetch: Sendable {
        case feed(Int)
        case produced
    }

    let nodes: [Node]
    /// Every node's edges, node after node (`Node.edges`).
    let edges: [Edge]
    /// The nodes and edges as `SimpleStepExecution`'s hot loop reads them.
    let table: NodeTable
    let layout: FrameLayout
    /// Expensive ops whose kernel was seen to run quickly (scalars, small tensors): every step
    /// goes by what the steps before it learned, and runs them inline.
    let costs: KernelCosts
    /// Whether the plan has no control flow (no frames, nothing dead, no receive of a tensor
    /// that may be dead): then it runs on `SimpleStepExecution`, without a lock.
    let isSimple: Bool
    /// Per loop frame that may run all its iterations on one thread, one after another (no
    /// nested loop, no asynchronous kernel, no send): its expensive nodes. A step runs such a
    /// loop that way when every one of them was seen to run quickly (`KernelCosts`); `nil` for
    /// the root frame and loops that must use the general executor.
    let sequentialLoops: [[Int]?]
    /// Per sequential loop frame with `tf.while_loop`'s plain shape: the loop compiled to
    /// straight-line code, which such a loop runs instead of the general executor's bookkeeping.
    let loopPrograms: [LoopProgram?]
    let initialReady: [Int]
    let fetches: [Fetch]
    /// The feeds this plan takes, in the order `run` expects them.
    public let feeds: [TensorName]
    /// The dtype every feed must have, and the shape a placeholder declares.
    let feedTypes: [(dtype: DType, shape: PartialShape)]
    /// Whether the plan has asynchronous kernels (`_Recv`): only then can a step wait for
    /// something outside it, and need a deadline to end the wait.
    public let hasAsyncKernels: Bool
    /// The names of the nodes that run, for reports.
    public var nodeNames: [String] { nodes.map(\.name) }
    /// What `optimizedGraph` is made from, and the graph once made.
    let optimized: OptimizedGraph
    let optimizedGraphCache = Mutex<Tensorflow_GraphDef?>(nil)

    /// Prunes `graph` to what `fetches` and `targets` need, cutting at fed tensors, checks it
    /// has no cycle other than loops, applies `optimizations`, finds the loop frames, and builds
    /// every kernel.
    public init(
        graph: RuntimeGraph,
        feeds: [TensorName],
        fetches: [TensorName],
        targets: [String],
        optimizations: GraphOptimizations = .default
    ) throws(WeftError) {
        var feedIndex: [TensorName: Int] = [:]
        var feedTypes: [(DType, PartialShape)] = []
        for (position, feed) in feeds.enumerated() {
            let (node, output) = try graph.resolve(feed)
            guard feedIndex.updateValue(position, forKey: feed) == nil else {
                throw WeftError(.invalidArgument, "the tensor '\(feed)' is fed twice")
            }
            let info = graph.nodes[node].info
            let declared = info.op == "Placeholder" ? try info.attributes.shape("shape") : .unknown
            feedTypes.append((graph.nodes[node].outputTypes[output].dtype, declared))
        }
        let fetchProducers = try fetches.map { (name) throws(WeftError) in try graph.resolve(name) }
        let targetNodes = try targets.map { (name) throws(WeftError) in try graph.node(named: name) }

        // A fetched tensor that is fed is the fed value: its producer need not run.
        let computed = zip(fetches, fetchProducers).filter { feedIndex[$0.0] == nil }.map(\.1.node)
        let needed = Self.prune(graph: graph, feeds: feedIndex, roots: computed + targetNodes)
        var order = try Self.executionOrder(graph: graph, needed: needed, feeds: feedIndex)
        func isFed(_ node: Int, _ input: Int) -> Bool {
            let (producer, output) = graph.nodes[node].dataInputs[input]
            return feedIndex[TensorName(node: graph.nodes[producer].info.name, index: output)] != nil
        }
        // As in TensorFlow, a folded node that the step still reads becomes a constant of its
        // own name, and the folded nodes behind it leave the plan.
        let folded = optimizations.foldConstants ? ConstantFolding(graph: graph, order: order, isFed: isFed).values : [:]
        let simplified = Simplification(
            graph: graph,
            order: order,
            folded: folded,
            feeds: feedIndex,
            optimizations: optimizations,
            kept: Set(fetchProducers.map(\.node) + targetNodes)
        )
        let running = Self.reached(graph: graph, from: computed + targetNodes, folded: folded, simplified: simplified)
        order.removeAll { !running.contains($0) }
        func inputsRun(_ node: Int) -> Bool { folded[node] == nil }
        var planIndex = [Int: Int](minimumCapacity: order.count)
        for (position, node) in order.enumerated() { planIndex[node] = position }
        /// The plan positions a node waits for through its control edges.
        func controlProducers(_ node: Int) -> [Int] {
            graph.nodes[node].controlInputs.flatMap { simplified.waitedFor($0) }.filter { folded[$0] == nil }
        }

        // Unfed producers of each node as plan positions, data (without back edges) then control.
        var kinds = order.map { ControlFlowKind.of(graph.nodes[$0].info.op) }
        let layout = try FrameLayout(
            order: order.count,
            infos: order.map { graph.nodes[$0].info },
            kinds: &kinds
        ) { position in
            let node = order[position]
            guard inputsRun(node) else { return [] }
            let data = graph.nodes[node].dataInputs.indices.filter { !graph.closesLoop(node, input: $0) }.compactMap { input in
                if case .tensor(let producer, _) = simplified.source(of: node, input: input) { planIndex[producer] } else { nil }
            }
            return data + controlProducers(node).compactMap { planIndex[$0] }
        }
        var edges = [[Edge]](repeating: [], count: order.count)
        var inputs: [[Source]] = []
        var unfed = [Int](repeating: 0, count: order.count)
        var backEdges = [Int](repeating: 0, count: order.count)
        var initialPending = [Int32](repeating: 0, count: order.count)
        for (position, node) in order.enumerated() {
            var sources: [Source] = []
            for input in graph.nodes[node].dataInputs.indices where inputsRun(node) {
                let (producer, output): (Int, Int)
                switch simplified.source(of: node, input: input) {
                case .feed(let feed):
                    sources.append(.feed(feed))
                    continue
                case .tensor(let node, let index):
                    (producer, output) = (node, index)
                }
                guard let producerPosition = planIndex[producer] else {
                    throw WeftError(
                        .internal,
                        "the plan lost producer '\(graph.nodes[producer].info.name)' of '\(graph.nodes[node].info.name)'"
                    )
                }
                sources.append(.slot(layout.inputBase[position] + input))
                edges[producerPosition].append(
                    Edge(consumer: position, input: input, output: output, slot: layout.inputBase[position] + input)
                )
                unfed[position] += 1
                if graph.closesLoop(node, input: input) { backEdges[position] += 1 }
            }
            // A folded producer has no effect to wait for.
            let controls = controlProducers(node)
            for producer in controls {
                guard let producerPosition = planIndex[producer] else {
                    throw WeftError(.internal, "the plan lost a control input of '\(graph.nodes[node].info.name)'")
                }
                edges[producerPosition].append(Edge(consumer: position, input: -1, output: 0, slot: -1))
            }
            inputs.append(sources)
            if kinds[position] == .merge {
                // One live data input, or all of them dead, plus every control input.
                initialPending[position] = Int32(controls.count) + (unfed[position] == sources.count && unfed[position] > 0 ? 1 : 0)
            } else {
                initialPending[position] = Int32(controls.count + unfed[position])
            }
        }
        var fetchedBy = [[(output: Int, fetch: Int)]](repeating: [], count: order.count)
        var fetchSources: [Fetch] = []
        for (fetch, (name, producer)) in zip(fetches, fetchProducers).enumerated() {
            if let feed = feedIndex[name] {
                fetchSources.append(.feed(feed))
                continue
            }
            guard let position = planIndex[producer.node], layout.outputFrame(of: position, kind: kinds[position]) == 0 else {
                throw WeftError(
                    .invalidArgument,
                    "cannot fetch '\(name)': it is computed inside a while loop; fetch the loop's result (its Exit) instead"
                )
            }
            fetchedBy[position].append((producer.output, fetch))
            fetchSources.append(.produced)
        }
        var finalLayout = layout
        var nodes: [Node] = []
        nodes.reserveCapacity(order.count)
        var flatEdges: [Edge] = []
        flatEdges.reserveCapacity(edges.reduce(0) { $0 + $1.count })
        for (position, node) in order.enumerated() {
            let info = graph.nodes[node].info
            let kernel: any OpKernel
            if let values = folded[node] {
                kernel = FoldedKernel(values: values)
            } else {
                kernel = try graph.nodes[node].definition.makeKernel(info)
            }
            let frame = layout.frameOfNode[position]
            let local = layout.localIndex[position]
            finalLayout.frames[frame].initialPending[local] = initialPending[position]
            if kinds[position] == .merge && unfed[position] < inputs[position].count {
                finalLayout.frames[frame].initialDead[local] = -1  // a fed input is live from the start
            }
            let edgeStart = flatEdges.count
            flatEdges += edges[position]
            nodes.append(
                Node(
                    name: info.name,
                    op: folded[node] == nil ? info.op : "Const",
                    kernel: kernel,
                    kind: kinds[position],
                    isAsync: kernel is any AsyncOpKernel,
                    isExpensive: folded[node] == nil && graph.nodes[node].definition.isExpensive,
                    inputs: inputs[position],
                    frame: frame,
                    local: local,
                    inputBase: layout.inputBase[position],
                    unfedDataInputs: unfed[position] - backEdges[position],
                    outputCount: graph.nodes[node].outputTypes.count,
                    edges: edgeStart..<flatEdges.count,
                    fetched: fetchedBy[position]
                )
            )
        }
        self.nodes = nodes
        self.edges = flatEdges
        self.table = NodeTable(nodes: nodes, edges: flatEdges, initialPending: initialPending)
        self.layout = finalLayout
        self.costs = KernelCosts(count: nodes.count)
        let mayReceiveDead = order.contains { node in
            let info = graph.nodes[node].info
            return info.op == "_Recv" && (try? info.attributes.bool(RecvAttributes.mayBeDead, default: false)) == true
        }
        self.isSimple = finalLayout.frames.count == 1 && !mayReceiveDead && nodes.allSatisfy { $0.kind.isDataflow }
        let sequentialLoops = Self.sequentialLoops(nodes: nodes, layout: finalLayout)
        self.sequentialLoops = sequentialLoops
        self.loopPrograms = sequentialLoops.indices.map { frame in
            sequentialLoops[frame] == nil ? nil : LoopProgram(frame: frame, nodes: nodes, edges: flatEdges)
        }
        self.hasAsyncKernels = nodes.contains { $0.isAsync }
        self.initialReady = nodes.indices.filter { nodes[$0].frame == 0 && initialPending[$0] == 0 }
        self.feeds = feeds
        self.feedTypes = feedTypes
        self.fetches = fetchSources
        self.optimized = OptimizedGraph(
            graph: graph,
            order: order,
            folded: folded.filter { running.contains($0.key) },
            simplified: simplified,
            feeds: feeds,
            feedTypes: feedTypes
        )
    }

    /// `sequentialLoops`: the expensive nodes of each loop frame that has no loop inside it and
    /// neither asynchronous kernels nor sends, which may wait on other threads.
    private static func sequentialLoops(nodes: [Node], layout: FrameLayout) -> [[Int]?] {
        var loops = [[Int]?](repeating: [], count: layout.frames.count)
        loops[0] = nil
        for frame in layout.frames {
            if let parent = frame.parent { loops[parent] = nil }
        }
        for (index, node) in nodes.enumerated() where loops[node.frame] != nil {
            if node.isAsync || node.kind == .send || node.kind == .recv {
                loops[node.frame] = nil
            } else if node.isExpensive {
                loops[node.frame]?.append(index)
            }
        }
        return loops
    }

    /// The nodes reachable backwards from `roots`, not crossing data edges whose tensor is fed.
    private static func prune(graph: RuntimeGraph, feeds: [TensorName: Int], roots: [Int]) -> [Bool] {
        var needed = [Bool](repeating: false, count: graph.nodes.count)
        var stack = roots
        while let node = stack.popLast() {
            guard !needed[node] else { continue }
            needed[node] = true
            for (producer, output) in graph.nodes[node].dataInputs
            where feeds[TensorName(node: graph.nodes[producer].info.name, index: output)] == nil {
                stack.append(producer)
            }
            stack.append(contentsOf: graph.nodes[node].controlInputs)
        }
        return needed
    }

    /// The nodes a step runs or reads: reached from `roots` through the inputs of nodes that run
    /// (a folded node is read, not run), after simplification and cut at fed tensors. As in
    /// TensorFlow, a folded node the step still reads runs as a constant of its own name.
    private static func reached(graph: RuntimeGraph, from roots: [Int], folded: [Int: [Tensor]], simplified: Simplification) -> Set<Int> {
        var reached = Set<Int>()
        var stack = roots
        while let node = stack.popLast() {
            guard reached.insert(node).inserted, folded[node] == nil else { continue }
            for input in graph.nodes[node].dataInputs.indices {
                if case .tensor(let producer, _) = simplified.source(of: node, input: input) { stack.append(producer) }
            }
            stack.append(contentsOf: graph.nodes[node].controlInputs.flatMap { simplified.waitedFor($0) })
        }
        return reached
    }

    /// Kahn's algorithm over the needed nodes; what is left over lies on a cycle.
    static func topologicalOrder(
        graph: RuntimeGraph,
        needed: [Bool],
        feeds: [TensorName: Int]
    ) throws(WeftError) -> [Int] {
        var indegree = [Int](repeating: 0, count: graph.nodes.count)
        var consumers = [[Int]](repeating: [], count: graph.nodes.count)
        for node in graph.nodes.indices where needed[node] {
            for (input, (producer, output)) in graph.nodes[node].dataInputs.enumerated()
            where feeds[TensorName(node: graph.nodes[producer].info.name, index: output)] == nil
                && !graph.closesLoop(node, input: input)
            {
                indegree[node] += 1
                consumers[producer].append(node)
            }
            for producer in graph.nodes[node].controlInputs {
                indegree[node] += 1
                consumers[producer].append(node)
            }
        }
        var order = graph.nodes.indices.filter { needed[$0] && indegree[$0] == 0 }
        var next = 0
        while next < order.count {
            for consumer in consumers[order[next]] {
                indegree[consumer] -= 1
                if indegree[consumer] == 0 { order.append(consumer) }
            }
            next += 1
        }
        let total = needed.lazy.filter { $0 }.count
        guard order.count == total else {
            let stuck = graph.nodes.indices.filter { needed[$0] && indegree[$0] > 0 }.prefix(5)
                .map { graph.nodes[$0].info.name }
            throw WeftError(
                .invalidArgument,
                "Graph is invalid, contains a cycle with \(total - order.count) nodes, including: \(stuck.joined(separator: ", "))"
            )
        }
        return order
    }

    /// Checks feeds against the plan's dtypes and declared placeholder shapes.
    func validate(feeds values: [Tensor]) throws(WeftError) {
        guard values.count == feeds.count else {
            throw WeftError(.internal, "plan expects \(feeds.count) feeds, got \(values.count)")
        }
        for (position, value) in values.enumerated() {
            let (dtype, shape) = feedTypes[position]
            guard value.dtype == dtype else {
                throw WeftError(
                    .invalidArgument,
                    "cannot feed a \(value.dtype) value to the tensor '\(feeds[position])', which has dtype \(dtype)"
                )
            }
            guard shape.isCompatible(with: value.shape) else {
                throw WeftError(
                    .invalidArgument,
                    "cannot feed a value of shape \(value.shape) to the tensor '\(feeds[position])', which has shape \(shape)"
                )
            }
        }
    }

    /// Runs one step on the calling thread and the kernel pool, and returns the fetches.
    public func run(feeds values: [Tensor], step: StepContext) throws(WeftError) -> [Tensor] {
        try validate(feeds: values)
        let outcome = SynchronousOutcome()
        start(feeds: values, step: step, inline: .all) { outcome.complete($0) }
        return try outcome.wait().get()
    }

    /// Starts one step and calls `done` with the fetches when every node has finished or one
    /// failed. The calling thread, and a thread that completes one of the step's receives, runs
    /// the kernels `inline` allows; `done` is called on whichever thread finishes the step.
    public func run(
        feeds values: [Tensor],
        step: StepContext,
        inline: InlineKernels = .all,
        done: @escaping @Sendable (Result<[Tensor], WeftError>) -> Void
    ) {
        do throws(WeftError) {
            try validate(feeds: values)
        } catch {
            return done(.failure(error))
        }
        start(feeds: values, step: step, inline: inline, done: done)
    }

    private func start(
        feeds values: [Tensor],
        step: StepContext,
        inline: InlineKernels,
        done: @escaping @Sendable (Result<[Tensor], WeftError>) -> Void
    ) {
        let run = StepRun(plan: self, feeds: values, step: step, inline: inline, done: done)
        if isSimple {
            SimpleStepExecution(run).start()
        } else {
            StepExecution(run).start()
        }
    }
}

/// What one step of a plan starts from, as either execution takes it.
struct StepRun: Sendable {
    let plan: StepPlan
    let feeds: [Tensor]
    let step: StepContext
    /// What the starting thread, and threads completing receives, may run.
    let inline: StepPlan.InlineKernels
    let done: @Sendable (Result<[Tensor], WeftError>) -> Void

    /// Ends the step: its first error, or the fetched tensors in order. `produced` answers the
    /// value a node fetched at a position, `missing` the error for one that never came.
    func finish(error: WeftError?, produced: (Int) -> Value?, missing: (Int) -> WeftError) {
        if let error { return done(.failure(error)) }
        do throws(WeftError) {
            // A step that outlived its deadline failed, as in TensorFlow, even if it got to the end.
            try step.cancellation.check()
            var values: [Tensor] = []
            values.reserveCapacity(plan.fetches.count)
            for (position, source) in plan.fetches.enumerated() {
                switch source {
                case .feed(let feed): values.append(feeds[feed])
                case .produced:
                    guard let value = produced(position) else { throw missing(position) }
                    values.append(try value.read())
                }
            }
            done(.success(values))
        } catch {
            done(.failure(error))
        }
    }
}

/// The outcome a thread blocked in `StepPlan.run(feeds:step:)` waits for. A small step ends on
/// the caller's own thread before it would wait, and then costs no semaphore.
private final class SynchronousOutcome: Sendable {
    private enum State {
        case running
        case waiting(DispatchSemaphore)
        case done(Result<[Tensor], WeftError>)
    }

    private let state = Mutex(State.running)

    /// Called once, on whichever thread ends the step.
    func complete(_ result: Result<[Tensor], WeftError>) {
        let waiting = state.withLock { state -> DispatchSemaphore? in
            defer { state = .done(result) }
            if case .waiting(let semaphore) = state { return semaphore }
            return nil
        }
        waiting?.signal()
    }

    /// The outcome, once the step has ended.
    func wait() -> Result<[Tensor], WeftError> {
        if let early = result { return early }
        let semaphore = DispatchSemaphore(value: 0)
        let finished = state.withLock { state -> Result<[Tensor], WeftError>? in
            if case .done(let result) = state { return result }
            state = .waiting(semaphore)
            return nil
        }
        if let finished { return finished }
        semaphore.wait()
        return result ?? .failure(WeftError(.internal, "a step's waiter woke before the step ended"))
    }

    private var result: Result<[Tensor], WeftError>? {
        state.withLock { state in
            if case .done(let result) = state { return result }
            return nil
        }
    }
}

/// What a plan's steps learned of its expensive kernels' costs, shared by every step without a
/// lock. An op declared expensive runs inline once its kernel was seen to run in under 2 µs, as
/// TensorFlow's executor learns its kernels' costs: a chain of scalar ops then never changes
/// thread. It goes back to the pool only after two slow runs in a row, so one run that the host
/// preempted does not send a whole chain across threads.
final class KernelCosts: @unchecked Sendable {
    // Sendable: the buffer is only touched through its atomics, and freed in deinit.
    #if DEBUG
    // A debug build's kernels run tens of times slower: the same ops count as quick there, so
    // its tests take the paths a release build takes.
    private static let quickRun = Duration.microseconds(100)
    #else
    private static let quickRun = Duration.microseconds(2)
    #endif
    private static let slowRunsToExpensive: UInt8 = 2

    /// Slow runs in a row per node, capped; a node starts as if slow.
    private let slowRuns: UnsafeMutablePointer<Atomic<UInt8>>
    private let count: Int

    init(count: Int) {
        self.count = count
        slowRuns = .allocate(capacity: max(count, 1))
        for node in 0..<count { (slowRuns + node).initialize(to: Atomic(Self.slowRunsToExpensive)) }
    }

    deinit {
        slowRuns.deinitialize(count: count)
        slowRuns.deallocate()
    }

    /// Whether node `node`'s kernel was seen to run quickly.
    func isQuick(_ node: Int) -> Bool {
        slowRuns[node].load(ordering: .relaxed) < Self.slowRunsToExpensive
    }

    /// Whether to time node `node`'s kernel in step `step`: always until it is seen quick, then
    /// in one step of 16, so a kernel whose inputs grew goes back to the pool.
    func shouldTime(_ node: Int, step: UInt64) -> Bool {
        !isQuick(node) || step & 15 == 0
    }

    /// Records that node `node`'s kernel ran for `duration`.
    func learn(_ node: Int, ranFor duration: Duration) {
        let runs = slowRuns[node].load(ordering: .relaxed)
        let updated = duration < Self.quickRun ? 0 : min(runs + 1, Self.slowRunsToExpensive)
        if updated != runs { slowRuns[node].store(updated, ordering: .relaxed) }
    }
}
