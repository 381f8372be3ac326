import WeftProto
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
    /// What runs the steps: a local executor, or a cluster's client (whose own properties,
    /// such as a shared container's token, WeftCluster reads from it).
    public let backend: any SessionBackend

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
    @discardableResult
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
        try execute(StepRequest(fetches: fetches, feeds: feeds, targets: targets, collectStatistics: false)).values
    }

    /// Runs one step by names and fills `metadata` with what it did: every node's device and
    /// time, and the tensors workers pushed to each other (TensorFlow's `run_metadata`).
    public func run(
        fetches: [String],
        feeds: [String: Tensor] = [:],
        targets: [String] = [],
        metadata: inout RunMetadata
    ) throws(WeftError) -> [Tensor] {
        let result = try execute(StepRequest(fetches: fetches, feeds: feeds, targets: targets, collectStatistics: true))
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
        let request = try StepRequest(fetches, feeding: feeds, targets: targets, graph: graph, collectStatistics: false)
        return try execute(request).values
    }

    /// Fetches several values in one step and fills `metadata` with what the step did.
    @discardableResult
    public func run(
        _ fetches: [any Fetchable],
        feeding feeds: [Output: Tensor] = [:],
        targets: [Operation] = [],
        metadata: inout RunMetadata
    ) throws(WeftError) -> [Tensor] {
        let request = try StepRequest(fetches, feeding: feeds, targets: targets, graph: graph, collectStatistics: true)
        let result = try execute(request)
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

    private func execute(_ request: StepRequest) throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?) {
        if let error = graph.buildError { throw error }
        return try backend.run(
            feeds: request.feeds,
            fetches: request.fetches,
            targets: request.targets,
            collectStatistics: request.collectStatistics
        )
    }
}

/// Every form of `run` awaited: the step runs without holding the caller's thread (a remote step
/// waits for its reply on the transport's thread, a local one runs on its own thread and the
/// kernel pool). Cancelling the awaiting task ends the step with `cancelled`; the session serves
/// later steps. In an asynchronous context Swift picks these forms, so write `try await`.
extension Session {
    /// Runs one step by tensor and node names, awaiting it.
    public func run(
        fetches: [String],
        feeds: [String: Tensor] = [:],
        targets: [String] = []
    ) async throws(WeftError) -> [Tensor] {
        let request = try StepRequest(fetches: fetches, feeds: feeds, targets: targets, collectStatistics: false)
        return try await execute(request).values
    }

    /// Runs one step by names, awaiting it, and fills `metadata` with what it did.
    public func run(
        fetches: [String],
        feeds: [String: Tensor] = [:],
        targets: [String] = [],
        metadata: inout RunMetadata
    ) async throws(WeftError) -> [Tensor] {
        let request = try StepRequest(fetches: fetches, feeds: feeds, targets: targets, collectStatistics: true)
        let result = try await execute(request)
        metadata.stepStatistics = result.statistics ?? StepStatistics()
        return result.values
    }

    /// Fetches several values in one step, awaiting it.
    @discardableResult
    public func run(
        _ fetches: [any Fetchable],
        feeding feeds: [Output: Tensor] = [:],
        targets: [Operation] = []
    ) async throws(WeftError) -> [Tensor] {
        let request = try StepRequest(fetches, feeding: feeds, targets: targets, graph: graph, collectStatistics: false)
        return try await execute(request).values
    }

    /// Fetches several values in one step, awaiting it, and fills `metadata` with what it did.
    @discardableResult
    public func run(
        _ fetches: [any Fetchable],
        feeding feeds: [Output: Tensor] = [:],
        targets: [Operation] = [],
        metadata: inout RunMetadata
    ) async throws(WeftError) -> [Tensor] {
        let request = try StepRequest(fetches, feeding: feeds, targets: targets, graph: graph, collectStatistics: true)
        let result = try await execute(request)
        metadata.stepStatistics = result.statistics ?? StepStatistics()
        return result.values
    }

    /// Fetches one value, awaiting the step.
    @discardableResult
    public func run(_ fetch: any Fetchable, feeding feeds: [Output: Tensor] = [:]) async throws(WeftError) -> Tensor {
        try await run([fetch], feeding: feeds)[0]
    }

    /// Fetches a dictionary of values, keyed as given, awaiting the step.
    public func run<Key: Hashable>(
        _ fetches: [Key: any Fetchable],
        feeding feeds: [Output: Tensor] = [:]
    ) async throws(WeftError) -> [Key: Tensor] {
        let keys = Array(fetches.keys)
        let values = try await run(keys.map { fetches[$0]! }, feeding: feeds)
        return Dictionary(uniqueKeysWithValues: zip(keys, values))
    }

    /// Runs operations for their effects only, awaiting the step.
    public func run(_ targets: Operation..., feeding feeds: [Output: Tensor] = [:]) async throws(WeftError) {
        try await run([], feeding: feeds, targets: targets)
    }

    private func execute(_ request: StepRequest) async throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?) {
        if let error = graph.buildError { throw error }
        return try await backend.run(
            feeds: request.feeds,
            fetches: request.fetches,
            targets: request.targets,
            collectStatistics: request.collectStatistics
        )
    }
}

/// One step's names resolved from the typed or the string form of `run`, shared by its
/// synchronous and asynchronous forms.
struct StepRequest {
    var feeds: [(TensorName, Tensor)]
    var fetches: [TensorName]
    var targets: [String]
    var collectStatistics: Bool

    /// Resolves outputs of `graph`; an output of another graph is `invalidArgument`.
    init(
        _ fetches: [any Fetchable],
        feeding feeds: [Output: Tensor],
        targets: [Operation],
        graph: Graph,
        collectStatistics: Bool
    ) throws(WeftError) {
        var names: [TensorName] = []
        names.reserveCapacity(fetches.count)
        for fetch in fetches {
            let output = fetch.fetchedOutput
            try Self.check(output, graph)
            names.append(output.tensorName)
        }
        for output in feeds.keys { try Self.check(output, graph) }
        self.feeds = feeds.isEmpty ? [] : feeds.sorted { $0.key.name < $1.key.name }.map { ($0.key.tensorName, $0.value) }
        self.fetches = names
        self.targets = targets.map(\.name)
        self.collectStatistics = collectStatistics
    }

    private static func check(_ output: Output, _ graph: Graph) throws(WeftError) {
        guard output.graph === graph else {
            throw WeftError(.invalidArgument, "the tensor '\(output)' belongs to another graph than this session's")
        }
    }

    /// Parses tensor names; a malformed one is `invalidArgument`.
    init(fetches: [String], feeds: [String: Tensor], targets: [String], collectStatistics: Bool) throws(WeftError) {
        self.feeds = try feeds.sorted { $0.key < $1.key }.map { (entry) throws(WeftError) in
            (try TensorName(parsing: entry.key), entry.value)
        }
        self.fetches = try fetches.map { (name) throws(WeftError) in try TensorName(parsing: name) }
        self.targets = targets
        self.collectStatistics = collectStatistics
    }
}

/// What a step did, filled in by `run(…, metadata:)`: TensorFlow's `RunMetadata`.
public struct RunMetadata: Sendable {
    /// Every node's device and time, and the tensors pushed between workers.
    public var stepStatistics = StepStatistics()
    /// The graph each device ran, after pruning and the session's optimizations: one for a
    /// local session, one per worker on a cluster (TensorFlow's `partition_graphs`).
    public var partitionGraphs: [Tensorflow_GraphDef] { stepStatistics.partitionGraphs }

    /// Empty metadata, to pass to `run`.
    public init() {}
}
