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
///
/// With a memory limit (`PlacementOptions.memoryLimit`, `memoryLimits`) it is memory-aware, as
/// Baechi's m-ETF is (Jeon et al., SoCC 2020), rather than a separate strategy, so every name
/// keeps working and the limit a session asks for is honoured by the default cost-aware strategy:
/// each node goes to the earliest-finishing device whose memory, counting the variables and
/// constants of the groups placed there and the tensors it holds live as the schedule proceeds
/// (`MemoryTimeline`), stays within its limit. The plan is the insertion plan with link
/// contention, which the estimate replays exactly, so the estimate's peak memory is the one the
/// plan held to. A node that fits on no device makes placement fail with `resourceExhausted`,
/// naming the device that came closest and the bytes it would need.
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
        let limits = costs.memoryLimits(options)
        let schedule =
            limits.contains { $0 < .max }
            ? try planWithinMemory(costs, limits: limits) : plan(costs, memoryLimits: limits)
        return schedule.groupDevice.map { costs.devices[$0] }
    }

    /// The memory-aware plan: HEFT with insertion and link contention, each node on the
    /// earliest-finishing device it fits on; `resourceExhausted` when a node fits nowhere.
    func planWithinMemory(_ costs: CostGraph, limits: [Int]) throws(WeftError) -> ListScheduler.Schedule {
        let schedule = ListScheduler(costs: costs, linkContention: true).schedule(
            groupDevice: costs.pinned,
            insertion: true,
            memoryLimits: limits,
            withinMemory: true
        )
        if let shortfall = schedule.shortfall { throw Self.exhausted(shortfall, costs: costs, limits: limits) }
        return schedule
    }

    private static func exhausted(_ shortfall: MemoryTimeline.Shortfall, costs: CostGraph, limits: [Int]) -> WeftError {
        let device = costs.devices[shortfall.device]
        let live = shortfall.neededBytes - shortfall.persistentBytes
        return WeftError(
            .resourceExhausted,
            "placing the graph needs \(shortfall.neededBytes) bytes on \(device) when node '\(costs.nodeNames[shortfall.node])' runs there (\(shortfall.persistentBytes) bytes of variables and constants and \(live) bytes of live tensors), more than its memory limit of \(limits[shortfall.device]) bytes, and no other allowed worker has room for it; raise the limit or add workers"
        )
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
