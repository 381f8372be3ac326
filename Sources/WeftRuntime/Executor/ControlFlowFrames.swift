/// How the executor treats a node: most nodes compute and pass their outputs on in their own
/// frame and iteration; the control-flow ops route values (see `ControlFlowOps`).
enum ControlFlowKind: Sendable, Equatable {
    case compute
    /// Forwards its data to output 1 when the predicate holds, to output 0 otherwise; the other
    /// output is dead.
    case `switch`
    /// Forwards its first live input; dead only when every data input is dead.
    case merge
    /// Moves its input into iteration 0 of the loop frame `frame`; a constant enter's value is
    /// visible in every iteration.
    case enter(frame: Int, isConstant: Bool)
    /// Moves its input out of its loop frame into the frame around it.
    case exit
    /// Moves its input to the next iteration of its loop frame.
    case nextIteration
    /// Runs once its inputs are done, live or dead, and is never dead itself.
    case controlTrigger
    /// `_Send`: runs with a dead input too, sending a dead tensor.
    case send
    /// `_Recv`: its output is dead when the sender's input was.
    case recv

    /// The kind of op `op`, before frames are known (`enter` gets its frame later).
    static func of(_ op: String) -> ControlFlowKind {
        switch op {
        case "Switch", "RefSwitch": .switch
        case "Merge", "RefMerge": .merge
        case "Enter", "RefEnter": .enter(frame: 0, isConstant: false)
        case "Exit", "RefExit": .exit
        case "NextIteration", "RefNextIteration": .nextIteration
        case "ControlTrigger": .controlTrigger
        case "_Send": .send
        case "_Recv": .recv
        default: .compute
        }
    }

    /// Whether nodes of this kind compute or move values without routing them: dead inputs make
    /// their outputs and their control edges dead alike.
    var isDataflow: Bool { self == .compute || self == .send || self == .recv }

    /// Whether an edge from an op `producer` into an op `consumer` is a loop's back edge.
    static func closesLoop(consumer: String, producer: String) -> Bool {
        (consumer == "Merge" || consumer == "RefMerge") && (producer == "NextIteration" || producer == "RefNextIteration")
    }
}

/// The loop frames of a plan, found before it runs: which frame every node runs in, and per
/// frame what a running instance of it needs (its nodes' input slots, initial pending counts,
/// its exits, how many enters feed it). Frame 0 is the step's root frame.
struct FrameLayout: Sendable {
    struct Frame: Sendable {
        /// TensorFlow's `frame_name`; empty for the root.
        let name: String
        /// The frame the loop sits in; `nil` for the root.
        let parent: Int?
        /// At most this many iterations run at once (`parallel_iterations`).
        let parallelIterations: Int
        /// Input slots an iteration holds, all its nodes' data inputs together.
        var inputSlots = 0
        /// Pending count of each of its nodes (by local index) when an iteration starts.
        var initialPending: [Int32] = []
        /// Dead-input count each node starts an iteration with (`-1`: a Merge with a fed input,
        /// which is live from the start).
        var initialDead: [Int32] = []
        /// `Exit` nodes (plan indices): those that never produced a live value pass a dead one
        /// out when the frame ends.
        var exits: [Int] = []
        /// `Enter` nodes that feed the frame; an instance may end only once all have run.
        var enters = 0
    }

    /// Every frame, the root first.
    var frames: [Frame] = [Frame(name: "", parent: nil, parallelIterations: 1)]
    /// The frame of each node, by plan position.
    var frameOfNode: [Int] = []
    /// Each node's index among its frame's nodes, by plan position.
    var localIndex: [Int] = []
    /// Where each node's data inputs start in its frame's input slots, by plan position.
    var inputBase: [Int] = []

