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
        /// When each producer's output reaches each device it was sent to:
        /// `arrival[producer * deviceCount + device]`, or -1 where it was not sent.
        var arrival: [Double] = []
        /// The node that fit on no device within its memory limit; scheduling stopped there.
        var shortfall: MemoryTimeline.Shortfall?
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
    /// devices with memory to spare when there are any. With `withinMemory`, the limits also
    /// count the tensors each device holds as the schedule proceeds (`MemoryTimeline`): a node
    /// goes to the earliest-finishing device it fits on, and scheduling stops with a `shortfall`
    /// when it fits on none.
    func schedule(
        groupDevice initial: [Int],
        insertion: Bool,
        memoryLimits: [Int],
        withinMemory: Bool = false
    )
        -> Schedule
    {
        let n = costs.nodeCount
        let deviceCount = costs.deviceCount
        var state = State(
            result: Schedule(
                device: [Int](repeating: -1, count: n),
                start: [Double](repeating: 0, count: n),
                finish: [Double](repeating: 0, count: n),
                groupDevice: initial,
                makespan: 0
            ),
            available: [Double](repeating: 0, count: costs.laneCount),
            gaps: [[(start: Double, end: Double)]](repeating: [], count: costs.laneCount),
            memory: [Int](repeating: 0, count: deviceCount),
            sends: Sends(
                arrival: [Double](repeating: -1, count: n * deviceCount),
                linkFree: [Double](repeating: 0, count: deviceCount)
            )
        )
        for group in 0..<costs.groupCount where initial[group] >= 0 {
            state.memory[initial[group]] += costs.groupBytes[group]
        }
        var timeline = withinMemory ? MemoryTimeline(costs: costs, active: active, limits: memoryLimits) : nil
        var ready = [Double](repeating: 0, count: deviceCount)
        for node in priorityOrder(upwardRanks()) {
            let group = costs.groupOfNode[node]
            // The timeline counts a group's persistent bytes when its first node lands, pinned or not.
            let opening = timeline != nil && !state.countedGroups.contains(group)
            arrivalTimes(of: node, state.result, state.sends, into: &ready)
            let best: Slot
            if timeline != nil {
                switch fittingSlot(node, ready: ready, state, insertion: insertion, opening: opening, &timeline!) {
                case .success(let slot): best = slot
                case .failure(let shortfall):
                    state.result.shortfall = shortfall
                    state.result.arrival = state.sends.arrival
                    return state.result
                }
            } else {
                best = earliestSlot(node, ready: ready, state, insertion: insertion, memoryLimits: memoryLimits)
            }
            commit(node, best, group: group, into: &state)
            send(inputsOf: node, to: best.device, state.result, &state.sends)
            if opening { state.countedGroups.insert(group) }

            timeline?.commit(
                node,
                on: best.device,
                finish: best.finish,
                groupBytes: opening ? costs.groupBytes[group] : 0,
                homeOf: { state.result.device[$0] },
                arrival: { edge in state.sends.arrival[costs.predecessorNode[edge] * deviceCount + best.device] }
            )
        }
        state.result.arrival = state.sends.arrival
        return state.result
    }

    /// A node's place on a device: when it starts and ends, the lane it runs on, and the idle gap
    /// of that lane it fills (-1 for none).
    typealias Slot = (device: Int, start: Double, finish: Double, gap: Int, lane: Int)

    /// Everything a schedule in progress has decided.
    private struct State {
        var result: Schedule
        /// When each lane is next free after its last node, and its idle gaps before that.
        var available: [Double]
        var gaps: [[(start: Double, end: Double)]]
        var memory: [Int]
        var sends: Sends
        /// Groups whose persistent bytes a memory timeline counts already.
        var countedGroups = Set<Int>()
    }

    /// The devices `group` may run on now: its device once it has one, else the allowed ones.
    private func candidates(_ group: Int, _ result: Schedule) -> [Int] {
        if result.groupDevice[group] >= 0 { return [result.groupDevice[group]] }
        return Array(costs.allowedDevices(of: group))
    }

    /// Where `node` would start on `device`: on the lane of the device's host that frees first,
    /// after its inputs and the lane's last node, or in an earlier idle gap with insertion.
    private func slot(_ node: Int, on device: Int, ready: [Double], _ state: State, insertion: Bool) -> Slot {
        let duration = costs.cost(node, on: device)
        var best: Slot = (device, .infinity, .infinity, -1, -1)
        for lane in costs.lanes(of: device) {
            var slot = (start: max(ready[device], state.available[lane]), gap: -1)
            if insertion {
                slot = Self.earliestGap(state.gaps[lane], after: ready[device], lasting: duration, or: slot)
            }
            if slot.start < best.start { best = (device, slot.start, slot.start + duration, slot.gap, lane) }
        }
        return best
    }

    /// HEFT's choice: the earliest finish, among the devices with room for the group's
    /// persistent bytes when there are any.
    private func earliestSlot(
        _ node: Int,
        ready: [Double],
        _ state: State,
        insertion: Bool,
        memoryLimits: [Int]
    ) -> Slot {
        let group = costs.groupOfNode[node]
        let open = state.result.groupDevice[group] < 0
        let devices = candidates(group, state.result)
        let fits = { (device: Int) in state.memory[device] + costs.groupBytes[group] <= memoryLimits[device] }
        let roomy = open && devices.contains(where: fits)
        var best: Slot = (-1, 0, .infinity, -1, -1)
        for device in devices where !roomy || fits(device) {
            let candidate = slot(node, on: device, ready: ready, state, insertion: insertion)
            if candidate.finish < best.finish { best = candidate }
        }
        return best
    }

    /// The earliest-finishing slot on a device whose memory, counting live tensors, stays within
    /// its limit; or the shortfall of the device that came closest.
    private func fittingSlot(
        _ node: Int,
        ready: [Double],
        _ state: State,
        insertion: Bool,
        opening: Bool,
        _ timeline: inout MemoryTimeline
    ) -> Result<Slot, MemoryTimeline.Shortfall> {
        let group = costs.groupOfNode[node]
        let slots = candidates(group, state.result).map {
            slot(node, on: $0, ready: ready, state, insertion: insertion)
        }
        .sorted { ($0.finish, $0.device) < ($1.finish, $1.device) }
        var closest: MemoryTimeline.Shortfall?
        for candidate in slots {
            let device = candidate.device
            let needed = timeline.need(
                node,
                on: device,
                finish: candidate.finish,
                groupBytes: opening ? costs.groupBytes[group] : 0,
                homeOf: { state.result.device[$0] },
                arrival: { edge in arrival(through: edge, at: device, state.result, state.sends) }
            )
            if needed <= timeline.limits[device] { return .success(candidate) }
            let over = needed - timeline.limits[device]
            if closest.map({ over < $0.neededBytes - timeline.limits[$0.device] }) ?? true {
                closest = .init(
                    node: node,
                    device: device,
                    neededBytes: needed,
                    persistentBytes: timeline.persistent[device] + (opening ? costs.groupBytes[group] : 0)
                )
            }
        }
        return .failure(closest ?? .init(node: node, device: 0, neededBytes: 0, persistentBytes: 0))
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
        for device in 0..<costs.deviceCount { ready[device] = 0 }
        for edge in costs.predecessorStart[node]..<costs.predecessorStart[node + 1]
        where schedule.device[costs.predecessorNode[edge]] >= 0 {
            for device in 0..<costs.deviceCount {
                ready[device] = max(ready[device], arrival(through: edge, at: device, schedule, sends))
            }
        }
    }

    /// When the producer of `edge` (scheduled) would have its output on `device`: at once on its
    /// own device, when it arrived if sent there before, else after its link is free and the transfer.
    private func arrival(through edge: Int, at device: Int, _ schedule: Schedule, _ sends: Sends) -> Double {
        let producer = costs.predecessorNode[edge]
        let from = schedule.device[producer]
        guard device != from else { return schedule.finish[producer] }
        let sent = sends.arrival[producer * costs.deviceCount + device]
        guard sent < 0 else { return sent }
        let departure =
            linkContention ? max(schedule.finish[producer], sends.linkFree[from]) : schedule.finish[producer]
        return departure + costs.transfer(costs.predecessorBytes[edge], from: from, to: device)
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
                sends.linkFree[from] = departure + Double(bytes) * costs.secondsPerByte(from: from, to: device)
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

    private func commit(_ node: Int, _ slot: Slot, group: Int, into state: inout State) {
        let device = slot.device
        let lane = slot.lane
        state.result.device[node] = device
        state.result.start[node] = slot.start
        state.result.finish[node] = slot.finish
        state.result.makespan = max(state.result.makespan, slot.finish)
        if state.result.groupDevice[group] < 0 {
            state.result.groupDevice[group] = device
            state.memory[device] += costs.groupBytes[group]
        }
        if slot.gap >= 0 {
            // The node splits its gap into what is left before and after it.
            let gap = state.gaps[lane][slot.gap]
            switch (slot.start > gap.start, slot.finish < gap.end) {
            case (true, true):
                state.gaps[lane][slot.gap] = (gap.start, slot.start)
                state.gaps[lane].insert((slot.finish, gap.end), at: slot.gap + 1)
            case (true, false): state.gaps[lane][slot.gap] = (gap.start, slot.start)
            case (false, true): state.gaps[lane][slot.gap] = (slot.finish, gap.end)
            case (false, false): state.gaps[lane].remove(at: slot.gap)
            }
        } else {
            if slot.start > state.available[lane] { state.gaps[lane].append((state.available[lane], slot.start)) }
            state.available[lane] = slot.finish
        }
        if state.gaps[lane].count > Self.gapsKept {
            state.gaps[lane].removeFirst(state.gaps[lane].count - Self.gapsKept)
        }
    }
}
