import WeftRuntime

/// A TensorFlow 1.x while loop found among a graph's nodes: its frame, its loop variables (each
/// an `Enter`, `Merge`, `Switch`, `NextIteration` and usually an `Exit`) and its invariants
/// (constant `Enter`s). `gradients(of:with:)` treats such a loop as one op whose inputs are the
/// tensors entering it and whose outputs are its exits.
struct WhileLoopStructure {
    /// One loop variable.
    struct Variable {
        /// The `Enter` of the initial value, and that value.
        let enter: String
        let initial: TensorName
        let merge: String
        /// The `Switch` whose output 1 is the variable's value in the body.
        let switchNode: String
        let exit: String?
        /// The body's next value, which the `NextIteration` passes on.
        let update: TensorName
        let dtype: DType
    }

    /// A tensor that enters the loop unchanged (a constant `Enter`).
    struct Invariant {
        let enter: String
        let outside: TensorName
        let dtype: DType
    }

    let frame: String
    let parallelIterations: Int
    var variables: [Variable] = []
    var invariants: [Invariant] = []
    /// The `LoopCond` deciding whether the body runs again.
    var loopCond = ""
    /// Every node of the loop's frame, its enters included and its exits not.
    var members: Set<String> = []
    /// Why the loop cannot be differentiated, when it cannot.
    var unsupported: String?

    /// The name standing for the whole loop in the gradient walk; no node name starts with `^`.
    var walkName: String { "^while:" + frame }

    /// The position among the loop's outputs of each exit.
    var exitPositions: [String: Int] {
        var positions: [String: Int] = [:]
        for (position, variable) in variables.enumerated() {
            if let exit = variable.exit { positions[exit] = position }
        }
        return positions
    }

    /// The tensors entering the loop: the initial values, then the invariants.
    var inputs: [TensorName] { variables.map(\.initial) + invariants.map(\.outside) }

    /// The loops of `nodes` that are not inside another loop (a loop nested in one is reported
    /// as a reason its outer loop cannot be differentiated).
    static func find(in nodes: [NodeInfo], types: (String) -> [OutputType]) -> [WhileLoopStructure] {
        var frames = FrameAssignment(nodes)
        guard frames.hasLoops else { return [] }
        frames.assign()
        var loops: [WhileLoopStructure] = []
        for (index, frame) in frames.frames.enumerated() where frame.parent == 0 && index != 0 {
            var loop = WhileLoopStructure(frame: frame.name, parallelIterations: frame.parallelIterations)
            loop.members = frames.members(of: index)
            if frames.frames.contains(where: { $0.parent == index }) {
                loop.unsupported = "it holds another while loop: gradients of nested while loops are not implemented"
            }
            loop.describe(using: frames, types: types)
            loops.append(loop)
        }
        return loops
    }

    /// Finds the loop variables and invariants from the loop's enters.
    private mutating func describe(using frames: FrameAssignment, types: (String) -> [OutputType]) {
        for enter in members.sorted() {
            guard let info = frames.info[enter], info.op == "Enter" || info.op == "RefEnter",
                let outside = info.dataInputs.first
            else { continue }
            let dtype = types(outside.node)[safe: outside.index]?.dtype ?? .float
            if (try? info.attributes.bool("is_constant", default: false)) == true {
                invariants.append(Invariant(enter: enter, outside: outside, dtype: dtype))
                continue
            }
            guard let variable = variable(entering: enter, initial: outside, dtype: dtype, frames) else {
                unsupported = unsupported ?? "its enter '\(enter)' does not feed a Merge, Switch and NextIteration"
                continue
            }
            variables.append(variable)
        }
    }

