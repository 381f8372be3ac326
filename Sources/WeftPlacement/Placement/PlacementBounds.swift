import WeftRuntime

/// Two lower bounds on any placement's step by the cost model, to judge how far a strategy is
/// from the best possible: no placement on these devices can do better than either.
public struct PlacementBounds: Sendable, Hashable, Codable {
    /// The step's total compute (each node at its cheapest device) divided by the devices: the
    /// step if work were spread perfectly and nothing waited or moved.
    public var workPerDeviceSeconds: Double
    /// The longest chain of compute through the step's graph (each node at its cheapest device,
    /// transfers free): the step if there were devices enough for everything else.
    public var criticalPathSeconds: Double

    /// The larger, tighter bound.
    public var seconds: Double { max(workPerDeviceSeconds, criticalPathSeconds) }

    /// Makes bounds.
    public init(workPerDeviceSeconds: Double, criticalPathSeconds: Double) {
        self.workPerDeviceSeconds = workPerDeviceSeconds
        self.criticalPathSeconds = criticalPathSeconds
    }

    /// The bounds of the nodes in `active` (all when `nil`), from compute costs alone.
    init(costs: CostGraph, active: [Bool]?) {
        var total = 0.0
        var longest = [Double](repeating: 0, count: costs.nodeCount)
        var path = 0.0
        for node in costs.order where active?[node] ?? true {
            let cheapest = costs.cheapestCost(node)
            total += cheapest
            var ready = 0.0
            for edge in costs.predecessorStart[node]..<costs.predecessorStart[node + 1] {
                ready = max(ready, longest[costs.predecessorNode[edge]])
            }
            longest[node] = ready + cheapest
            path = max(path, longest[node])
        }
        self.init(workPerDeviceSeconds: total / Double(max(costs.deviceCount, 1)), criticalPathSeconds: path)
    }
}

extension PlacementStrategies {
    /// The lower bounds on one step of `graph` on `devices`, counting only what `roots` need
    /// (the whole graph when `nil`); shapes the graph leaves open come from `options.feedShapes`.
    public static func lowerBounds(
        _ graph: RuntimeGraph,
        on devices: [DeviceName],
        roots: [String]? = nil,
        options: PlacementOptions = PlacementOptions()
    ) throws(WeftError) -> PlacementBounds {
        let problem = try PlacementProblem(graph: graph, devices: devices)
        let costs = CostGraph(problem: problem, options: options)
        let active = try roots.map { (names) throws(WeftError) in try needed(graph, roots: names) }
        return PlacementBounds(costs: costs, active: active)
    }
}
