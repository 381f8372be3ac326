import WeftRuntime

/// Something a session can fetch: an `Output`, or a `Variable` (its current value).
public protocol Fetchable {
    /// The tensor to fetch.
    var fetchedOutput: Output { get }
}

extension Output: Fetchable {
    /// Itself.
    public var fetchedOutput: Output { self }
}

extension Variable: Fetchable {
    /// The variable's value, as in TensorFlow: the reference `name:0`, or a resource variable's read.
    public var fetchedOutput: Output { isResource ? value : output }
}

/// Runs a graph, or the part of it a step needs, and owns every value it computes: the
/// intermediate tensors of each step and the variables, which live as long as the session.
///
/// Sessions on one graph never share state. A session may be local (`Session(graph:)`) or run
/// on a cluster (`Session(target:graph:)` from WeftCluster); the API is the same.
public final class Session: Sendable {
    /// The graph this session runs.
    public let graph: Graph
    private let backend: any SessionBackend

    /// Makes a session that runs `graph` in this process, applying `optimizations` (constant
    /// folding by default, as TensorFlow's Grappler; `.none` runs every node as written).
    public convenience init(graph: Graph = .current, optimizations: GraphOptimizations = .default) {
        self.init(graph: graph, backend: LocalSessionBackend(graph: graph, optimizations: optimizations))
    }

    /// Makes a session on any backend; WeftCluster uses this for remote sessions.
    public init(graph: Graph, backend: any SessionBackend) {
        self.graph = graph
        self.backend = backend
    }

    deinit { backend.close() }

    /// Frees the session's state; later runs throw `failedPrecondition`.
    public func close() { backend.close() }

    /// Runs `body` with this session and closes it afterwards.
    public func run<R>(_ body: (Session) throws -> R) rethrows -> R {
        defer { close() }
        return try body(self)
    }

    /// Runs one step by tensor and node names: the form GraphDef-level tools use.
    public func run(
        fetches: [String],
        feeds: [String: Tensor] = [:],
        targets: [String] = []
    ) throws(WeftError) -> [Tensor] {
        try execute(fetches: fetches, feeds: feeds, targets: targets, collectStatistics: false).values
    }

    /// Runs one step by names and fills `metadata` with what it did: every node's device and
    /// time, and the tensors workers pushed to each other (TensorFlow's `run_metadata`).
    public func run(
        fetches: [String],
        feeds: [String: Tensor] = [:],
        targets: [String] = [],
        metadata: inout RunMetadata
    ) throws(WeftError) -> [Tensor] {
        let result = try execute(fetches: fetches, feeds: feeds, targets: targets, collectStatistics: true)
        metadata.stepStatistics = result.statistics ?? StepStatistics()
        return result.values
    }

    /// Fetches several values in one step, feeding `feeds` and running `targets` too.
    @discardableResult
    public func run(
        _ fetches: [any Fetchable],
        feeding feeds: [Output: Tensor] = [:],
        targets: [Operation] = []
    ) throws(WeftError) -> [Tensor] {
        try execute(fetches, feeding: feeds, targets: targets, collectStatistics: false).values
    }

    /// Fetches several values in one step and fills `metadata` with what the step did.
    @discardableResult
    public func run(
        _ fetches: [any Fetchable],
        feeding feeds: [Output: Tensor] = [:],
        targets: [Operation] = [],
        metadata: inout RunMetadata
    ) throws(WeftError) -> [Tensor] {
        let result = try execute(fetches, feeding: feeds, targets: targets, collectStatistics: true)
        metadata.stepStatistics = result.statistics ?? StepStatistics()
        return result.values
    }

    /// Fetches one value.
    @discardableResult
    public func run(_ fetch: any Fetchable, feeding feeds: [Output: Tensor] = [:]) throws(WeftError) -> Tensor {
        try run([fetch], feeding: feeds)[0]
    }

    /// Fetches a dictionary of values, keyed as given.
    public func run<Key: Hashable>(
        _ fetches: [Key: any Fetchable],
        feeding feeds: [Output: Tensor] = [:]
    ) throws(WeftError) -> [Key: Tensor] {
        let keys = Array(fetches.keys)
        let values = try run(keys.map { fetches[$0]! }, feeding: feeds)
        return Dictionary(uniqueKeysWithValues: zip(keys, values))
    }

    /// Runs operations for their effects only.
    public func run(_ targets: Operation..., feeding feeds: [Output: Tensor] = [:]) throws(WeftError) {
        try run([], feeding: feeds, targets: targets)
    }

    private func execute(
        _ fetches: [any Fetchable],
        feeding feeds: [Output: Tensor],
        targets: [Operation],
        collectStatistics: Bool
    ) throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?) {
        let outputs = fetches.map(\.fetchedOutput)
        for output in outputs + Array(feeds.keys) where output.graph !== graph {
            throw WeftError(.invalidArgument, "the tensor '\(output)' belongs to another graph than this session's")
        }
        let feedList = feeds.sorted { $0.key.name < $1.key.name }.map { ($0.key.tensorName, $0.value) }
        return try execute(
            feeds: feedList,
            fetches: outputs.map(\.tensorName),
            targets: targets.map(\.name),
            collectStatistics: collectStatistics
        )
    }

    private func execute(
        fetches: [String],
        feeds: [String: Tensor],
        targets: [String],
        collectStatistics: Bool
    ) throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?) {
        let feedNames = try feeds.keys.sorted().map { (name) throws(WeftError) in
            (try TensorName(parsing: name), feeds[name]!)
        }
        let fetchNames = try fetches.map { (name) throws(WeftError) in try TensorName(parsing: name) }
        return try execute(
            feeds: feedNames,
            fetches: fetchNames,
            targets: targets,
            collectStatistics: collectStatistics
        )
    }

    private func execute(
        feeds: [(TensorName, Tensor)],
        fetches: [TensorName],
        targets: [String],
        collectStatistics: Bool
    ) throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?) {
        if let error = graph.buildError { throw error }
        return try backend.run(feeds: feeds, fetches: fetches, targets: targets, collectStatistics: collectStatistics)
    }
}

/// What a step did, filled in by `run(…, metadata:)`: TensorFlow's `RunMetadata`.
public struct RunMetadata: Sendable {
    /// Every node's device and time, and the tensors pushed between workers.
    public var stepStatistics = StepStatistics()

    /// Empty metadata, to pass to `run`.
    public init() {}
}