    /// Finds the frames of `order` (plan positions in an order where producers come first,
    /// loop back edges aside). `producers(position)` gives a node's producers (data and control,
    /// unfed) as plan positions; `kinds` and `infos` describe the nodes.
    init(
        order count: Int,
        infos: [NodeInfo],
        kinds: inout [ControlFlowKind],
        producers: (Int) -> [Int]
    ) throws(WeftError) {
        frameOfNode = [Int](repeating: 0, count: count)
        var frameNamed: [String: Int] = [:]
        for position in 0..<count {
            var frame: Int?
            for producer in producers(position) {
                let incoming = try frameAfter(producer, kinds: kinds, infos: infos)
                guard let chosen = frame else {
                    frame = incoming
                    continue
                }
                guard chosen == incoming else {
                    throw WeftError(
                        .invalidArgument,
                        "node '\(infos[position].name)' has inputs from two different loop frames ('\(frames[chosen].name)' and '\(frames[incoming].name)'); the graph's control flow is malformed"
                    )
                }
            }
            frameOfNode[position] = frame ?? 0
            if case .enter = kinds[position] {
                kinds[position] = try enterKind(position, infos: infos, named: &frameNamed)
            }
            if case .exit = kinds[position], frameOfNode[position] == 0 {
                throw WeftError(.invalidArgument, "Exit '\(infos[position].name)' is not inside a while loop")
            }
        }
        layOutFrames(count: count, infos: infos, kinds: kinds)
    }

    /// The frame a planned node's outputs go to, where they can be fetched.
    func outputFrame(of position: Int, kind: ControlFlowKind) -> Int {
        switch kind {
        case .enter(let frame, _): frame
        case .exit: frames[frameOfNode[position]].parent ?? 0
        default: frameOfNode[position]
        }
    }

    /// The frame a node's outputs go to: a loop's frame after `Enter`, the outer frame after
    /// `Exit`, its own frame otherwise.
    private func frameAfter(_ producer: Int, kinds: [ControlFlowKind], infos: [NodeInfo]) throws(WeftError) -> Int {
        switch kinds[producer] {
        case .enter(let frame, _): return frame
        case .exit:
            guard let parent = frames[frameOfNode[producer]].parent else {
                throw WeftError(.invalidArgument, "Exit '\(infos[producer].name)' is not inside a while loop")
            }
            return parent
        default: return frameOfNode[producer]
        }
    }

    /// The frame an `Enter` opens, made on the first enter naming it.
    private mutating func enterKind(
        _ position: Int,
        infos: [NodeInfo],
        named: inout [String: Int]
    ) throws(WeftError) -> ControlFlowKind {
        let attributes = infos[position].attributes
        let name = try attributes.string("frame_name")
        let isConstant = try attributes.bool("is_constant", default: false)
        let parent = frameOfNode[position]
        if let frame = named[name] {
            guard frames[frame].parent == parent else {
                throw WeftError(
                    .invalidArgument,
                    "Enter '\(infos[position].name)' enters frame '\(name)' from another frame than its other enters"
                )
            }
            return .enter(frame: frame, isConstant: isConstant)
        }
        let requested = try attributes.int("parallel_iterations", default: 10)
        guard requested > 0 else {
            throw WeftError(
                .invalidArgument,
                "Enter '\(infos[position].name)': parallel_iterations must be positive, not \(requested)"
            )
        }
        named[name] = frames.count
        frames.append(Frame(name: name, parent: parent, parallelIterations: requested))
        return .enter(frame: frames.count - 1, isConstant: isConstant)
    }

    /// Gives every node its local index and input slots, and every frame its exits and enters.
    private mutating func layOutFrames(count: Int, infos: [NodeInfo], kinds: [ControlFlowKind]) {
        localIndex = [Int](repeating: 0, count: count)
        inputBase = [Int](repeating: 0, count: count)
        for position in 0..<count {
            let frame = frameOfNode[position]
            localIndex[position] = frames[frame].initialPending.count
            inputBase[position] = frames[frame].inputSlots
            frames[frame].inputSlots += infos[position].dataInputs.count
            frames[frame].initialPending.append(0)
            frames[frame].initialDead.append(0)
            switch kinds[position] {
            case .exit: frames[frame].exits.append(position)
            case .enter(let child, _): frames[child].enters += 1
            default: break
            }
        }
    }
}

