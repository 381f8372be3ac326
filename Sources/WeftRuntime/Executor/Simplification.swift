import WeftProto

/// Common-subexpression elimination and arithmetic simplification over the nodes a plan needs,
/// as Grappler's arithmetic optimizer and its constant folding's simplifications do: a node
/// whose outputs another tensor already holds leaves the plan, and its consumers read that
/// tensor instead.
///
/// - A stateless node with the same op, attributes and (already simplified) inputs as an
///   earlier one is that node.
/// - `Identity(x)`, `x * 1`, `1 * x`, `x + 0`, `0 + x`, `x - 0` and `x / 1` (the constant a
///   folded scalar of x's dtype) are `x`, as in TensorFlow.
/// - A `NoOp` joining the control edges of compute nodes is dropped when waiting for its inputs
///   directly costs its consumers no more edges (fan-in × fan-out ≤ fan-in + fan-out).
///
/// Nodes the caller names (fetched or targets) stay, so their statistics remain, and so do
/// stateful, control-flow, reference and resource nodes: their identity is their effect.
struct Simplification {
    /// A data input: a fed tensor, or a tensor a node of the plan makes.
    enum Source: Hashable {
        case feed(Int)
        case tensor(node: Int, output: Int)
    }

    /// A removed node's outputs, each as the tensor that holds its value (never itself removed).
    private var replaced: [Int: [Source]] = [:]
    /// A dropped `NoOp`: the nodes its control consumers wait for instead.
    private var joined: [Int: [Int]] = [:]
    private let graph: RuntimeGraph
    private let feeds: [TensorName: Int]

    private static let addLike: Set<String> = ["Add", "AddV2"]
    private static let divideLike: Set<String> = ["Div", "RealDiv"]

    /// The key two equal nodes share: op, attributes, and inputs after replacement.
    private struct Key: Hashable {
        let op: String
        let attributes: [String: Tensorflow_AttrValue]
        let inputs: [Source]
        let controls: [Int]
    }

    /// Simplifies `order` (graph nodes, producers first); `folded` holds the values constant
    /// folding computed, and `kept` are nodes that must stay.
    init(
        graph: RuntimeGraph,
        order: [Int],
        folded: [Int: [Tensor]],
        feeds: [TensorName: Int],
        optimizations: GraphOptimizations,
        kept: Set<Int>
    ) {
        self.graph = graph
        self.feeds = feeds
        let controlFanOut = optimizations.pruneNoOps ? Self.controlFanOut(graph: graph, order: order) : [:]
        var seen: [Key: Int] = [:]
        for node in order where folded[node] == nil && !kept.contains(node) {
            if optimizations.pruneNoOps, let inputs = prunedNoOp(node, fanOut: controlFanOut[node, default: 0]) {
                joined[node] = inputs
                continue
            }
            guard optimizations.simplifyArithmetic || optimizations.eliminateCommonSubexpressions,
                Self.isPure(graph.nodes[node], in: graph)
            else { continue }
            let runtime = graph.nodes[node]
            let inputs = runtime.dataInputs.indices.map { source(of: node, input: $0) }
            if optimizations.simplifyArithmetic, let forwarded = forwarded(runtime, inputs, folded: folded) {
                replaced[node] = [forwarded]
                continue
            }
            guard optimizations.eliminateCommonSubexpressions else { continue }
            let controls = runtime.controlInputs.flatMap { waitedFor($0) }.sorted()
            let key = Key(op: runtime.info.op, attributes: runtime.info.attributes.values, inputs: inputs, controls: controls)
            guard let earlier = seen[key] else {
                seen[key] = node
                continue
            }
            let outputs = (0..<runtime.outputTypes.count).map { source(earlier, $0) }
            // A fed output of the earlier node is not what this one computes.
            if outputs.allSatisfy({ if case .tensor = $0 { true } else { false } }) { replaced[node] = outputs }
        }
    }

    /// Where data input `input` of `node` comes from, after simplification.
    func source(of node: Int, input: Int) -> Source {
        let (producer, output) = graph.nodes[node].dataInputs[input]
        return source(producer, output)
    }

    /// The nodes a control edge from `node` waits for once simplified: the producer of the
    /// tensor that replaces it, which is ready no later than `node` would have been (none when
    /// that tensor is fed), or the inputs of a dropped `NoOp`.
    func waitedFor(_ node: Int) -> [Int] {
        if let inputs = joined[node] { return inputs }
        guard let outputs = replaced[node], let first = outputs.first else { return [node] }
        guard case .tensor(let producer, _) = first else { return [] }
        return [producer]
    }

