import WeftRuntime

/// The walk of `tf.gradients` (TensorFlow's `_GradientsHelper`) over a snapshot of the graph:
/// it finds the ops between the xs and the ys, then visits them from the ys back in reverse
/// topological order, each once every consumer on the path has handed it its gradients.
struct GradientBuilder {
    let graph: Graph
    let registry: GradientRegistry
    let colocateWithOps: Bool
    /// Each node's data inputs, by node name.
    private var inputs: [String: [TensorName]] = [:]
    /// The nodes consuming each node's outputs through data edges.
    private var consumers: [String: [String]] = [:]
    /// The gradients each node's outputs received so far: per output, one entry per path.
    private var received: [String: [Int: [Gradient]]] = [:]
    /// The graph's nodes, parsed.
    private var nodes: [NodeInfo] = []
    /// The while loops the walk treats as single ops, by their walk names.
    private var loops: [String: WhileLoopStructure] = [:]

    init(graph: Graph, registry: GradientRegistry, colocateWithOps: Bool) throws(WeftError) {
        self.graph = graph
        self.registry = registry
        self.colocateWithOps = colocateWithOps
        for node in graph.nodes().nodes {
            let info = try NodeInfo(node)
            nodes.append(info)
            let dataInputs = info.dataInputs
            inputs[node.name] = dataInputs
            for input in dataInputs { consumers[input.node, default: []].append(node.name) }
        }
    }

    /// The gradient of the sum of `ys` with respect to each of `xs`.
    mutating func gradients(
        of ys: [Output],
        with xs: [Output],
        gradYs: [Output]?,
        unconnected: UnconnectedGradients,
        stopGradients: [Output]
    ) throws(WeftError) -> [Gradient?] {
        let initial = try initialGradients(ys, gradYs)
        collapseLoops(keeping: Set((xs + ys).map(\.operation.name)))
        let xOps = Set(xs.map(\.operation.name))
        let between = opsBetween(from: xOps, to: ys.map(\.operation.name))
        var pending = pendingCounts(between)
        // An x whose own inputs lie outside the path is where the walk stops, as does every op
        // the caller named: they receive gradients but pass none on.
        let stopOps = xOps.filter { op in !(inputs[op] ?? []).contains { pending[$0.node, default: 0] > 0 } }
            .union(stopGradients.map(\.operation.name))
        for (y, gradient) in zip(ys, initial) { record(.dense(gradient), for: y.tensorName) }

        var queue: [String] = []
        var queued = Set<String>()
        for y in ys where between.contains(y.operation.name) && pending[y.operation.name, default: 0] == 0 {
            if queued.insert(y.operation.name).inserted { queue.append(y.operation.name) }
        }
        var next = 0
        while next < queue.count {
            let op = queue[next]
            next += 1
            let outputGradients = aggregatedGradients(of: op)
            if !stopOps.contains(op), outputGradients.contains(where: { $0 != nil }) {
                try backpropagate(through: op, outputGradients)
            }
            for input in inputs[op] ?? [] where between.contains(input.node) {
                pending[input.node, default: 0] -= 1
                if pending[input.node] == 0 { queue.append(input.node) }
            }
        }
        // In a graph without cycles every op between is reached; one left waiting sits on a loop.
        if queue.count < between.count, let stuck = between.subtracting(queue).min() {
            throw WeftError(
                .unimplemented,
                "the path from the xs to the ys runs through a loop at node '\(stuck)' "
                    + "(\(Operation(graph: graph, name: stuck).type)): gradients of TensorFlow 1.x while loops "
                    + "are not implemented"
            )
        }
        return try xs.map { (x) throws(WeftError) -> Gradient? in
            if let gradient = Gradient.sum(received[x.operation.name]?[x.index] ?? []) { return gradient }
            return unconnected == .zero ? .dense(try zeros(like: x)) : nil
        }
    }

    /// The gradients fed into the ys: the given ones, or ones of each y's shape (`grad_ys_N`).
    private func initialGradients(_ ys: [Output], _ gradYs: [Output]?) throws(WeftError) -> [Output] {
        guard let gradYs else {
            return ys.enumerated().map { index, y in
                opScope(graph, nil, default: "grad_ys_\(index)") { opName in
                    OpBuilder.fill(OpBuilder.shape(y), with: 1, dtype: y.dtype, name: opName)
                }
            }
        }
        for (y, gradient) in zip(ys, gradYs) where y.dtype != gradient.dtype {
            throw WeftError(
                .invalidArgument,
                "the gradient \(gradient) for \(y) is \(gradient.dtype), but \(y) is \(y.dtype): "
                    + "gradYs must match the ys' types"
            )
        }
        return gradYs
    }

    /// The ops on a data path from an op of `xOps` to one of `yOps` (both included).
    private func opsBetween(from xOps: Set<String>, to yOps: [String]) -> Set<String> {
        var reached = Set<String>()
        var stack = Array(xOps)
        while let op = stack.popLast() {
            guard reached.insert(op).inserted else { continue }
            stack += consumers[op] ?? []
        }
        var between = Set<String>()
        stack = yOps
        while let op = stack.popLast() {
            guard reached.contains(op), between.insert(op).inserted else { continue }
            stack += (inputs[op] ?? []).map(\.node)
        }
        return between
    }