/// The while-loop frames of a whole graph, for the partitioner: which frame each node runs in
/// and sends its outputs to, and what a control loop standing in for each frame needs.
public struct LoopFrames: Sendable {
    /// One while loop's frame.
    public struct Frame: Sendable {
        /// TensorFlow's `frame_name`; empty for the root.
        public let name: String
        /// The frame the loop sits in; `nil` for the root.
        public let parent: Int?
        /// The loop's `parallel_iterations`.
        public let parallelIterations: Int
        /// The loop's `LoopCond` node (graph index), which decides every iteration.
        public var loopCond: Int?
    }

    /// Every frame, the root (0) first, parents before their loops.
    public private(set) var frames: [Frame] = [Frame(name: "", parent: nil, parallelIterations: 1)]
    /// The frame each node (graph index) runs in.
    public private(set) var frameOfNode: [Int]
    /// The frame each node's outputs go to: the loop's after `Enter`, the outer one after `Exit`.
    public private(set) var outputFrameOfNode: [Int]

    init(graph: RuntimeGraph) throws(WeftError) {
        frameOfNode = [Int](repeating: 0, count: graph.nodes.count)
        outputFrameOfNode = frameOfNode
        var kinds = graph.nodes.map { ControlFlowKind.of($0.info.op) }
        guard kinds.contains(where: { !$0.isDataflow }) else { return }
        let order = try StepPlan.topologicalOrder(
            graph: graph,
            needed: [Bool](repeating: true, count: graph.nodes.count),
            feeds: [:]
        )
        var position = [Int](repeating: 0, count: graph.nodes.count)
        for (place, node) in order.enumerated() { position[node] = place }
        var orderedKinds = order.map { kinds[$0] }
        let layout = try FrameLayout(order: order.count, infos: order.map { graph.nodes[$0].info }, kinds: &orderedKinds) {
            place in
            let node = order[place]
            let data = graph.nodes[node].dataInputs.indices.filter { !graph.closesLoop(node, input: $0) }
            return data.map { position[graph.nodes[node].dataInputs[$0].node] } + graph.nodes[node].controlInputs.map { position[$0] }
        }
        frames = layout.frames.map { Frame(name: $0.name, parent: $0.parent, parallelIterations: $0.parallelIterations) }
        for (place, node) in order.enumerated() {
            kinds[node] = orderedKinds[place]
            frameOfNode[node] = layout.frameOfNode[place]
            outputFrameOfNode[node] = layout.outputFrame(of: place, kind: orderedKinds[place])
            if graph.nodes[node].info.op == "LoopCond" { frames[frameOfNode[node]].loopCond = node }
        }
    }

    /// The loops around `frame`, itself included, outermost first; empty for the root.
    public func nesting(of frame: Int) -> [Int] {
        var chain: [Int] = []
        var current = frame
        while let parent = frames[current].parent {
            chain.append(current)
            current = parent
        }
        return chain.reversed()
    }
}

extension RuntimeGraph {
    /// The graph's while-loop frames (`LoopFrames`).
    public func loopFrames() throws(WeftError) -> LoopFrames {
        try LoopFrames(graph: self)
    }

    /// Which nodes' outputs may be dead: those a `Switch` reaches through data or control edges.
    public func mayBeDead() -> [Bool] {
        var reached = [Bool](repeating: false, count: nodes.count)
        var stack = nodes.indices.filter { ControlFlowKind.of(nodes[$0].info.op) == .switch }
        guard !stack.isEmpty else { return reached }
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for node in nodes.indices {
            for input in nodes[node].dataInputs { consumers[input.node].append(node) }
            for producer in nodes[node].controlInputs { consumers[producer].append(node) }
        }
        while let node = stack.popLast() {
            guard !reached[node] else { continue }
            reached[node] = true
            stack.append(contentsOf: consumers[node])
        }
        return reached
    }

