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
    /// Whether a device sends one tensor at a time: its outgoing link is busy for bytes over
    /// bandwidth per tensor, so transfers queue. Without it (HEFT's textbook model) any number of
    /// transfers overlap. Either way a tensor goes to a device once, as the partitioner sends it.
    let linkContention: Bool

    init(costs: CostGraph, active: [Bool]? = nil, linkContention: Bool = false) {
        self.costs = costs
        self.active = active
        self.linkContention = linkContention
    }

    /// Transfers already made: when each producer's output reaches each device, and when each
    /// device's outgoing link is next free.
    private struct Sends {
        /// `arrival[producer * deviceCount + device]`, or -1 while not sent there.
        var arrival: [Double]
        var linkFree: [Double]
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
    /// when a rank does not grow along an edge (free ops on a single device). Ranks are compared
    /// to 32 significant bits, so sums that differ only by rounding count as ties.
    func priorityOrder(_ rank: [Double]) -> [Int] {
        var position = [Int](repeating: 0, count: costs.nodeCount)
        for (index, node) in costs.order.enumerated() { position[node] = index }
        let key = rank.map(Self.rounded)
        return costs.order.filter(isActive).sorted { a, b in
            key[a] != key[b] ? key[a] > key[b] : position[a] < position[b]
        }
    }

    /// `value` rounded to 32 significant bits: monotone, so a topological order stays one.
    static func rounded(_ value: Double) -> Double {
        guard value.isFinite, value != 0 else { return value }
        let unit = Double(sign: .plus, exponent: value.exponent - 32, significand: 1)
        return (value / unit).rounded() * unit
    }

    /// Schedules every active node. `groupDevice` holds a device index for groups already placed
    /// (-1 for open ones); open groups go where their first node finishes earliest, among the
    /// devices with memory to spare when there are any.
    func schedule(groupDevice initial: [Int], insertion: Bool, memoryLimits: [Int]) -> Schedule {
        let n = costs.nodeCount
        let deviceCount = costs.deviceCount
        var result = Schedule(
            device: [Int](repeating: -1, count: n),
            start: [Double](repeating: 0, count: n),
            finish: [Double](repeating: 0, count: n),
            groupDevice: initial,
            makespan: 0
        )
        var available = [Double](repeating: 0, count: deviceCount)
        var gaps = [[(start: Double, end: Double)]](repeating: [], count: deviceCount)
        var memory = [Int](repeating: 0, count: deviceCount)
        for group in 0..<costs.groupCount where initial[group] >= 0 {
            memory[initial[group]] += costs.groupBytes[group]
        }
        var ready = [Double](repeating: 0, count: deviceCount)
        var sends = Sends(
            arrival: [Double](repeating: -1, count: n * deviceCount),
            linkFree: [Double](repeating: 0, count: deviceCount)
        )
        for node in priorityOrder(upwardRanks()) {
            let group = costs.groupOfNode[node]
            arrivalTimes(of: node, result, sends, into: &ready)
            var best = (device: -1, start: 0.0, finish: Double.infinity, gap: -1)
            let roomy =
                result.groupDevice[group] < 0
                && (0..<deviceCount).contains { device in
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
                if insertion {
                    slot = Self.earliestGap(gaps[device], after: ready[device], lasting: duration, or: slot)
                }
                if slot.start + duration < best.finish {
                    best = (device, slot.start, slot.start + duration, slot.gap)
                }
            }
            commit(node, best, group: group, into: &result, available: &available, gaps: &gaps, memory: &memory)
            send(inputsOf: node, to: best.device, result, &sends)
        }
        return result
    }

    /// The step as `PlacementEstimate` predicts it for groups that all have their device: the
    /// same list scheduling on those devices, nodes in upward-rank order, each in the earliest
    /// idle gap of its device that its inputs allow (a device runs whatever is ready while it
    /// would otherwise wait). A plan made with insertion and the same link model is replayed
    /// exactly: the same nodes in the same order make the same choices.
    func replay(groupDevice: [Int]) -> Schedule {
        schedule(
            groupDevice: groupDevice,
            insertion: true,
            memoryLimits: [Int](repeating: .max, count: costs.deviceCount)
        )
    }

    /// When node's inputs would reach each device, from the scheduled producers.
    private func arrivalTimes(of node: Int, _ schedule: Schedule, _ sends: Sends, into ready: inout [Double]) {
        let deviceCount = costs.deviceCount
        for device in 0..<deviceCount { ready[device] = 0 }
        for edge in costs.predecessorStart[node]..<costs.predecessorStart[node + 1] {
            let producer = costs.predecessorNode[edge]
            let from = schedule.device[producer]
            guard from >= 0 else { continue }
            let bytes = costs.predecessorBytes[edge]
            let departure =
                linkContention ? max(schedule.finish[producer], sends.linkFree[from]) : schedule.finish[producer]
            for device in 0..<deviceCount {
                let sent = sends.arrival[producer * deviceCount + device]
                let arrival =
                    device == from
                    ? schedule.finish[producer]
                    : (sent >= 0 ? sent : departure + costs.transfer(bytes, from: from, to: device))
                ready[device] = max(ready[device], arrival)
            }
        }
    }

    /// Books the transfers of node's inputs to `device` that were not made before.
    private func send(inputsOf node: Int, to device: Int, _ schedule: Schedule, _ sends: inout Sends) {
        let deviceCount = costs.deviceCount
        for edge in costs.predecessorStart[node]..<costs.predecessorStart[node + 1] {
            let producer = costs.predecessorNode[edge]
            let from = schedule.device[producer]
            guard from >= 0, from != device, sends.arrival[producer * deviceCount + device] < 0 else { continue }
            let bytes = costs.predecessorBytes[edge]
            var departure = schedule.finish[producer]
            if linkContention {
                departure = max(departure, sends.linkFree[from])
                sends.linkFree[from] = departure + Double(bytes) * costs.secondsPerByte[from * deviceCount + device]
            }
            sends.arrival[producer * deviceCount + device] = departure + costs.transfer(bytes, from: from, to: device)
        }
    }

    /// The earliest start in an idle gap that fits, if earlier than `fallback`.
    private static func earliestGap(
        _ gaps: [(start: Double, end: Double)],
        after ready: Double,
        lasting duration: Double,
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
        _ node: Int,
        _ slot: (device: Int, start: Double, finish: Double, gap: Int),
        group: Int,
        into result: inout Schedule,
        available: inout [Double],
        gaps: inout [[(start: Double, end: Double)]],
        memory: inout [Int]
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
