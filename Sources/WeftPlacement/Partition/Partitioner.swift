import Foundation
import WeftProto
import WeftRuntime

/// One device's share of a step: a graph with `_Send`/`_Recv` on every edge that leaves or
/// enters it, and which of the step's feeds and fetches it takes.
public struct Partition: Sendable {
    /// The device it runs on.
    public var device: DeviceName
    /// The partition graph.
    public var nodes: [Tensorflow_NodeDef] = []
    /// Tensor names in the partition graph that are fed, with the index of the step's feed.
    public var feeds: [(name: TensorName, feed: Int)] = []
    /// Tensor names in the partition graph that are fetched, with the index of the step's fetch.
    public var fetches: [(name: TensorName, fetch: Int)] = []
    /// Nodes run for their effects: the step's targets here, and every `_Send`.
    public var targets: [String] = []
}

/// Splits a placed graph into per-device partitions for one run signature. Pure: the
/// coordinator caches the result per signature and registers it with the workers.
public struct Partitioner {
    let graph: RuntimeGraph
    let placement: [String: DeviceName]

    /// Partitions `graph` as placed by `placement` (a device for every node).
    public init(graph: RuntimeGraph, placement: [String: DeviceName]) {
        self.graph = graph
        self.placement = placement
    }

    /// The partitions of one step; fetches of fed tensors are answered by the caller and appear
    /// in no partition. The result has an entry for every device that runs something.
    public func partition(_ signature: RunSignature) throws(WeftError) -> [DeviceName: Partition] {
        let (feeds, fetches, targets) = (signature.feeds, signature.fetches, signature.targets)
        var state = try PartitionBuilder(graph: graph, placement: placement)
        var fed: [TensorName: Int] = [:]
        for (index, feed) in feeds.enumerated() {
            _ = try graph.resolve(feed)
            fed[feed] = index
        }
        state.fed = fed
        let fetchProducers = try fetches.map { (name) throws(WeftError) in try graph.resolve(name) }
        let targetNodes = try targets.map { (name) throws(WeftError) in try graph.node(named: name) }
        let fetchRoots = fetches.indices.filter { fed[fetches[$0]] == nil }.map { fetchProducers[$0].node }
        let needed = state.prune(roots: fetchRoots + targetNodes)
        try state.addControlLoops(needed: needed)
        for node in graph.topologicalOrder() where needed[node] {
            try state.add(node)
        }
        for (index, name) in fetches.enumerated() where fed[name] == nil {
            let device = try state.device(of: fetchProducers[index].node)
            state.partitions[device, default: Partition(device: device)].fetches.append((name, index))
        }
        for node in targetNodes {
            let device = try state.device(of: node)
            state.partitions[device, default: Partition(device: device)].targets.append(graph.nodes[node].info.name)
        }
        return state.partitions
    }
}

/// The mutable state of one partitioning.
private struct PartitionBuilder {
    let graph: RuntimeGraph
    let placement: [String: DeviceName]
    var fed: [TensorName: Int] = [:]
    var partitions: [DeviceName: Partition] = [:]
    /// The `_Recv` (or feed placeholder) already made for a tensor on a device.
    var received: [ReceiveKey: String] = [:]
    var counter = 0
    /// The graph's while loops, and which nodes' outputs may be dead.
    let frames: LoopFrames
    let mayBeDead: [Bool]
    /// The `Merge` of the control loop that runs a loop frame's iterations on a device.
    var controlLoops: [FrameOnDevice: String] = [:]

    struct ReceiveKey: Hashable {
        var tensor: String
        var device: DeviceName
    }

    struct FrameOnDevice: Hashable {
        var frame: Int
        var device: DeviceName
    }

    init(graph: RuntimeGraph, placement: [String: DeviceName]) throws(WeftError) {
        self.graph = graph
        self.placement = placement
        frames = try graph.loopFrames()
        mayBeDead = graph.mayBeDead()
    }

