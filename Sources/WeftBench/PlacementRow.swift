/// One workload × strategy of `weft bench placement`: every figure the reports show. A `nil`
/// figure was not measured (or not predicted) and is reported as "n/a", never guessed.
public struct PlacementRow: Sendable, Codable, Hashable {
    /// Where the traffic figures come from.
    public enum TrafficSource: String, Sendable, Codable, Hashable {
        /// Counted by the workers' `_Send` kernels during a step (`RunMetadata.stepStatistics`).
        case measured
        /// The `_Send` ops of the step's partitions, counted without running (planning only);
        /// their bytes are unknown.
        case partition
        /// Not known: the placement failed.
        case unavailable = "n/a"
    }

    /// The workload's name.
    public var workload: String
    /// The workload's knobs.
    public var parameters: String
    /// Nodes in the workload's graph.
    public var nodes: Int
    /// The placement strategy's name.
    public var strategy: String
    /// Workers the graph was placed on.
    public var workers: Int
    /// Seconds the workload took to build its graph with the graph API.
    public var graphBuildSeconds: Double?
    /// Median seconds `PlacementStrategies.place` took in this process, with the benchmark's
    /// cost model and memory limit.
    public var placementSeconds: Double
    /// Whether the coordinator placed the graph as this process did; `nil` when nothing ran.
    /// It prices the cluster as measured, so cost-aware strategies may differ; when they do,
    /// cut edges, node balance and predictions describe the coordinator's placement, which ran.
    public var sameAsCoordinator: Bool?
    /// The cost model's predictions (`PlacementFigures.estimate`).
    public var predicted: PlacementFigures
    /// Seconds to open the session on the cluster (the coordinator loads and places the graph).
    public var sessionSetupSeconds: Double?
    /// Measured steps.
    public var steps: Int
    /// Median seconds of a measured step, as the client sees it.
    public var medianStepSeconds: Double?
    /// 90th percentile seconds of a measured step.
    public var p90StepSeconds: Double?
    /// Median seconds of a measured step over every strategy of the workload whose placement
    /// splits the graph into the same groups (workers renamed aside): such strategies run the
    /// same step, so their steps are pooled instead of ranked by noise.
    public var pooledMedianStepSeconds: Double?
    /// Tensors one step sends between workers.
    public var tensorsPerStep: Int?
    /// Payload bytes one step sends between workers.
    public var bytesPerStep: Int?
    /// Where `tensorsPerStep` and `bytesPerStep` come from.
    public var trafficSource: TrafficSource
    /// Graph edges (data and control) between nodes on different workers.
    public var cutEdges: Int
    /// Step nodes on the busiest worker over the mean (1 is perfectly even).
    public var nodeBalance: Double
    /// Measured kernel time of the busiest worker over the mean worker's in one step (1 is
    /// perfectly even); `nil` when nothing ran.
    public var computeBalance: Double?
    /// The memory limit placement was given per worker (`--memory-limit`), if any.
    public var memoryLimitBytes: Int?
    /// Measured median step over the larger lower bound of the cost model (`predicted.bounds`).
    public var measuredOverBound: Double? {
        guard let step = medianStepSeconds, let bound = predicted.bounds?.seconds, bound > 0 else { return nil }
        return step / bound
    }
    /// Whether the predicted peak memory of every worker is within `memoryLimitBytes`; `nil`
    /// without a limit or a prediction.
    public var peakWithinLimit: Bool? {
        guard let limit = memoryLimitBytes, let peaks = predicted.peakMemoryBytes else { return nil }
        return peaks.values.allSatisfy { $0 <= limit }
    }
    /// Whether every fetched value equals the local session's; `nil` when nothing ran.
    public var valuesMatch: Bool?
    /// What went wrong: a failed placement or step, or the first differing value.
    public var problem: String?

    /// Whether the row reports a failure: a problem or differing values.
    public var failed: Bool { problem != nil || valuesMatch == false }
}
