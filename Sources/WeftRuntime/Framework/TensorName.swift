/// The name of one output of a node, `node:index`, as TensorFlow writes it (`foo:0`).
public struct TensorName: Sendable, Hashable, CustomStringConvertible {
    /// The node's name.
    public var node: String
    /// The output index.
    public var index: Int

    /// Names output `index` of `node`.
    public init(node: String, index: Int) {
        self.node = node
        self.index = index
    }

    /// Parses `node:3`, or `node` for output 0. Rejects control inputs (`^node`).
    public init(parsing text: String) throws(WeftError) {
        guard !text.isEmpty, !text.hasPrefix("^") else {
            throw WeftError(.invalidArgument, "'\(text)' is not a tensor name; tensor names look like 'node:0'")
        }
        if let colon = text.lastIndex(of: ":"), let index = Int(text[text.index(after: colon)...]), index >= 0 {
            self.init(node: String(text[..<colon]), index: index)
        } else {
            self.init(node: text, index: 0)
        }
    }

    /// `node:index`.
    public var description: String { "\(node):\(index)" }
}

/// One entry of a NodeDef's `input` list: a data input `node:index` or a control input `^node`.
public enum NodeInput: Sendable, Hashable {
    /// A data edge from an output of another node.
    case data(TensorName)
    /// A control edge: run after that node.
    case control(String)

    /// Parses a NodeDef input string.
    public init(parsing text: String) throws(WeftError) {
        if text.hasPrefix("^") {
            let node = String(text.dropFirst())
            guard !node.isEmpty else { throw WeftError(.invalidArgument, "empty control input '^'") }
            self = .control(node)
        } else {
            self = .data(try TensorName(parsing: text))
        }
    }

    /// The producing node's name.
    public var node: String {
        switch self {
        case .data(let name): name.node
        case .control(let node): node
        }
    }

    /// The NodeDef form: `node`, `node:1` or `^node`.
    public var text: String {
        switch self {
        case .data(let name): name.index == 0 ? name.node : name.description
        case .control(let node): "^" + node
        }
    }
}
