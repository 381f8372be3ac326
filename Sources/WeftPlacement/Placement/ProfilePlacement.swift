import WeftRuntime

/// `profile`: another strategy run on measured op costs. Per-node durations from real steps
/// (keyed by node name) replace the cost model's estimates for the nodes they name; nodes
/// without a measurement keep their estimate. Without measurements it places exactly as its
/// base strategy does on estimates, so it is deterministic either way.
public struct ProfilePlacement: PlacementStrategy {
    /// `profile`.
    public let name = "profile"
    /// The strategy run on the measured costs (`critical-path` by default).
    public var base: String
    /// Measured compute time per node name.
    public var measuredCosts: [String: Duration]

    /// Makes the strategy over `base` with the costs measured so far.
    public init(base: String = "critical-path", measuredCosts: [String: Duration] = [:]) {
        self.base = base
        self.measuredCosts = measuredCosts
    }

    /// Makes the strategy over `base` with the node times of real steps (`RunMetadata`): each
    /// node's median duration over `steps`; partition-made nodes are skipped.
    public init(base: String = "critical-path", steps: [StepStatistics]) {
        self.init(base: base, measuredCosts: CostModel.medianDurations(of: steps))
    }

    /// Places with `base`, the measured costs overriding the estimates.
    public func place(_ problem: PlacementProblem, options: PlacementOptions) throws(WeftError) -> [DeviceName] {
        guard base != name else {
            throw WeftError(.invalidArgument, "the profile strategy needs another strategy as its base, not itself")
        }
        var options = options
        options.costModel.useMeasuredCosts(measuredCosts)
        return try PlacementStrategies.named(base).place(problem, options: options)
    }
}
