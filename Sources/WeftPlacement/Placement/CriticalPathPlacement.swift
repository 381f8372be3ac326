import WeftRuntime

/// `critical-path`: HEFT list scheduling. Nodes in decreasing upward rank, each to the device
/// where it can finish earliest given its inputs' transfer costs and (with insertion) the idle
/// gaps already left on the device; a colocation group follows its first scheduled node. Good
/// for graphs whose step time is set by a long chain of heavy ops.
///
/// The plan and the estimate agree: `PlacementEstimate` replays a placement with the same list
/// scheduling (`ListScheduler.replay`), so the insertion plan's step time is what the estimate
/// predicts for it. Insertion is not always better (a node slipped into a gap can pull its group
/// to a device that suits the rest of the group worse), so the strategy plans with and without
/// it and keeps the placement whose replayed step is shorter.
public struct CriticalPathPlacement: PlacementStrategy {
    /// `critical-path`.
    public let name = "critical-path"
    /// Whether a plan that fills idle gaps between nodes already scheduled on a device is tried.
    public var insertion: Bool
    /// Whether a device's outgoing transfers queue on its link (contention-aware HEFT, as the
    /// estimate models them), rather than all overlapping as in the textbook model, which
    /// favours cutting every edge.
    public var linkContention: Bool

    /// Makes the strategy; insertion-based as in Topcuoglu et al., and contention-aware.
    public init(insertion: Bool = true, linkContention: Bool = true) {
        self.insertion = insertion
        self.linkContention = linkContention
    }

    /// Schedules every node and keeps the devices the schedule chose.
    public func place(_ problem: PlacementProblem, options: PlacementOptions) throws(WeftError) -> [DeviceName] {
        let costs = CostGraph(problem: problem, options: options)
        return plan(costs, memoryLimits: costs.memoryLimits(options)).groupDevice.map { costs.devices[$0] }
    }

    /// The kept plan as the estimate replays it: its devices, and the step the estimate predicts.
    func plan(_ costs: CostGraph, memoryLimits: [Int]) -> ListScheduler.Schedule {
        let planner = ListScheduler(costs: costs, linkContention: linkContention)
        let estimator = ListScheduler(costs: costs, linkContention: true)
        let replayed = { (gaps: Bool) in
            estimator.replay(
                groupDevice: planner.schedule(groupDevice: costs.pinned, insertion: gaps, memoryLimits: memoryLimits)
                    .groupDevice
            )
        }
        let appended = replayed(false)
        guard insertion else { return appended }
        let inserted = replayed(true)
        // Ties keep the insertion plan, whose replay is the plan itself.
        return inserted.makespan <= appended.makespan ? inserted : appended
    }
}
