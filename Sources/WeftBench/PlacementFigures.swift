import WeftCluster
import WeftPlacement
import WeftRuntime

/// What the cost model predicts for one placement: the figures `weft bench placement` shows
/// next to the measured ones. A `nil` figure is shown as "n/a": nothing here is ever guessed.
public struct PlacementFigures: Sendable, Codable, Hashable {
    /// The predicted duration of one step, in seconds.
    public var predictedStepSeconds: Double?
    /// Predicted compute time of the busiest worker over the mean worker's (1 is perfect balance).
    public var computeBalance: Double?
    /// Predicted peak memory per worker, in bytes, by device (`/job:worker/task:0`).
    public var peakMemoryBytes: [String: Int]?
    /// Predicted tensors sent between workers per step.
    public var tensorsPerStep: Int?
    /// Predicted bytes sent between workers per step.
    public var bytesPerStep: Int?
    /// Lower bounds on any placement's step by the same cost model.
    public var bounds: PlacementBounds?

    /// Figures as given; every one left out is "n/a".
    public init(
        predictedStepSeconds: Double? = nil,
        computeBalance: Double? = nil,
        peakMemoryBytes: [String: Int]? = nil,
        tensorsPerStep: Int? = nil,
        bytesPerStep: Int? = nil,
        bounds: PlacementBounds? = nil
    ) {
        self.predictedStepSeconds = predictedStepSeconds
        self.computeBalance = computeBalance
        self.peakMemoryBytes = peakMemoryBytes
        self.tensorsPerStep = tensorsPerStep
        self.bytesPerStep = bytesPerStep
        self.bounds = bounds
    }

    /// The predicted step over the larger lower bound (1 is as good as any placement can be).
    public var predictedOverBound: Double? {
        guard let step = predictedStepSeconds, let bound = bounds?.seconds, bound > 0 else { return nil }
        return step / bound
    }

    /// No prediction at all.
    public static let unavailable = PlacementFigures()

    /// The cost model's figures (`PlacementStrategies.estimate`) for one step of `built` with
    /// `graph` placed by `placement` over `devices`, priced by `costModel`. Only the nodes the
    /// step's fetches and targets need count; the feeds give the shapes the graph leaves open.
    public static func estimate(
        _ built: BuiltWorkload,
        graph: RuntimeGraph,
        placement: [String: DeviceName],
        devices: [DeviceName],
        costModel: CostModel = .default
    ) throws(WeftError) -> PlacementFigures {
        var options = PlacementOptions(costModel: costModel)
        options.useShapes(of: built.feeds)
        let roots =
            try built.fetches.map { (name) throws(WeftError) in try TensorName(parsing: name).node } + built.targets
        let estimate = try PlacementStrategies.estimate(
            graph,
            placement: placement,
            on: devices,
            roots: roots,
            options: options
        )
        return PlacementFigures(
            predictedStepSeconds: estimate.stepSeconds,
            computeBalance: estimate.computeBalance,
            peakMemoryBytes: Dictionary(
                uniqueKeysWithValues: estimate.peakMemory.map { ($0.key.description, $0.value) }
            ),
            tensorsPerStep: estimate.tensorsCrossing,
            bytesPerStep: estimate.bytesCrossing,
            bounds: try PlacementStrategies.lowerBounds(graph, on: devices, roots: roots, options: options)
        )
    }
}
