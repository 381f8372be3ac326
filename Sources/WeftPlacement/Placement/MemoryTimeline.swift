/// Bytes every device holds over a simulated step while list scheduling proceeds, so a memory
/// limit is honoured as nodes are scheduled (Baechi's m-ETF rule, Jeon et al., SoCC 2020) rather
/// than checked afterwards.
///
/// A device holds its groups' persistent bytes (variables, constants) for the whole step, and
/// each tensor from when it is produced there (or arrives there) until its last consumer there
/// finishes. While some consumer of a tensor is not scheduled yet, its intervals stay open (to
/// the end of time), so every check is against an upper bound of the final figure: a schedule
/// whose every step passed the check ends within the limits. The intervals are those
/// `PlacementEstimate` counts for its peak memory, so a placement replayed by the estimate
/// shows the peak the scheduler held to.
struct MemoryTimeline {
    /// Bytes live on one device from `start` to `end` (infinite while open).
    private struct Interval {
        var start: Double
        var end: Double
        var bytes: Int
    }

    /// Why a node fits nowhere: the device that came closest, and what it would need there.
    struct Shortfall: Error {
        var node: Int
        var device: Int
        var neededBytes: Int
        var persistentBytes: Int
    }

    let costs: CostGraph
    /// Bytes each device may hold.
    let limits: [Int]
    /// Persistent bytes of the groups placed on every device.
    private(set) var persistent: [Int]
    /// The highest live bytes on every device so far (an upper bound once intervals close).
    private var peakLive: [Int]
    private var intervals: [[Interval]]
    /// `slot[producer * deviceCount + device]`: the index of the producer's interval there, or -1.
    private var slot: [Int]
    /// When the producer's tensor is last used on each device so far.
    private var lastUse: [Double]
    /// Data edges from each producer to consumers not yet scheduled.
    private var remaining: [Int]
    /// Events of one peak computation, kept to avoid allocating per check.
    private var events: [(time: Double, bytes: Int)] = []

    init(costs: CostGraph, active: [Bool]?, limits: [Int]) {
        self.costs = costs
        self.limits = limits
        let deviceCount = costs.deviceCount
        persistent = [Int](repeating: 0, count: deviceCount)
        peakLive = [Int](repeating: 0, count: deviceCount)
        intervals = [[Interval]](repeating: [], count: deviceCount)
        slot = [Int](repeating: -1, count: costs.nodeCount * deviceCount)
        lastUse = [Double](repeating: -1, count: costs.nodeCount * deviceCount)
        remaining = [Int](repeating: 0, count: costs.nodeCount)
        for consumer in 0..<costs.nodeCount where active?[consumer] ?? true {
            for edge in costs.predecessorStart[consumer]..<costs.predecessorStart[consumer + 1]
            where costs.predecessorTensor[edge] >= 0 {
                remaining[costs.predecessorNode[edge]] += 1
            }
        }
    }

    /// Whether a device-resident tensor of `producer` is counted: persistent outputs are counted
    /// as persistent bytes at home, and empty outputs hold nothing.
    private func holdsTensor(_ producer: Int) -> Bool {
        costs.allocatedBytes[producer] > 0 && costs.persistentBytes[producer] == 0
    }

    /// The intervals `node` would add on `device` finishing at `finish`: copies of inputs made on
    /// other devices (arriving when `arrival` of the producer's first edge says), and its own outputs.
    private func newIntervals(
        _ node: Int,
        on device: Int,
        finish: Double,
        homeOf: (Int) -> Int,
        arrival: (_ edge: Int) -> Double
    ) -> [Interval] {
        let deviceCount = costs.deviceCount
        var added: [Interval] = []
        var seen: [Int] = []
        for edge in costs.predecessorStart[node]..<costs.predecessorStart[node + 1]
        where costs.predecessorTensor[edge] >= 0 {
            let producer = costs.predecessorNode[edge]
            guard homeOf(producer) != device, costs.allocatedBytes[producer] > 0,
                slot[producer * deviceCount + device] < 0, !seen.contains(producer)
            else { continue }
            seen.append(producer)
            let uses = (costs.predecessorStart[node]..<costs.predecessorStart[node + 1]).filter {
                costs.predecessorNode[$0] == producer && costs.predecessorTensor[$0] >= 0
            }.count
            let start = arrival(edge)
            let end = remaining[producer] == uses ? max(finish, start) : .infinity
            added.append(Interval(start: start, end: end, bytes: costs.allocatedBytes[producer]))
        }
        if holdsTensor(node) {
            let end = remaining[node] == 0 ? finish : .infinity
            added.append(Interval(start: finish, end: end, bytes: costs.allocatedBytes[node]))
        }
        return added
    }