    private mutating func variable(
        entering enter: String,
        initial: TensorName,
        dtype: DType,
        _ frames: FrameAssignment
    ) -> Variable? {
        func consumer(of node: String, op: Set<String>, input: Int) -> String? {
            frames.consumers[node, default: []].first { name in
                guard let info = frames.info[name], op.contains(info.op) else { return false }
                return info.dataInputs[safe: input]?.node == node
            }
        }
        guard let merge = consumer(of: enter, op: ["Merge", "RefMerge"], input: 0),
            let switchNode = consumer(of: merge, op: ["Switch", "RefSwitch"], input: 0),
            let mergeInfo = frames.info[merge], let back = mergeInfo.dataInputs[safe: 1],
            let next = frames.info[back.node], next.op == "NextIteration" || next.op == "RefNextIteration",
            let update = next.dataInputs.first,
            let decision = frames.info[switchNode]?.dataInputs[safe: 1]?.node
        else { return nil }
        loopCond = decision
        let exit = consumer(of: switchNode, op: ["Exit", "RefExit"], input: 0)
        return Variable(
            enter: enter,
            initial: initial,
            merge: merge,
            switchNode: switchNode,
            exit: exit,
            update: update,
            dtype: dtype
        )
    }
}

/// Each node's frame, worked out as the runtime does: an `Enter` starts a child frame of its
/// input's, an `Exit` returns to the parent, other nodes are in their inputs' frame.
private struct FrameAssignment {
    struct Frame {
        let name: String
        let parent: Int
        var parallelIterations: Int
    }

    var info: [String: NodeInfo] = [:]
    var order: [String] = []
    /// Every consumer of each node, through data and control edges.
    var consumers: [String: [String]] = [:]
    var frames = [Frame(name: "", parent: 0, parallelIterations: 1)]
    var nodeFrame: [String: Int] = [:]
    let hasLoops: Bool

    init(_ nodes: [NodeInfo]) {
        for node in nodes {
            info[node.name] = node
            order.append(node.name)
            for input in node.inputs {
                switch input {
                case .data(let name): consumers[name.node, default: []].append(node.name)
                case .control(let name): consumers[name, default: []].append(node.name)
                }
            }
        }
        hasLoops = nodes.contains { $0.op == "Enter" || $0.op == "RefEnter" }
    }

    /// Assigns frames in a topological order that skips the edges closing loops.
    mutating func assign() {
        var pending: [String: Int] = [:]
        for name in order { pending[name] = forwardInputs(of: name).count }
        var ready = order.filter { pending[$0] == 0 }
        while let name = ready.popLast() {
            nodeFrame[name] = frame(of: name)
            for consumer in consumers[name, default: []] where !closesLoop(consumer, from: name) {
                pending[consumer, default: 0] -= 1
                if pending[consumer] == 0 { ready.append(consumer) }
            }
        }
    }

    /// The nodes in frame `index`.
    func members(of index: Int) -> Set<String> {
        Set(nodeFrame.compactMap { name, frame in isWithin(frame, index) ? name : nil })
    }

    private func isWithin(_ frame: Int, _ ancestor: Int) -> Bool {
        var current = frame
        while current != 0 {
            if current == ancestor { return true }
            current = frames[current].parent
        }
        return ancestor == 0
    }

    private func forwardInputs(of name: String) -> [String] {
        guard let node = info[name] else { return [] }
        return node.inputs.compactMap { input in
            let producer: String
            switch input {
            case .data(let tensor): producer = tensor.node
            case .control(let node): producer = node
            }
            return info[producer] == nil || closesLoop(name, from: producer) ? nil : producer
        }
    }

    private func closesLoop(_ consumer: String, from producer: String) -> Bool {
        let consumerOp = info[consumer]?.op ?? ""
        let producerOp = info[producer]?.op ?? ""
        return (consumerOp == "Merge" || consumerOp == "RefMerge")
            && (producerOp == "NextIteration" || producerOp == "RefNextIteration")
    }

    private mutating func frame(of name: String) -> Int {
        guard let node = info[name] else { return 0 }
        let inputFrame = forwardInputs(of: name).first.flatMap { nodeFrame[$0] } ?? 0
        switch node.op {
        case "Enter", "RefEnter":
            let frameName = (try? node.attributes.string("frame_name", default: "")) ?? ""
            let parallel = (try? node.attributes.int("parallel_iterations", default: 10)) ?? 10
            if let existing = frames.firstIndex(where: { $0.name == frameName && $0.parent == inputFrame }) {
                return existing
            }
            frames.append(Frame(name: frameName, parent: inputFrame, parallelIterations: parallel))
            return frames.count - 1
        case "Exit", "RefExit":
            return frames[inputFrame].parent
        default:
            return inputFrame
        }
    }
}