    /// The nodes a `NoOp`'s control consumers wait for instead of it, when it may be dropped: it
    /// joins only dataflow nodes (a control-flow node's edges carry deadness of its own) and
    /// dropping it adds no edges.
    private func prunedNoOp(_ node: Int, fanOut: Int) -> [Int]? {
        let runtime = graph.nodes[node]
        guard runtime.info.op == "NoOp", runtime.dataInputs.isEmpty, fanOut > 0 else { return nil }
        var inputs: [Int] = []
        for control in runtime.controlInputs {
            for input in waitedFor(control) where !inputs.contains(input) { inputs.append(input) }
        }
        guard inputs.allSatisfy({ ControlFlowKind.of(graph.nodes[$0].info.op).isDataflow }),
            inputs.count * fanOut <= inputs.count + fanOut
        else { return nil }
        return inputs
    }

    /// How many nodes of `order` wait for each node through control edges.
    private static func controlFanOut(graph: RuntimeGraph, order: [Int]) -> [Int: Int] {
        var fanOut: [Int: Int] = [:]
        for node in order {
            for control in graph.nodes[node].controlInputs { fanOut[control, default: 0] += 1 }
        }
        return fanOut
    }

    private func source(_ node: Int, _ output: Int) -> Source {
        if let feed = feeds[TensorName(node: graph.nodes[node].info.name, index: output)] { return .feed(feed) }
        if let outputs = replaced[node], output < outputs.count { return outputs[output] }
        return .tensor(node: node, output: output)
    }

    /// Whether a node may be removed or merged: stateless computation of plain tensors from
    /// plain tensors (a variable read now and read later may differ), with nothing beyond its
    /// outputs to preserve.
    private static func isPure(_ node: RuntimeGraph.Node, in graph: RuntimeGraph) -> Bool {
        let op = node.info.op
        func isPlain(_ type: OutputType) -> Bool { !type.isRef && type.dtype != .resource && type.dtype != .variant }
        return !node.definition.isStateful && node.definition.refInputs.isEmpty && ControlFlowKind.of(op) == .compute
            && !op.hasPrefix("_") && op != "Const" && op != "Placeholder" && op != "PlaceholderWithDefault"
            && !node.outputTypes.isEmpty && node.outputTypes.allSatisfy(isPlain)
            && node.dataInputs.allSatisfy { isPlain(graph.nodes[$0.node].outputTypes[$0.output]) }
    }

    /// The tensor a node only passes on: `Identity`'s input, or `x` of an arithmetic identity.
    /// Only fed tensors and tensors made by dataflow nodes are passed on: a control-flow node's
    /// control edges carry deadness of its own, which its outputs do not.
    private func forwarded(_ node: RuntimeGraph.Node, _ inputs: [Source], folded: [Int: [Tensor]]) -> Source? {
        guard node.controlInputs.isEmpty, node.outputTypes.count == 1 else { return nil }
        let op = node.info.op
        let passed: Int
        if op == "Identity" {
            guard inputs.count == 1 else { return nil }
            passed = 0
        } else if inputs.count == 2, let index = arithmeticIdentity(op, inputs, folded: folded, dtype: node.outputTypes[0].dtype) {
            passed = index
        } else {
            return nil
        }
        if case .tensor(let producer, _) = inputs[passed], !ControlFlowKind.of(graph.nodes[producer].info.op).isDataflow {
            return nil
        }
        return inputs[passed]
    }

    /// Which input of a binary op is its value because the other is a scalar constant 0 or 1.
    private func arithmeticIdentity(_ op: String, _ inputs: [Source], folded: [Int: [Tensor]], dtype: DType) -> Int? {
        func constant(_ input: Int) -> Double? {
            guard case .tensor(let node, let output) = inputs[input], let value = folded[node]?[output],
                value.dtype == dtype, value.shape.rank == 0, dtype.isNumeric, !dtype.isComplex
            else { return nil }
            return value.doubleValues.first
        }
        if Self.addLike.contains(op) {
            if constant(1) == 0 { return 0 }
            if constant(0) == 0 { return 1 }
        } else if op == "Sub" {
            if constant(1) == 0 { return 0 }
        } else if op == "Mul" {
            if constant(1) == 1 { return 0 }
            if constant(0) == 1 { return 1 }
        } else if Self.divideLike.contains(op) {
            if constant(1) == 1 { return 0 }
        }
        return nil
    }
}
