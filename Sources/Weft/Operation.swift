import WeftProto
import WeftRuntime

/// A node of a graph, by name. Running an operation as a target runs it for its effects.
public struct Operation: Sendable, Hashable, CustomStringConvertible {
    /// The graph holding the node.
    public let graph: Graph
    /// The node's unique name.
    public let name: String

    /// The op type, TensorFlow's name (`AddV2`).
    public var type: String { graph.node(named: name)?.op ?? "" }
    /// The requested device, or empty.
    public var device: String { graph.node(named: name)?.device ?? "" }
    /// The NodeDef.
    public var nodeDef: Tensorflow_NodeDef { graph.node(named: name) ?? Tensorflow_NodeDef() }

    /// The node's `_class` colocation groups, or its own name when it has none.
    public var colocationGroups: [String] {
        let groups = NodeAttributes(nodeDef.attr, node: name).strings("_class")
            .filter { $0.hasPrefix("loc:@") }.map { String($0.dropFirst(5)) }
        return groups.isEmpty ? [name] : groups
    }

    /// Output `index` of this operation.
    public func output(_ index: Int = 0) -> Output {
        Output(operation: self, index: index, dtype: graph.outputTypes(of: name)[safe: index]?.dtype ?? .float)
    }

    /// The node's name.
    public var description: String { name }

    /// Same graph and name.
    public static func == (lhs: Operation, rhs: Operation) -> Bool { lhs.graph === rhs.graph && lhs.name == rhs.name }

    /// Hashes the graph's identity and the name.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(ObjectIdentifier(graph))
        hasher.combine(name)
    }
}

/// One output of an operation: a symbolic tensor, `node:index`, that a session can fetch or feed.
public struct Output: Sendable, Hashable, CustomStringConvertible {
    /// The producing operation.
    public let operation: Operation
    /// Which of its outputs.
    public let index: Int
    /// The element type.
    public let dtype: DType

    /// `node:index`.
    public var name: String { "\(operation.name):\(index)" }
    /// `node:index`.
    public var description: String { name }
    /// The tensor's name as the runtime takes it.
    public var tensorName: TensorName { TensorName(node: operation.name, index: index) }
    /// The graph holding the producing node.
    public var graph: Graph { operation.graph }
}