    /// Every while loop (its frame with its enters, nested loops included) and every cond (each
    /// group of `Switch`es sharing a predicate, with what their outputs reach up to the `Merge`s
    /// that join both branches): placement keeps each on one device unless told to split it
    /// (`PlacementProblem`). Split, a loop costs messages every iteration, which the
    /// partitioner's control loops and dead tensors on the wire make work as TensorFlow's do.
    public func controlFlowGroups() throws(WeftError) -> [[Int]] {
        var kinds = nodes.map { ControlFlowKind.of($0.info.op) }
        guard kinds.contains(where: { !$0.isDataflow }) else { return [] }
        let order = try StepPlan.topologicalOrder(graph: self, needed: [Bool](repeating: true, count: nodes.count), feeds: [:])
        var position = [Int](repeating: 0, count: nodes.count)
        for (place, node) in order.enumerated() { position[node] = place }
        var orderedKinds = order.map { kinds[$0] }
        let layout = try FrameLayout(order: order.count, infos: order.map { nodes[$0].info }, kinds: &orderedKinds) {
            place in
            let node = order[place]
            let data = nodes[node].dataInputs.indices.filter { !closesLoop(node, input: $0) }
            return data.map { position[nodes[node].dataInputs[$0].node] } + nodes[node].controlInputs.map { position[$0] }
        }
        for (place, node) in order.enumerated() { kinds[node] = orderedKinds[place] }
        var groups: [Int: [Int]] = [:]
        for (place, node) in order.enumerated() {
            // An enter joins the loop it opens to the frame it sits in, so nested loops are one.
            if case .enter(let opened, _) = kinds[node] { groups[opened, default: []].append(node) }
            let frame = layout.frameOfNode[place]
            if frame != 0 { groups[frame, default: []].append(node) }
        }
        return Array(groups.values) + condGroups(kinds: kinds)
    }

    /// The nodes each node feeds through data edges (once per edge).
    public func dataConsumers() -> [[Int]] {
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for node in nodes.indices {
            for input in nodes[node].dataInputs { consumers[input.node].append(node) }
        }
        return consumers
    }

    /// For each predicate of cond `Switch`es (loops' switches aside), the switches and every
    /// node their outputs reach, up to the merges reached from both branches.
    private func condGroups(kinds: [ControlFlowKind]) -> [[Int]] {
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for node in nodes.indices {
            for input in nodes[node].dataInputs { consumers[input.node].append(node) }
            for producer in nodes[node].controlInputs { consumers[producer].append(node) }
        }
        var switchesByPredicate: [Int: [Int]] = [:]
        for node in nodes.indices where kinds[node] == .switch {
            let predicate = nodes[node].dataInputs[1]
            guard nodes[predicate.node].info.op != "LoopCond" else { continue }
            switchesByPredicate[predicate.node &* 64 &+ predicate.output, default: []].append(node)
        }
        return switchesByPredicate.values.map { switches in
            // Which branch (bit 0: false, bit 1: true) reached each node.
            var reached = [UInt8](repeating: 0, count: nodes.count)
            var stack: [(node: Int, branch: UInt8)] = []
            for node in switches {
                for consumer in consumers[node] {
                    let branches = nodes[consumer].dataInputs.contains { $0.node == node && $0.output == 1 } ? 2 : 1
                    stack.append((consumer, UInt8(branches)))
                }
            }
            var members = switches
            while let (node, branch) = stack.popLast() {
                guard reached[node] | branch != reached[node] else { continue }  // nothing new
                if reached[node] == 0 { members.append(node) }
                reached[node] |= branch
                let joinsBoth = kinds[node] == .merge && reached[node] == 3
                guard !joinsBoth, kinds[node] != .nextIteration else { continue }
                for consumer in consumers[node] { stack.append((consumer, reached[node])) }
            }
            return members
        }
    }
}
