import Dispatch
import Synchronization

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
        /// A slot in the step's value table: output `output` of plan node `node`.
        case slot(Int)
        /// Feed number `feed`.
        case feed(Int)
    }

    struct Node: Sendable {
        let name: String
        let op: String
        let kernel: any OpKernel
        let isAsync: Bool
        let isExpensive: Bool
        let inputs: [Source]
        let firstSlot: Int
        let outputCount: Int
        /// Plan nodes to notify when this one finishes, one entry per edge.
        let consumers: [Int]
    }

    let nodes: [Node]
    let initialPending: [Int]
    let initialReady: [Int]
    let slotCount: Int
    let fetches: [Source]
    /// The feeds this plan takes, in the order `run` expects them.
    public let feeds: [TensorName]
    /// The dtype every feed must have, and the shape a placeholder declares.
    let feedTypes: [(dtype: DType, shape: PartialShape)]
    /// Whether the plan has asynchronous kernels (`_Recv`): only then can a step wait for
    /// something outside it, and need a deadline to end the wait.
    public let hasAsyncKernels: Bool
    /// The names of the nodes that run, for reports.
    public var nodeNames: [String] { nodes.map(\.name) }

    /// Prunes `graph` to what `fetches` and `targets` need, cutting at fed tensors, checks it
    /// has no cycle, and builds every kernel.
    public init(
        graph: RuntimeGraph,
        feeds: [TensorName],
        fetches: [TensorName],
        targets: [String]
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

        let needed = Self.prune(graph: graph, feeds: feedIndex, roots: fetchProducers.map(\.node) + targetNodes)
        let order = try Self.topologicalOrder(graph: graph, needed: needed, feeds: feedIndex)

        var planIndex = [Int: Int](minimumCapacity: order.count)
        var slot = 0
        var firstSlots: [Int] = []
        for (position, node) in order.enumerated() {
            planIndex[node] = position
            firstSlots.append(slot)
            slot += graph.nodes[node].outputTypes.count
        }
        var consumers = [[Int]](repeating: [], count: order.count)
        var pending = [Int](repeating: 0, count: order.count)
        var inputs: [[Source]] = []
        for (position, node) in order.enumerated() {
            var sources: [Source] = []
            for (producer, output) in graph.nodes[node].dataInputs {
                let name = TensorName(node: graph.nodes[producer].info.name, index: output)
                if let feed = feedIndex[name] {
                    sources.append(.feed(feed))
                } else {
                    let producerPosition = planIndex[producer]!  // pruning kept every unfed producer
                    sources.append(.slot(firstSlots[producerPosition] + output))
                    consumers[producerPosition].append(position)
                    pending[position] += 1
                }
            }
            for producer in graph.nodes[node].controlInputs {
                let producerPosition = planIndex[producer]!  // pruning keeps control producers
                consumers[producerPosition].append(position)
                pending[position] += 1
            }
            inputs.append(sources)
        }
        var nodes: [Node] = []
        nodes.reserveCapacity(order.count)
        for (position, node) in order.enumerated() {
            let info = graph.nodes[node].info
            let kernel = try graph.nodes[node].definition.makeKernel(info)
            nodes.append(
                Node(
                    name: info.name,
                    op: info.op,
                    kernel: kernel,
                    isAsync: kernel is any AsyncOpKernel,
                    isExpensive: graph.nodes[node].definition.isExpensive,
                    inputs: inputs[position],
                    firstSlot: firstSlots[position],
                    outputCount: graph.nodes[node].outputTypes.count,
                    consumers: consumers[position]
                )
            )
        }
        self.nodes = nodes
        self.hasAsyncKernels = nodes.contains { $0.isAsync }
        self.initialPending = pending
        self.initialReady = pending.indices.filter { pending[$0] == 0 }
        self.slotCount = slot
        self.feeds = feeds
        self.feedTypes = feedTypes
        self.fetches = zip(fetches, fetchProducers).map { name, producer in
            if let feed = feedIndex[name] { return .feed(feed) }
            return .slot(firstSlots[planIndex[producer.node]!] + producer.output)
        }
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

    /// Kahn's algorithm over the needed nodes; what is left over lies on a cycle.
    private static func topologicalOrder(
        graph: RuntimeGraph,
        needed: [Bool],
        feeds: [TensorName: Int]
    ) throws(WeftError) -> [Int] {
        var indegree = [Int](repeating: 0, count: graph.nodes.count)
        var consumers = [[Int]](repeating: [], count: graph.nodes.count)
        for node in graph.nodes.indices where needed[node] {
            for (producer, output) in graph.nodes[node].dataInputs
            where feeds[TensorName(node: graph.nodes[producer].info.name, index: output)] == nil {
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
        let finished = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<[Tensor], WeftError>?>(nil)
        StepExecution(plan: self, feeds: values, step: step, inline: .all) { result in
            outcome.withLock { $0 = result }
            finished.signal()
        }.start()
        finished.wait()
        return try outcome.withLock { $0! }.get()  // set before the signal
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
        StepExecution(plan: self, feeds: values, step: step, inline: inline, done: done).start()
    }
}
