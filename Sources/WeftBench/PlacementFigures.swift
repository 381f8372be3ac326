import WeftCluster
import WeftRuntime

/// What a cost model predicts for one placement: the figures `weft bench placement` shows
/// next to the measured ones. A `nil` figure is shown as "n/a": nothing here is ever guessed.
public struct PlacementFigures: Sendable, Codable, Hashable {
    /// The predicted duration of one step, in seconds.
    public var predictedStepSeconds: Double?
    /// Predicted compute time of the busiest worker over the mean worker's (1 is perfect balance).
    public var computeBalance: Double?
    /// Predicted peak memory per worker, in bytes, by device (`/job:worker/task:0`).
    public var peakMemoryBytes: [String: Int]?

    /// Figures as given; every one left out is "n/a".
    public init(predictedStepSeconds: Double? = nil, computeBalance: Double? = nil, peakMemoryBytes: [String: Int]? = nil) {
        self.predictedStepSeconds = predictedStepSeconds
        self.computeBalance = computeBalance
        self.peakMemoryBytes = peakMemoryBytes
    }

    /// No prediction at all.
    public static let unavailable = PlacementFigures()

    /// The cost model's figures for `placement` of `graph` over `devices`.
    ///
    /// MERGE: the cost model and placement estimates live on the placement branch; the lead
    /// replaces this body with a call to them. Until then every predicted figure is "n/a".
    public static func estimate(
        graph: RuntimeGraph, placement: [String: DeviceName], devices: [DeviceName]
    ) -> PlacementFigures {
        .unavailable
    }
}
