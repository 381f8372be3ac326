import Weft
import WeftCluster
import WeftPlacement
import WeftRuntime

/// A benchmark graph: what to build and how to run one step of it.
///
/// A workload is a recipe, not a graph: `build()` makes a fresh graph every time, so each
/// benchmark (and each test) starts from the same seeded graph and no two share nodes.
public struct Workload: Sendable {
    /// The generator's name (`chain`, `mlp`, or the file name of a GraphDef).
    public var name: String
    /// The knobs it was made with, for reports: `length=1000 width=16 seed=1`.
    public var parameters: String
    /// Builds the graph and says how to run it.
    public var build: @Sendable () throws(WeftError) -> BuiltWorkload

    /// Makes a workload from a builder.
    public init(name: String, parameters: String, build: @escaping @Sendable () throws(WeftError) -> BuiltWorkload) {
        self.name = name
        self.parameters = parameters
        self.build = build
    }
}

/// A built workload: the graph, and the step the benchmark repeats.
public struct BuiltWorkload: Sendable {
    /// The graph.
    public var graph: Graph
    /// Values fed to placeholders at every step, by tensor name (`x:0`).
    public var feeds: [String: Tensor]
    /// Tensors every step fetches; their values are compared with a local session's.
    public var fetches: [String]
    /// Nodes every step runs for their effects only.
    public var targets: [String]
    /// Nodes run once before the first step, like `init` for variables.
    public var initializers: [String]

    /// Describes a built workload.
    public init(
        graph: Graph,
        feeds: [String: Tensor] = [:],
        fetches: [String],
        targets: [String] = [],
        initializers: [String] = []
    ) {
        self.graph = graph
        self.feeds = feeds
        self.fetches = fetches
        self.targets = targets
        self.initializers = initializers
    }
}

extension SplitMix64 {
    /// A float tensor of `shape` with values uniform in `range`.
    mutating func uniform(_ shape: [Int], in range: ClosedRange<Float>) -> Tensor {
        let count = shape.reduce(1, *)
        var values = [Float]()
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(Float.random(in: range, using: &self)) }
        return try! Tensor(values, shape: TensorShape(shape))  // the count is the shape's by construction
    }
}
