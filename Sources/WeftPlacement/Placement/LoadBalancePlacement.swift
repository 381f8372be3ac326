import WeftRuntime

/// `load-balance`: longest processing time first. Colocation groups in decreasing order of
/// estimated compute, each to the allowed device that has the least compute so far (among those
/// with memory to spare). Graham's rule: within 4/3 of the best makespan of independent jobs on
/// identical devices; it ignores transfers, so it suits graphs with light edges.
public struct LoadBalancePlacement: PlacementStrategy {
    /// `load-balance`.
    public let name = "load-balance"
    /// Makes the strategy.
    public init() {}

    /// Assigns pinned groups, then the rest heaviest first.
    public func place(_ problem: PlacementProblem, options: PlacementOptions) throws(WeftError) -> [DeviceName] {
        let costs = CostGraph(problem: problem, options: options)
        let groupCost = costs.groupDeviceCosts()
        let limits = costs.memoryLimits(options)
        let deviceCount = costs.deviceCount
        var load = [Double](repeating: 0, count: deviceCount)
        var memory = [Int](repeating: 0, count: deviceCount)
        var chosen = [Int](repeating: -1, count: problem.groups.count)
        for group in problem.groups.indices where costs.pinned[group] >= 0 {
            let device = costs.pinned[group]
            chosen[group] = device
            load[device] += groupCost[group * deviceCount + device]
            memory[device] += costs.groupBytes[group]
        }
        let open = problem.groups.indices.filter { chosen[$0] < 0 }.sorted {
            (costs.groupCost[$0], -$0) > (costs.groupCost[$1], -$1)
        }
        for group in open {
            var best = -1
            var fits = false
            for device in 0..<deviceCount where costs.allowed[group * deviceCount + device] {
                let roomy = memory[device] + costs.groupBytes[group] <= limits[device]
                let finish = load[device] + groupCost[group * deviceCount + device]
                // A device with room beats one without; then the earliest finish; then the lower index.
                if best < 0 || (roomy && !fits)
                    || (roomy == fits && finish < load[best] + groupCost[group * deviceCount + best])
                {
                    best = device
                    fits = roomy
                }
            }
            chosen[group] = best
            load[best] += groupCost[group * deviceCount + best]
            memory[best] += costs.groupBytes[group]
        }
        return chosen.map { costs.devices[$0] }
    }
}
