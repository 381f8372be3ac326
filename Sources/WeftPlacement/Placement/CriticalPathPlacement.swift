import WeftRuntime

/// `critical-path`: HEFT list scheduling. Nodes in decreasing upward rank, each to the device
/// where it can finish earliest given its inputs' transfer costs and (with `insertion`) the idle
/// gaps already left on the device; a colocation group follows its first scheduled node. Good
/// for graphs whose step time is set by a long chain of heavy ops.
public struct CriticalPathPlacement: PlacementStrategy {
    /// `critical-path`.
    public let name = "critical-path"
    /// Whether a node may fill an idle gap between nodes already scheduled on a device.
    public var insertion: Bool
    /// Whether a device's outgoing transfers queue on its link (contention-aware HEFT), rather
    /// than all overlapping as in the textbook model, which favours cutting every edge.
    public var linkContention: Bool

    /// Makes the strategy; insertion-based as in Topcuoglu et al., and contention-aware.
    public init(insertion: Bool = true, linkContention: Bool = true) {
        self.insertion = insertion
        self.linkContention = linkContention
    }

    /// Schedules every node and keeps the devices the schedule chose.
    public func place(_ problem: PlacementProblem, options: PlacementOptions) throws(WeftError) -> [DeviceName] {
        let costs = CostGraph(problem: problem, options: options)
        let schedule = ListScheduler(costs: costs, linkContention: linkContention).schedule(
            groupDevice: costs.pinned,
            insertion: insertion,
            memoryLimits: costs.memoryLimits(options)
        )
        return schedule.groupDevice.map { costs.devices[$0] }
    }
}