    /// The bytes `device` would need at its peak if `node` ran there finishing at `finish`
    /// (`groupBytes` being the persistent bytes its group would bring).
    mutating func need(
        _ node: Int,
        on device: Int,
        finish: Double,
        groupBytes: Int,
        homeOf: (Int) -> Int,
        arrival: (_ edge: Int) -> Double
    ) -> Int {
        let added = newIntervals(node, on: device, finish: finish, homeOf: homeOf, arrival: arrival)
        let base = persistent[device] + groupBytes
        let earlier = groupBytes > 0 ? peakLive[device] : 0
        guard let from = added.map(\.start).min() else { return base + earlier }
        // Cheap bound first: everything overlapping [from, ∞) at once.
        var bound = added.reduce(0) { $0 + $1.bytes }
        for interval in intervals[device] where interval.end >= from { bound += interval.bytes }
        if base + max(earlier, bound) <= limits[device] { return base + max(earlier, bound) }
        return base + max(earlier, peak(on: device, from: from, adding: added))
    }

    /// Records `node` on `device` finishing at `finish`, once its inputs' transfers are booked.
    mutating func commit(
        _ node: Int,
        on device: Int,
        finish: Double,
        groupBytes: Int,
        homeOf: (Int) -> Int,
        arrival: (_ edge: Int) -> Double
    ) {
        let deviceCount = costs.deviceCount
        let added = newIntervals(node, on: device, finish: finish, homeOf: homeOf, arrival: arrival)
        persistent[device] += groupBytes
        if let from = added.map(\.start).min() {
            peakLive[device] = max(peakLive[device], peak(on: device, from: from, adding: added))
        }
        for edge in costs.predecessorStart[node]..<costs.predecessorStart[node + 1]
        where costs.predecessorTensor[edge] >= 0 {
            let producer = costs.predecessorNode[edge]
            let key = producer * deviceCount + device
            if homeOf(producer) != device, costs.allocatedBytes[producer] > 0, slot[key] < 0 {
                slot[key] = intervals[device].count
                intervals[device].append(
                    Interval(start: arrival(edge), end: .infinity, bytes: costs.allocatedBytes[producer])
                )
            }
            lastUse[key] = max(lastUse[key], finish)
            remaining[producer] -= 1
            if remaining[producer] == 0 { close(producer) }
        }
        if holdsTensor(node) {
            slot[node * deviceCount + device] = intervals[device].count
            intervals[device].append(Interval(start: finish, end: .infinity, bytes: costs.allocatedBytes[node]))
        }
        lastUse[node * deviceCount + device] = finish
        if remaining[node] == 0 { close(node) }
    }

    /// Ends every interval of `producer`'s tensor at its last use on that device.
    private mutating func close(_ producer: Int) {
        let deviceCount = costs.deviceCount
        for device in 0..<deviceCount {
            let index = slot[producer * deviceCount + device]
            guard index >= 0 else { continue }
            let start = intervals[device][index].start
            intervals[device][index].end = max(start, lastUse[producer * deviceCount + device])
        }
    }

    private mutating func addEvents(of interval: Interval, from: Double) {
        events.append((max(interval.start, from), interval.bytes))
        if interval.end.isFinite { events.append((interval.end, -interval.bytes)) }
    }

    /// The most live bytes at once on `device` from `from` on, with `added` intervals as well.
    private mutating func peak(on device: Int, from: Double, adding added: [Interval]) -> Int {
        events.removeAll(keepingCapacity: true)
        for interval in intervals[device] where interval.end >= from { addEvents(of: interval, from: from) }
        for interval in added { addEvents(of: interval, from: from) }
        return MemoryTimeline.peak(sorting: &events)
    }

    /// The most bytes alive at once over `events` (allocations positive, frees negative),
    /// which it sorts by time. Allocations come before frees at one instant: a tensor used at
    /// once still counts.
    static func peak(sorting events: inout [(time: Double, bytes: Int)]) -> Int {
        events.sort { $0.time != $1.time ? $0.time < $1.time : $0.bytes > $1.bytes }
        var current = 0
        var highest = 0
        for event in events {
            current += event.bytes
            highest = max(highest, current)
        }
        return highest
    }
}