    /// For each op between, how many data edges lead from it to consumers between.
    private func pendingCounts(_ between: Set<String>) -> [String: Int] {
        var pending: [String: Int] = [:]
        for op in between {
            for input in inputs[op] ?? [] where between.contains(input.node) { pending[input.node, default: 0] += 1 }
        }
        return pending
    }

    /// Makes each while loop that holds no x or y one op of the walk: its inputs are the
    /// tensors entering it, its outputs its exits, and the nodes inside leave the walk.
    private mutating func collapseLoops(keeping kept: Set<String>) {
        for loop in WhileLoopStructure.find(in: nodes, types: graph.outputTypes(of:))
        where loop.members.isDisjoint(with: kept) {
            let name = loop.walkName
            loops[name] = loop
            for member in loop.members {
                inputs[member] = nil
                consumers[member] = nil
            }
            consumers = consumers.mapValues { $0.filter { !loop.members.contains($0) } }
            inputs[name] = loop.inputs
            for input in loop.inputs { consumers[input.node, default: []].append(name) }
            for (exit, position) in loop.exitPositions {
                inputs[exit] = [TensorName(node: name, index: position)]
                consumers[name, default: []].append(exit)
            }
        }
    }

    private func outputCount(of op: String) -> Int {
        loops[op]?.variables.count ?? graph.outputTypes(of: op).count
    }

    private mutating func record(_ gradient: Gradient, for tensor: TensorName) {
        received[tensor.node, default: [:]][tensor.index, default: []].append(gradient)
    }

    /// Each output's gradients summed (`AddN`), stored back so later reads see the sum.
    private mutating func aggregatedGradients(of op: String) -> [Gradient?] {
        let count = outputCount(of: op)
        var result: [Gradient?] = []
        for index in 0..<count {
            let sum = Gradient.sum(received[op]?[index] ?? [])
            if let sum { received[op, default: [:]][index] = [sum] }
            result.append(sum)
        }
        return result
    }

    /// Calls the gradient function of `op` and hands its results to the op's inputs.
    private mutating func backpropagate(through op: String, _ outputGradients: [Gradient?]) throws(WeftError) {
        if let loop = loops[op] {
            let gradients = try loop.gradients(of: outputGradients, in: graph, registry: registry)
            for (input, gradient) in zip(loop.inputs, gradients) {
                if let gradient { record(gradient, for: input) }
            }
            return
        }
        if let exited = inputs[op]?.first, loops[exited.node] != nil {
            // A collapsed loop's exit hands its gradient to the loop's output.
            if let gradient = outputGradients.first ?? nil { record(gradient, for: exited) }
            return
        }
        let operation = Operation(graph: graph, name: op)
        let node = operation.nodeDef
        let opInputs = (inputs[op] ?? []).map { tensor in output(tensor) }
        let inputGradients: [Gradient?]
        switch registry.entry(for: node.op) {
        case nil:
            throw WeftError(
                .unimplemented,
                "No gradient defined for operation '\(op)' (op type: \(node.op)); register one with "
                    + "GradientRegistry.register, or cut the path with StopGradient"
            )
        case .notDifferentiable:
            return
        case .function(let function):
            let outputs = graph.outputTypes(of: op).indices.map { output(TensorName(node: op, index: $0)) }
            // An output no path reached contributes zeros, as TensorFlow fills them in.
            let filled = zip(outputs, outputGradients).map { output, gradient -> Gradient? in
                gradient
                    ?? (output.dtype.isFloatingPoint || output.dtype.isComplex
                        ? .dense(OpBuilder.zerosLike(output)) : nil)
            }
            let context = GradientContext(
                operation: operation,
                inputs: opInputs,
                outputs: outputs,
                attributes: NodeAttributes(node.attr, node: op),
                outputGradients: filled,
                registry: registry,
                colocateWithOps: colocateWithOps
            )
            let call = { Result { () throws(WeftError) in try function(context) } }
            inputGradients = try graph.nameScope(op + "_grad") {
                colocateWithOps ? graph.colocate(with: operation, call) : call()
            }.get()
        }
        guard inputGradients.count == opInputs.count else {
            throw WeftError(
                .internal,
                "the gradient function of \(node.op) returned \(inputGradients.count) gradients for node '\(op)', "
                    + "which has \(opInputs.count) inputs"
            )
        }
        for (input, gradient) in zip(opInputs, inputGradients) {
            if let gradient { record(gradient, for: input.tensorName) }
        }
    }

    private func output(_ tensor: TensorName) -> Output {
        Output(
            operation: Operation(graph: graph, name: tensor.node),
            index: tensor.index,
            dtype: graph.outputTypes(of: tensor.node)[safe: tensor.index]?.dtype ?? .float
        )
    }

    /// Zeros for an x the ys do not depend on; a resource variable's handle gets zeros of the
    /// variable's shape and type.
    private func zeros(like x: Output) throws(WeftError) -> Output {
        guard x.dtype == .resource else { return OpBuilder.zerosLike(x) }
        let attributes = NodeAttributes(x.operation.nodeDef.attr, node: x.operation.name)
        guard attributes.has("dtype") else {
            throw WeftError(
                .invalidArgument,
                "cannot make zeros for the resource \(x): its op \(x.operation.type) does not record "
                    + "the variable's dtype"
            )
        }
        let dtype = try attributes.type("dtype")
        return opScope(graph, nil, default: "zeros") { opName in
            OpBuilder.fill(OpBuilder.variableShape(x), with: 0, dtype: dtype, name: opName)
        }
    }
}