    func device(of node: Int) throws(WeftError) -> DeviceName {
        guard let device = placement[graph.nodes[node].info.name] else {
            throw WeftError(.internal, "node '\(graph.nodes[node].info.name)' has not been placed")
        }
        return device
    }

    func prune(roots: [Int]) -> [Bool] {
        var needed = [Bool](repeating: false, count: graph.nodes.count)
        var stack = roots
        while let node = stack.popLast() {
            guard !needed[node] else { continue }
            needed[node] = true
            for input in graph.nodes[node].dataInputs
            where fed[TensorName(node: graph.nodes[input.node].info.name, index: input.output)] == nil {
                stack.append(input.node)
            }
            stack.append(contentsOf: graph.nodes[node].controlInputs)
        }
        return needed
    }

    mutating func add(_ index: Int) throws(WeftError) {
        let node = graph.nodes[index]
        let device = try device(of: index)
        var def = node.info.nodeDef
        def.device = device.description
        var inputs: [String] = []
        for input in node.dataInputs {
            let producer = graph.nodes[input.node]
            let name = TensorName(node: producer.info.name, index: input.output)
            let dtype = producer.outputTypes[input.output].dtype
            if let feed = fed[name] {
                inputs.append(feedPlaceholder(name, feed: feed, dtype: dtype, producer: producer.info, on: device))
            } else if try self.device(of: input.node) == device {
                inputs.append(NodeInput.data(name).text)
            } else {
                inputs.append(
                    try receive(
                        name.description,
                        input: NodeInput.data(name).text,
                        dtype: dtype,
                        from: self.device(of: input.node),
                        to: device,
                        producer: input.node
                    )
                )
            }
        }
        for producer in node.controlInputs {
            let producerDevice = try self.device(of: producer)
            let name = graph.nodes[producer].info.name
            if producerDevice == device {
                inputs.append("^" + name)
            } else {
                inputs.append("^" + (try controlReceive(producer, from: producerDevice, to: device)))
            }
        }
        def.input = inputs
        partitions[device, default: Partition(device: device)].nodes.append(def)
    }

    private mutating func freshName(_ kind: String) -> String {
        counter += 1
        return "_weft/\(kind)_\(counter)"
    }

    private mutating func append(_ def: Tensorflow_NodeDef, to device: DeviceName, asTarget: Bool = false) {
        partitions[device, default: Partition(device: device)].nodes.append(def)
        if asTarget { partitions[device, default: Partition(device: device)].targets.append(def.name) }
    }

    /// A placeholder in `device`'s partition standing for a fed tensor.
    private mutating func feedPlaceholder(
        _ name: TensorName,
        feed: Int,
        dtype: DType,
        producer: NodeInfo,
        on device: DeviceName
    ) -> String {
        let key = ReceiveKey(tensor: "feed:" + name.description, device: device)
        if let existing = received[key] { return existing }
        var def = Tensorflow_NodeDef()
        def.name = freshName("feed")
        def.op = "Placeholder"
        def.device = device.description
        def.attr["dtype"] = Tensorflow_AttrValue.with { $0.type = dtype.proto }
        if producer.op == "Placeholder", let shape = producer.attributes.values["shape"] {
            def.attr["shape"] = shape
        }
        append(def, to: device)
        partitions[device, default: Partition(device: device)].feeds.append(
            (TensorName(node: def.name, index: 0), feed)
        )
        received[key] = def.name
        return def.name
    }

