import WeftProto

/// A graph loaded into the runtime: every node parsed, its op known, its inputs resolved and
/// its output types computed. Step plans are made from it; it never changes once made.
public final class RuntimeGraph: Sendable {
    /// A node with its op definition and output types.
    public struct Node: Sendable {
        /// The parsed NodeDef.
        public let info: NodeInfo
        /// The op's definition.
        public let definition: OpDefinition
        /// The types of the node's outputs.
        public let outputTypes: [OutputType]
        /// Producers of the data inputs, as node indices with output index.
        public let dataInputs: [(node: Int, output: Int)]
        /// Producers of the control inputs, as node indices.
        public let controlInputs: [Int]
    }

    /// The nodes in the order they were given.
    public let nodes: [Node]
    /// Node index by name.
    public let index: [String: Int]
    /// The registry the ops came from.
    public let registry: OpRegistry
    /// The functions the graph's functional ops call; `nil` when its GraphDef had no library.
    public let functions: FunctionLibrary?

    /// Loads NodeDefs: inputs naming missing nodes or outputs, wrong input counts, and
    /// duplicate names are each an error naming the node. Ops Weft lacks are one
    /// `unimplemented` error listing every missing op type, so a user sees the whole gap at once.
    /// `functions` is the GraphDef's function library, which functional ops call. With
    /// `lowersLoops`, functional loops TensorFlow marks for lowering become dataflow loops
    /// (`WhileLowering`), as TensorFlow's runtime runs them; the graph a session runs is lowered,
    /// the one a coordinator places is not, so each loop stays whole on one worker.
    public init(
        nodes defs: [Tensorflow_NodeDef],
        registry: OpRegistry = .standard,
        functions: FunctionLibrary? = nil,
        lowersLoops: Bool = false
    ) throws(WeftError) {
        try Self.checkOpsExist(defs, registry: registry)
        let defs = lowersLoops ? try WhileLowering.lower(defs, functions: functions) : defs
        var index: [String: Int] = [:]
        index.reserveCapacity(defs.count)
        let infos = try defs.map { (def) throws(WeftError) in
            var info = try NodeInfo(def)
            info.functions = functions
            return info
        }
        for (position, info) in infos.enumerated() {
            guard index.updateValue(position, forKey: info.name) == nil else {
                throw WeftError(.invalidArgument, "the graph has two nodes named '\(info.name)'")
            }
        }
        // Output types need the producers' types first; resolve in dependency order with a
        // memo, so any node order in the GraphDef works and a data cycle is reported, not looped.
        var resolver = TypeResolver(infos: infos, index: index, registry: registry)
        var nodes: [Node] = []
        nodes.reserveCapacity(infos.count)
        for position in infos.indices {
            nodes.append(try resolver.node(position))
        }
        self.nodes = nodes
        self.index = index
        self.registry = registry
        self.functions = functions
    }

    private static func checkOpsExist(_ defs: [Tensorflow_NodeDef], registry: OpRegistry) throws(WeftError) {
        let known = Set(registry.opNames)
        var missing: [String: (count: Int, example: String)] = [:]
        for def in defs where !known.contains(def.op) {
            missing[def.op, default: (0, def.name)].count += 1
        }
        guard !missing.isEmpty else { return }
        let list = missing.keys.sorted().map { op in
            let (count, example) = missing[op] ?? (0, "")
            return count == 1 ? "\(op) (node '\(example)')" : "\(op) (\(count) nodes, e.g. '\(example)')"
        }
        throw WeftError(
            .unimplemented,
            "the graph uses \(missing.count) op type\(missing.count == 1 ? "" : "s") Weft does not implement: \(list.joined(separator: ", "))"
        )
    }

    /// The node named `name`, or a `notFound` error.
    public func node(named name: String) throws(WeftError) -> Int {
        guard let position = index[name] else {
            throw WeftError(.notFound, "there is no node named '\(name)' in the graph")
        }
        return position
    }

    /// Whether data input `input` of `node` is a loop's back edge (`NextIteration` into `Merge`),
    /// which orderings of the graph leave out: it is the one edge of a loop's cycle.
    public func closesLoop(_ node: Int, input: Int) -> Bool {
        let producer = nodes[node].dataInputs[input].node
        return ControlFlowKind.closesLoop(consumer: nodes[node].info.op, producer: nodes[producer].info.op)
    }

