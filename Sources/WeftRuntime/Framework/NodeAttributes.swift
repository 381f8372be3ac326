import WeftProto

/// A node's attributes (`T`, `dtype`, `value`, …) with typed accessors that throw a clear
/// error naming the node when an attribute is missing or of the wrong kind.
public struct NodeAttributes: Sendable {
    /// The raw attributes, as in the NodeDef.
    public var values: [String: Tensorflow_AttrValue]
    /// The node's name, for error messages.
    public var node: String

    /// Wraps a NodeDef's attribute map.
    public init(_ values: [String: Tensorflow_AttrValue], node: String) {
        self.values = values
        self.node = node
    }

    private func missing(_ key: String, _ kind: String) -> WeftError {
        WeftError(.invalidArgument, "node '\(node)' needs a \(kind) attribute '\(key)'")
    }

    /// Whether the attribute is present.
    public func has(_ key: String) -> Bool { values[key] != nil }

    /// A `type` attribute.
    public func type(_ key: String) throws(WeftError) -> DType {
        guard case .type(let type)? = values[key]?.value else { throw missing(key, "type") }
        return try DType(type)
    }

    /// A `bool` attribute, or `default` when absent.
    public func bool(_ key: String, default value: Bool) throws(WeftError) -> Bool {
        guard let attr = values[key] else { return value }
        guard case .b(let flag)? = attr.value else { throw missing(key, "bool") }
        return flag
    }

    /// An `int` attribute, or `default` when absent.
    public func int(_ key: String, default value: Int? = nil) throws(WeftError) -> Int {
        guard let attr = values[key] else {
            guard let value else { throw missing(key, "int") }
            return value
        }
        guard case .i(let int)? = attr.value else { throw missing(key, "int") }
        return Int(int)
    }

    /// The most outputs an attribute may give a node (`num_split`, `num`, `num_partitions`):
    /// the count comes from a GraphDef and sizes the node's output list as the graph is loaded.
    public static let maxOutputCount = 1 << 16

    /// An `int` attribute that counts the node's outputs, checked to lie in
    /// `minimum...maxOutputCount` before anything is sized by it.
    public func outputCount(_ key: String, minimum: Int) throws(WeftError) -> Int {
        let count = try int(key)
        guard count >= minimum, count <= Self.maxOutputCount else {
            throw WeftError(
                .invalidArgument,
                "node '\(node)': attribute \(key) must be from \(minimum) to \(Self.maxOutputCount), got \(count)"
            )
        }
        return count
    }

    /// A `string` attribute, or `default` when absent.
    public func string(_ key: String, default value: String? = nil) throws(WeftError) -> String {
        guard let attr = values[key] else {
            guard let value else { throw missing(key, "string") }
            return value
        }
        guard case .s(let bytes)? = attr.value else { throw missing(key, "string") }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A `list(int)` attribute, or `default` when absent.
    public func ints(_ key: String, default value: [Int]? = nil) throws(WeftError) -> [Int] {
        guard let attr = values[key] else {
            guard let value else { throw missing(key, "list(int)") }
            return value
        }
        guard case .list(let list)? = attr.value else { throw missing(key, "list(int)") }
        return list.i.map(Int.init)
    }

    /// A `list(string)` attribute; empty when absent.
    public func strings(_ key: String) -> [String] {
        guard case .list(let list)? = values[key]?.value else { return [] }
        return list.s.map { String(decoding: $0, as: UTF8.self) }
    }

    /// A `shape` attribute, or an unknown shape when absent.
    public func shape(_ key: String) throws(WeftError) -> PartialShape {
        guard let attr = values[key] else { return .unknown }
        guard case .shape(let shape)? = attr.value else { throw missing(key, "shape") }
        return PartialShape(shape)
    }

    /// A `tensor` attribute.
    public func tensor(_ key: String) throws(WeftError) -> Tensor {
        guard case .tensor(let proto)? = values[key]?.value else { throw missing(key, "tensor") }
        do {
            return try Tensor(proto: proto)
        } catch {
            throw WeftError(error.code, "node '\(node)' attribute '\(key)': \(error.message)")
        }
    }
}

/// A node parsed from its NodeDef once, when a graph is loaded into the runtime.
public struct NodeInfo: Sendable {
    /// The node's unique name.
    public var name: String
    /// The op name, TensorFlow's (`MatMul`).
    public var op: String
    /// The requested or assigned device, `/job:ps/task:0`, or empty.
    public var device: String
    /// Data inputs in order, then control inputs.
    public var inputs: [NodeInput]
    /// The attributes.
    public var attributes: NodeAttributes
    /// The function library of the graph the node belongs to, set by `RuntimeGraph`; kernels of
    /// functional ops (`If`, `While`, `PartitionedCall`) find the functions they call in it.
    public var functions: FunctionLibrary?

    /// Parses a NodeDef.
    public init(_ def: Tensorflow_NodeDef) throws(WeftError) {
        guard !def.name.isEmpty else { throw WeftError(.invalidArgument, "a node has an empty name") }
        name = def.name
        op = def.op
        device = def.device
        var inputs: [NodeInput] = []
        inputs.reserveCapacity(def.input.count)
        for text in def.input {
            do {
                inputs.append(try NodeInput(parsing: text))
            } catch {
                throw WeftError(.invalidArgument, "node '\(def.name)': \(error.message)")
            }
        }
        self.inputs = inputs
        attributes = NodeAttributes(def.attr, node: def.name)
    }

    /// The data inputs, in order.
    public var dataInputs: [TensorName] {
        inputs.compactMap { if case .data(let name) = $0 { name } else { nil } }
    }

    /// The nodes this one must run after.
    public var controlInputs: [String] {
        inputs.compactMap { if case .control(let node) = $0 { node } else { nil } }
    }
}