    /// A `_Send` on `source` and a `_Recv` on `destination` for one tensor of graph node
    /// `producer`; returns the `_Recv`. Inside a loop split across devices, the `_Recv` runs in
    /// every iteration of the loop on `destination`: its control loop's `Merge` starts it.
    private mutating func receive(
        _ tensor: String,
        input: String,
        dtype: DType,
        from source: DeviceName,
        to destination: DeviceName,
        producer: Int
    ) throws(WeftError) -> String {
        let key = ReceiveKey(tensor: tensor, device: destination)
        if let existing = received[key] { return existing }
        let attributes: [String: Tensorflow_AttrValue] = [
            "tensor_name": .with { $0.s = Data(tensor.utf8) },
            "send_device": .with { $0.s = Data(source.description.utf8) },
            "recv_device": .with { $0.s = Data(destination.description.utf8) },
            "send_device_incarnation": .with { $0.i = 0 },
            "client_terminated": .with { $0.b = false },
        ]
        var send = Tensorflow_NodeDef()
        send.name = freshName("send")
        send.op = "_Send"
        send.device = source.description
        send.input = [input]
        send.attr = attributes
        send.attr["T"] = .with { $0.type = dtype.proto }
        append(send, to: source, asTarget: true)
        var recv = Tensorflow_NodeDef()
        recv.name = freshName("recv")
        recv.op = "_Recv"
        recv.device = destination.description
        recv.attr = attributes
        recv.attr["tensor_type"] = .with { $0.type = dtype.proto }
        if mayBeDead[producer] { recv.attr[RecvAttributes.mayBeDead] = .with { $0.b = true } }
        let frame = frames.outputFrameOfNode[producer]
        if frame != 0 {
            guard let merge = controlLoops[FrameOnDevice(frame: frame, device: destination)] else {
                throw WeftError(.internal, "no control loop for loop '\(frames.frames[frame].name)' on \(destination)")
            }
            recv.input = ["^" + merge]
        }
        append(recv, to: destination)
        received[key] = recv.name
        return recv.name
    }

    /// A control edge across devices: a scalar sent once graph node `producer` has run.
    private mutating func controlReceive(
        _ producer: Int,
        from source: DeviceName,
        to destination: DeviceName
    ) throws(WeftError) -> String {
        let node = graph.nodes[producer].info.name
        let key = ReceiveKey(tensor: "^" + node, device: destination)
        if let existing = received[key] { return existing }
        var trigger = Tensorflow_NodeDef()
        trigger.name = freshName("control")
        trigger.op = "Const"
        trigger.device = source.description
        trigger.input = ["^" + node]
        trigger.attr["dtype"] = .with { $0.type = .dtBool }
        trigger.attr["value"] = .with { $0.tensor = Tensor(true).proto }
        append(trigger, to: source)
        return try receive("^" + node, input: trigger.name, dtype: .bool, from: source, to: destination, producer: producer)
    }

    // MARK: Loops split across devices

    /// Adds a control loop for every loop frame on every device that runs part of it while
    /// another device runs another part, as TensorFlow's partitioner does. It is the loop's
    /// skeleton (`Enter`, `Merge`, `Switch` on the loop's `LoopCond`, `NextIteration`), so the
    /// device starts each iteration the loop runs, and knows the last; the loop's `_Recv`s there
    /// hang off its `Merge`. Outer loops get one first, and an inner loop's enters hang off it.
    mutating func addControlLoops(needed: [Bool]) throws(WeftError) {
        guard frames.frames.count > 1 else { return }
        let split = try splitFrames(needed: needed)
        guard !split.isEmpty else { return }
        var wanted = Set<FrameOnDevice>()
        for node in graph.nodes.indices where needed[node] {
            let device = try device(of: node)
            for frame in [frames.frameOfNode[node], frames.outputFrameOfNode[node]] where split.contains(frame) {
                for loop in frames.nesting(of: frame) { wanted.insert(FrameOnDevice(frame: loop, device: device)) }
            }
        }
        // Frames are numbered parents first, so outer control loops exist before inner ones.
        for loop in wanted.sorted(by: { ($0.frame, $0.device) < ($1.frame, $1.device) }) {
            try addControlLoop(loop)
        }
    }

