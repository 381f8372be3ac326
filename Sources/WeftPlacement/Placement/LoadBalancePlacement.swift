import HeapModule
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
        var loads = DeviceLoads(costs: costs, limits: costs.memoryLimits(options))
        var chosen = [Int](repeating: -1, count: problem.groups.count)
        for group in problem.groups.indices where costs.pinned[group] >= 0 {
            chosen[group] = costs.pinned[group]
            loads.add(group, to: chosen[group])
        }
        let open = problem.groups.indices.filter { chosen[$0] < 0 }.sorted {
            (costs.groupCost[$0], -$0) > (costs.groupCost[$1], -$1)
        }
        for group in open {
            chosen[group] = costs.allowsEveryListed[group] ? loads.bestListed(for: group) : loads.best(for: group)
            loads.add(group, to: chosen[group])
        }
        return chosen.map { costs.devices[$0] }
    }
}

/// The compute and memory given to every device so far, and the least loaded listed devices of
/// each compute class in a heap: a group that may use any listed device finds its device in
/// O(classes · log devices) rather than by a scan of all of them.
private struct DeviceLoads {
    /// A device as its class's heap last saw it; stale once the device's load has grown since.
    struct Entry: Comparable {
        var load: Double
        var device: Int

        static func < (a: Entry, b: Entry) -> Bool { (a.load, a.device) < (b.load, b.device) }
    }

    /// A device and the step it would finish the group at.
    typealias Choice = (device: Int, finish: Double, roomy: Bool)

    let costs: CostGraph
    let limits: [Int]
    /// Compute seconds of every group in every class (`CostGraph.groupClassCosts`).
    let groupCost: [Double]
    var load: [Double]
    var memory: [Int]
    var heaps: [Heap<Entry>]

    init(costs: CostGraph, limits: [Int]) {
        self.costs = costs
        self.limits = limits
        groupCost = costs.groupClassCosts()
        load = [Double](repeating: 0, count: costs.deviceCount)
        memory = [Int](repeating: 0, count: costs.deviceCount)
        heaps = [Heap<Entry>](repeating: Heap(), count: costs.computeClassCount)
        for device in 0..<costs.listedCount {
            heaps[costs.computeClassOfDevice[device]].insert(Entry(load: 0, device: device))
        }
    }

    func seconds(_ group: Int, on device: Int) -> Double {
        groupCost[group * costs.computeClassCount + costs.computeClassOfDevice[device]]
    }

    func isRoomy(_ device: Int, for group: Int) -> Bool {
        limits[device] - memory[device] >= costs.groupBytes[group]
    }

    mutating func add(_ group: Int, to device: Int) {
        load[device] += seconds(group, on: device)
        memory[device] += costs.groupBytes[group]
        if device < costs.listedCount {
            heaps[costs.computeClassOfDevice[device]].insert(Entry(load: load[device], device: device))
        }
    }

    /// A device with room beats one without; then the earliest finish; then the lower index.
    static func isBetter(_ a: Choice, than b: Choice?) -> Bool {
        guard let b else { return true }
        if a.roomy != b.roomy { return a.roomy }
        return (a.finish, a.device) < (b.finish, b.device)
    }

    /// The best listed device for a group that may use any of them: each class's best, compared.
    mutating func bestListed(for group: Int) -> Int {
        var best: Choice?
        for computeClass in heaps.indices {
            guard let (device, roomy) = leastLoaded(in: computeClass, for: group) else { continue }
            let choice = (device, load[device] + seconds(group, on: device), roomy)
            if Self.isBetter(choice, than: best) { best = choice }
        }
        return best?.device ?? 0
    }

    /// The least loaded device of a class with room for the group, else the least loaded one.
    /// Entries popped on the way go back; stale ones are dropped.
    private mutating func leastLoaded(in computeClass: Int, for group: Int) -> (device: Int, roomy: Bool)? {
        var popped: [Entry] = []
        var found: (device: Int, roomy: Bool)?
        while let entry = heaps[computeClass].popMin() {
            guard entry.load == load[entry.device] else { continue }
            popped.append(entry)
            if isRoomy(entry.device, for: group) {
                found = (entry.device, true)
                break
            }
        }
        for entry in popped { heaps[computeClass].insert(entry) }
        return found ?? popped.first.map { ($0.device, false) }
    }

    /// The best of the devices a constrained group may use, by a scan of them.
    func best(for group: Int) -> Int {
        var best: Choice?
        for device in costs.allowedDevices(of: group) {
            let choice = (device, load[device] + seconds(group, on: device), isRoomy(device, for: group))
            if Self.isBetter(choice, than: best) { best = choice }
        }
        return best?.device ?? 0
    }
}
