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
    /// `_Send`: a dead input cannot be represented on the wire.
    case send

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
        default: .compute
        }
    }

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