    /// Resolves a tensor name to its producer and checks the output exists.
    public func resolve(_ name: TensorName) throws(WeftError) -> (node: Int, output: Int) {
        guard let position = index[name.node] else {
            throw WeftError(
                .notFound,
                "the tensor '\(name)' does not exist: the graph has no node named '\(name.node)'"
            )
        }
        let outputs = nodes[position].outputTypes.count
        guard name.index < outputs else {
            throw WeftError(
                .notFound,
                "the tensor '\(name)' does not exist: node '\(name.node)' (\(nodes[position].info.op)) has \(outputs) output\(outputs == 1 ? "" : "s")"
            )
        }
        return (position, name.index)
    }
}

/// Computes nodes' output types in dependency order, detecting data-edge cycles.
private struct TypeResolver {
    let infos: [NodeInfo]
    let index: [String: Int]
    let registry: OpRegistry
    var done: [Int: RuntimeGraph.Node] = [:]
    var visiting: Set<Int> = []

    init(infos: [NodeInfo], index: [String: Int], registry: OpRegistry) {
        self.infos = infos
        self.index = index
        self.registry = registry
    }

    mutating func node(_ root: Int) throws(WeftError) -> RuntimeGraph.Node {
        if let node = done[root] { return node }
        // An explicit stack: deep chains (100,000 nodes) must not overflow the thread's stack.
        var stack: [Int] = [root]
        while let current = stack.last {
            if done[current] != nil {
                stack.removeLast()
                continue
            }
            let pending = try unresolvedProducers(of: current)
            if pending.isEmpty {
                done[current] = try build(current)
                visiting.remove(current)
                stack.removeLast()
            } else {
                visiting.insert(current)
                for producer in pending {
                    guard !visiting.contains(producer) else {
                        throw WeftError(
                            .invalidArgument,
                            "Graph is invalid, contains a cycle: node '\(infos[producer].name)' depends on itself through '\(infos[current].name)'"
                        )
                    }
                    stack.append(producer)
                }
            }
        }
        return done[root]!  // the loop above resolved it
    }

    private func producer(_ name: String, of node: Int) throws(WeftError) -> Int {
        guard let position = index[name] else {
            throw WeftError(
                .invalidArgument,
                "node '\(infos[node].name)' has an input from '\(name)', which is not in the graph"
            )
        }
        return position
    }

    private func unresolvedProducers(of node: Int) throws(WeftError) -> [Int] {
        var result: [Int] = []
        for input in infos[node].dataInputs {
            let position = try producer(input.node, of: node)
            // A loop's back edge: the Merge's type comes from its entry, the cycle is the loop.
            if ControlFlowKind.closesLoop(consumer: infos[node].op, producer: infos[position].op) { continue }
            if done[position] == nil { result.append(position) }
        }
        return result
    }

    private func build(_ position: Int) throws(WeftError) -> RuntimeGraph.Node {
        let info = infos[position]
        let definition = try registry.definition(of: info.op, node: info.name)
        let dataNames = info.dataInputs
        if let expected = definition.inputCount, expected != dataNames.count {
            throw WeftError(
                .invalidArgument,
                "node '\(info.name)' (\(info.op)) has \(dataNames.count) data inputs but \(info.op) takes \(expected)"
            )
        }
        var dataInputs: [(node: Int, output: Int)] = []
        var inputTypes: [OutputType] = []
        for (slot, name) in dataNames.enumerated() {
            let producer = try producer(name.node, of: position)
            guard let types = done[producer]?.outputTypes ?? inputTypes.first.map({ [$0] }) else {
                // Only a loop's back edge into a Merge is unresolved here (see unresolvedProducers).
                throw WeftError(.invalidArgument, "Merge '\(info.name)' has no input from outside its loop")
            }
            guard name.index < types.count else {
                throw WeftError(
                    .invalidArgument,
                    "node '\(info.name)' reads output \(name.index) of '\(name.node)', which has \(types.count) outputs"
                )
            }
            if definition.refInputs.contains(slot) && !types[name.index].isRef {
                throw WeftError(
                    .invalidArgument,
                    "node '\(info.name)' (\(info.op)) needs a variable as input \(slot), but '\(name)' is not one"
                )
            }
            dataInputs.append((producer, name.index))
            inputTypes.append(types[name.index])
        }
        let controlInputs = try info.controlInputs.map { (name) throws(WeftError) in try producer(name, of: position) }
        let outputTypes = try definition.outputTypes(info, inputTypes)
        return RuntimeGraph.Node(
            info: info,
            definition: definition,
            outputTypes: outputTypes,
            dataInputs: dataInputs,
            controlInputs: controlInputs
        )
    }
}