    /// Loop frames with an edge inside them between two devices, and the loops around them.
    private func splitFrames(needed: [Bool]) throws(WeftError) -> Set<Int> {
        var split = Set<Int>()
        for node in graph.nodes.indices where needed[node] {
            let device = try device(of: node)
            let producers = graph.nodes[node].dataInputs.map(\.node) + graph.nodes[node].controlInputs
            for producer in producers where frames.outputFrameOfNode[producer] != 0 {
                guard try self.device(of: producer) != device else { continue }
                split.formUnion(frames.nesting(of: frames.outputFrameOfNode[producer]))
            }
        }
        return split
    }

    private mutating func addControlLoop(_ loop: FrameOnDevice) throws(WeftError) {
        let frame = frames.frames[loop.frame]
        guard let loopCond = frame.loopCond else {
            throw WeftError(
                .invalidArgument,
                "while loop '\(frame.name)' is split across devices but has no LoopCond to tell each device when it ends"
            )
        }
        let enter = freshName("cloop_enter")
        let merge = freshName("cloop_merge")
        let next = freshName("cloop_next")
        var start = Tensorflow_NodeDef()
        if let parent = frame.parent, parent != 0 {
            guard let outer = controlLoops[FrameOnDevice(frame: parent, device: loop.device)] else {
                throw WeftError(.internal, "no control loop for loop '\(frames.frames[parent].name)' on \(loop.device)")
            }
            start.name = outer
        } else {
            start = controlNode(freshName("cloop_start"), "Const", inputs: [], on: loop.device)
            start.attr["dtype"] = .with { $0.type = .dtFloat }
            start.attr["value"] = .with { $0.tensor = Tensor(Float(0)).proto }
            append(start, to: loop.device)
        }
        var enterDef = controlNode(enter, "Enter", inputs: [start.name], on: loop.device)
        enterDef.attr["frame_name"] = .with { $0.s = Data(frame.name.utf8) }
        enterDef.attr["is_constant"] = .with { $0.b = false }
        enterDef.attr["parallel_iterations"] = .with { $0.i = Int64(frame.parallelIterations) }
        append(enterDef, to: loop.device)
        var mergeDef = controlNode(merge, "Merge", inputs: [enter, next], on: loop.device)
        mergeDef.attr["N"] = .with { $0.i = 2 }
        append(mergeDef, to: loop.device)
        controlLoops[loop] = merge
        let predicate = try loopPredicate(loopCond, on: loop.device)
        let switchName = freshName("cloop_switch")
        append(controlNode(switchName, "Switch", inputs: [merge, predicate], on: loop.device), to: loop.device)
        // A target, so the loop runs on a device where no receive needs it.
        append(controlNode(next, "NextIteration", inputs: [switchName + ":1"], on: loop.device), to: loop.device, asTarget: true)
    }

    /// The loop's `LoopCond` output as an input on `device`.
    private mutating func loopPredicate(_ loopCond: Int, on device: DeviceName) throws(WeftError) -> String {
        let name = TensorName(node: graph.nodes[loopCond].info.name, index: 0)
        let source = try self.device(of: loopCond)
        guard source != device else { return NodeInput.data(name).text }
        return try receive(
            name.description,
            input: NodeInput.data(name).text,
            dtype: .bool,
            from: source,
            to: device,
            producer: loopCond
        )
    }

    /// A node of a control loop, carrying a float dummy (`T`).
    private func controlNode(_ name: String, _ op: String, inputs: [String], on device: DeviceName) -> Tensorflow_NodeDef {
        var def = Tensorflow_NodeDef()
        def.name = name
        def.op = op
        def.device = device.description
        def.input = inputs
        if op != "Const" { def.attr["T"] = .with { $0.type = .dtFloat } }
        return def
    }
}

extension NodeInfo {
    /// The NodeDef this node was parsed from.
    public var nodeDef: Tensorflow_NodeDef {
        var def = Tensorflow_NodeDef()
        def.name = name
        def.op = op
        def.device = device
        def.input = inputs.map(\.text)
        def.attr = attributes.values
        return def
    }
}
