import Synchronization
import WeftProto
import WeftRuntime

/// A description of a computation: nodes (operations) and the edges between them.
///
/// A graph computes nothing and holds no values; sessions run it. It owns naming (unique
/// names, name scopes), devices, colocation and control dependencies, so no code outside the
/// op builders writes a NodeDef. Graphs only grow: a session notices nodes added after it
/// started and runs them too.
///
/// Building never throws, so expressions read naturally (`a + b`). A node that cannot be
/// built (mismatched dtypes, an unknown op) is recorded, and `buildError` or the first
/// `Session.run` reports it.
public final class Graph: Sendable {
    struct Storage {
        var nodes: [Tensorflow_NodeDef] = []
        var index: [String: Int] = [:]
        var outputTypes: [[OutputType]] = []
        /// TensorFlow's `_names_in_use`: lowercased name → next suffix.
        var namesInUse: [String: Int] = [:]
        var variableInitializers: [String] = []
        var errors: [WeftError] = []
        /// What an imported GraphDef carried besides nodes, kept so an export drops nothing.
        var versions: Tensorflow_VersionDef?
        var library = Tensorflow_FunctionDefLibrary()
        var debugInfo: Tensorflow_GraphDebugInfo?
    }

    let storage = Mutex(Storage())
    /// The ops this graph may use.
    public let registry: OpRegistry

    /// Makes an empty graph.
    public init(registry: OpRegistry = .standard) {
        self.registry = registry
    }

    /// The graph ops are added to outside any `asDefault` block.
    public static let global = Graph()

    @TaskLocal static var scopedDefault: Graph?

    /// The current default graph: the innermost `asDefault` graph of this task, else `global`.
    public static var current: Graph { scopedDefault ?? global }

    /// Makes this graph the default for the ops built in `body` (task-local, like TensorFlow's
    /// `with graph.as_default():`).
    public func asDefault<R>(_ body: () throws -> R) rethrows -> R {
        try Graph.$scopedDefault.withValue(self) { try body() }
    }

    /// The number of nodes; it grows as nodes are added and serves as the graph's version.
    public var nodeCount: Int { storage.withLock { $0.nodes.count } }

    /// The first error met while building, if any.
    public var buildError: WeftError? { storage.withLock { $0.errors.first } }

    /// The operation named `name`, if there is one.
    public func operation(named name: String) -> Operation? {
        storage.withLock { $0.index[name] }.map { _ in Operation(graph: self, name: name) }
    }

    /// The tensor named `node:index` (or `node` for output 0), or a `notFound` error.
    public func tensor(named text: String) throws(WeftError) -> Output {
        let name = try TensorName(parsing: text)
        guard let types = storage.withLock({ storage in storage.index[name.node].map { storage.outputTypes[$0] } })
        else {
            throw WeftError(
                .notFound,
                "the tensor '\(text)' does not exist: the graph has no node named '\(name.node)'"
            )
        }
        guard name.index < types.count else {
            throw WeftError(.notFound, "the tensor '\(text)' does not exist: '\(name.node)' has \(types.count) outputs")
        }
        return Output(
            operation: Operation(graph: self, name: name.node),
            index: name.index,
            dtype: types[name.index].dtype
        )
    }

    /// The NodeDefs from position `start` on, with the node count they end at.
    func nodes(from start: Int = 0) -> (nodes: [Tensorflow_NodeDef], count: Int) {
        storage.withLock { storage in (Array(storage.nodes[min(start, storage.nodes.count)...]), storage.nodes.count) }
    }

    func node(named name: String) -> Tensorflow_NodeDef? {
        storage.withLock { storage in storage.index[name].map { storage.nodes[$0] } }
    }

    /// A name not yet used in this graph, following TensorFlow's rule: `add`, `add_1`, `add_2`.
    func uniqueName(_ name: String) -> String {
        storage.withLock { Self.uniqueName(name, in: &$0) }
    }

    static func uniqueName(_ name: String, in storage: inout Storage) -> String {
        let key = name.lowercased()
        let count = storage.namesInUse[key, default: 0]
        storage.namesInUse[key] = count + 1
        guard count > 0 else { return name }
        var suffix = count
        var candidate = "\(key)_\(suffix)"
        while storage.namesInUse[candidate] != nil {
            suffix += 1
            candidate = "\(key)_\(suffix)"
        }
        storage.namesInUse[candidate] = 1
        return "\(name)_\(suffix)"
    }

    /// Adds a node: the op builders' single way in. Type errors are recorded, not thrown.
    func addNode(_ node: Tensorflow_NodeDef, inputTypes: [OutputType]) -> Operation {
        var types: [OutputType] = []
        var failure: WeftError?
        do throws(WeftError) {
            let info = try NodeInfo(node)
            let definition = try registry.definition(of: node.op, node: node.name)
            types = try definition.outputTypes(info, inputTypes)
        } catch {
            failure = WeftError(error.code, "while building node '\(node.name)' (\(node.op)): \(error.message)")
        }
        storage.withLock { storage in
            // Imported nodes were not named by `uniqueName`; mark their names used all the same.
            if storage.namesInUse[node.name.lowercased()] == nil { storage.namesInUse[node.name.lowercased()] = 1 }
            storage.index[node.name] = storage.nodes.count
            storage.nodes.append(node)
            storage.outputTypes.append(types)
            if let failure { storage.errors.append(failure) }
        }
        return Operation(graph: self, name: node.name)
    }

    /// Points data input `position` of node `name` at `tensor`: how a while loop closes its
    /// cycle, since its `Merge` is built before the `NextIteration` that feeds it.
    func replaceInput(of name: String, at position: Int, with tensor: Output) {
        storage.withLock { storage in
            guard let index = storage.index[name], storage.nodes[index].input.indices.contains(position) else { return }
            storage.nodes[index].input[position] =
                tensor.index == 0 ? tensor.operation.name : "\(tensor.operation.name):\(tensor.index)"
        }
    }

    func outputTypes(of name: String) -> [OutputType] {
        storage.withLock { storage in storage.index[name].map { storage.outputTypes[$0] } ?? [] }
    }

    func recordError(_ error: WeftError) {
        storage.withLock { $0.errors.append(error) }
    }

    /// `value` as a tensor; a value that cannot be one (a ragged array literal) is recorded as
    /// this graph's build error and stands in as an empty tensor.
    func tensor(of value: some TensorConvertible) -> Tensor {
        do throws(WeftError) {
            return try value.tensor
        } catch {
            recordError(error)
            return Tensor([Float]())
        }
    }

    func recordVariable(initializer: String) {
        storage.withLock { $0.variableInitializers.append(initializer) }
    }

    /// The initializers of the variables built in this graph, in creation order.
    var variableInitializers: [String] { storage.withLock { $0.variableInitializers } }
}
