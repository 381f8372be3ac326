/// List scheduling over a `CostGraph`: HEFT (Topcuoglu, Hariri and Wu, 2002) when groups are
/// open, and the step simulation of `PlacementEstimate` when every group has its device.
///
/// Nodes go in decreasing upward rank (mean compute plus the longest mean-cost path to an exit),
/// which is a topological order. Each node goes to the device where it finishes earliest, given
/// when its inputs arrive (producer's finish plus the transfer) and, with insertion, the idle
/// gaps left on the device. A colocation group takes the device of its first scheduled node.
struct ListScheduler {
    /// Where and when every node runs.
    struct Schedule {
        /// Device index of every node (-1 for nodes not scheduled).
        var device: [Int]
        var start: [Double]
        var finish: [Double]
        /// Device index of every group.
        var groupDevice: [Int]
        /// The latest finish.
        var makespan: Double
    }

    /// Idle gaps kept per device for insertion: the most recent ones, which on large graphs are
    /// the ones a ready node can still use; exact for graphs with fewer gaps than this.
    static let gapsKept = 64

    let costs: CostGraph
    /// Nodes to schedule; `nil` for all.
    let active: [Bool]?

    init(costs: CostGraph, active: [Bool]? = nil) {
        self.costs = costs
        self.active = active
    }

    private func isActive(_ node: Int) -> Bool { active?[node] ?? true }

    /// HEFT's upward rank of every node, with mean compute and mean transfer costs.
    func upwardRanks() -> [Double] {
        var rank = [Double](repeating: 0, count: costs.nodeCount)
        for node in costs.order.reversed() where isActive(node) {
            var longest = 0.0
            for edge in costs.successorStart[node]..<costs.successorStart[node + 1] {
                let successor = costs.successorNode[edge]
                guard isActive(successor) else { continue }
                longest = max(longest, costs.meanTransfer(costs.successorBytes[edge]) + rank[successor])
            }
            rank[node] = costs.meanCost[node] + longest
        }
        return rank
    }

    /// Active nodes by decreasing rank; ties in topological order, so producers still come first
    /// when a rank does not grow along an edge (free ops on a single device).
    func priorityOrder(_ rank: [Double]) -> [Int] {
        var position = [Int](repeating: 0, count: costs.nodeCount)
        for (index, node) in costs.order.enumerated() { position[node] = index }
        return costs.order.filter(isActive).sorted { a, b in
            rank[a] != rank[b] ? rank[a] > rank[b] : position[a] < position[b]
        }
    }

    /// Schedules every active node. `groupDevice` holds a device index for groups already placed
    /// (-1 for open ones); open groups go where their first node finishes earliest, among the
    /// devices with memory to spare when there are any.
    func schedule(groupDevice initial: [Int], insertion: Bool, memoryLimits: [Int]) -> Schedule {
        let n = costs.nodeCount
        let deviceCount = costs.deviceCount
        var result = Schedule(
            device: [Int](repeating: -1, count: n), start: [Double](repeating: 0, count: n),
            finish: [Double](repeating: 0, count: n), groupDevice: initial, makespan: 0)
        var available = [Double](repeating: 0, count: deviceCount)
        var gaps = [[(start: Double, end: Double)]](repeating: [], count: deviceCount)
        var memory = [Int](repeating: 0, count: deviceCount)
        for group in 0..<costs.groupCount where initial[group] >= 0 { memory[initial[group]] += costs.groupBytes[group] }
        var ready = [Double](repeating: 0, count: deviceCount)
        for node in priorityOrder(upwardRanks()) {
            let group = costs.groupOfNode[node]
            arrivalTimes(of: node, result, into: &ready)
            var best = (device: -1, start: 0.0, finish: Double.infinity, gap: -1)
            let roomy = result.groupDevice[group] < 0 && (0..<deviceCount).contains { device in
                costs.allowed[group * deviceCount + device]
                    && memory[device] + costs.groupBytes[group] <= memoryLimits[device]
            }
            for device in 0..<deviceCount {
                if result.groupDevice[group] >= 0 {
                    guard device == result.groupDevice[group] else { continue }
                } else {
                    guard costs.allowed[group * deviceCount + device] else { continue }
                    if roomy && memory[device] + costs.groupBytes[group] > memoryLimits[device] { continue }
                }
                let duration = costs.cost[node * deviceCount + device]
                var slot = (start: max(ready[device], available[device]), gap: -1)
                if insertion { slot = Self.earliestGap(gaps[device], after: ready[device], lasting: duration, or: slot) }
                if slot.start + duration < best.finish {
                    best = (device, slot.start, slot.start + duration, slot.gap)
                }
            }
            commit(node, best, group: group, into: &result, available: &available, gaps: &gaps, memory: &memory)
        }
        return result
    }

    /// When node's inputs would reach each device, from the scheduled producers.
    private func arrivalTimes(of node: Int, _ schedule: Schedule, into ready: inout [Double]) {
        for device in 0..<costs.deviceCount { ready[device] = 0 }
        for edge in costs.predecessorStart[node]..<costs.predecessorStart[node + 1] {
            let producer = costs.predecessorNode[edge]
            let from = schedule.device[producer]
            guard from >= 0 else { continue }
            let bytes = costs.predecessorBytes[edge]
            for device in 0..<costs.deviceCount {
                ready[device] = max(ready[device], schedule.finish[producer] + costs.transfer(bytes, from: from, to: device))
            }
        }
    }

    /// The earliest start in an idle gap that fits, if earlier than `fallback`.
    private static func earliestGap(
        _ gaps: [(start: Double, end: Double)], after ready: Double, lasting duration: Double,
        or fallback: (start: Double, gap: Int)
    ) -> (start: Double, gap: Int) {
        var best = fallback
        for (index, gap) in gaps.enumerated() {
            let start = max(gap.start, ready)
            if start + duration <= gap.end && start < best.start { best = (start, index) }
        }
        return best
    }

    private func commit(
        _ node: Int, _ slot: (device: Int, start: Double, finish: Double, gap: Int), group: Int, into result: inout Schedule,
        available: inout [Double], gaps: inout [[(start: Double, end: Double)]], memory: inout [Int]
    ) {
        let device = slot.device
        result.device[node] = device
        result.start[node] = slot.start
        result.finish[node] = slot.finish
        result.makespan = max(result.makespan, slot.finish)
        if result.groupDevice[group] < 0 {
            result.groupDevice[group] = device
            memory[device] += costs.groupBytes[group]
        }
        if slot.gap >= 0 {
            // The node splits its gap into what is left before and after it.
            let gap = gaps[device][slot.gap]
            switch (slot.start > gap.start, slot.finish < gap.end) {
            case (true, true):
                gaps[device][slot.gap] = (gap.start, slot.start)
                gaps[device].insert((slot.finish, gap.end), at: slot.gap + 1)
            case (true, false): gaps[device][slot.gap] = (gap.start, slot.start)
            case (false, true): gaps[device][slot.gap] = (slot.finish, gap.end)
            case (false, false): gaps[device].remove(at: slot.gap)
            }
        } else {
            if slot.start > available[device] { gaps[device].append((available[device], slot.start)) }
            available[device] = slot.finish
        }
        if gaps[device].count > Self.gapsKept { gaps[device].removeFirst(gaps[device].count - Self.gapsKept) }
    }
}
