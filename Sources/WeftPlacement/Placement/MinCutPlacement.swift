import Foundation
import WeftRuntime

/// `min-cut`: the fewest bytes crossing workers under a compute balance bound.
///
/// Colocation groups become the vertices of an undirected graph (weight: estimated compute
/// seconds) whose edges carry the bytes of the tensors between groups, each tensor once per
/// consuming group; the objective is traffic, each tensor counted once per worker it is sent to
/// (`TensorNets`). Several whole partitions are made and the best is kept, alternating two
/// multilevel schemes: k-way (`MultilevelKWay`: the graph coarsened once, its coarsest split by
/// recursive bisection, the traffic refined at every level on the way back) and recursive
/// bisection of the whole graph (`MultilevelBisection`: heavy-edge, leaf and two-hop matching,
/// greedy graph growing, Fiduccia–Mattheyses refinement). Each is then improved by a k-way
/// V-cycle that keeps clusters inside their parts. A group that may use only some devices
/// is pinned to the side holding them. Each device's share of the compute stays within
/// `1 + imbalance` of the mean where the pinned groups allow.
public struct MinCutPlacement: PlacementStrategy {
    /// `min-cut`.
    public let name = "min-cut"
    /// The allowed excess of a device's compute over the mean: 0.05 is 5%.
    public var imbalance: Double

    /// Makes the strategy with a balance bound.
    public init(imbalance: Double = 0.05) {
        self.imbalance = imbalance
    }

    /// Partitions the groups over the devices.
    public func place(_ problem: PlacementProblem, options: PlacementOptions) throws(WeftError) -> [DeviceName] {
        let costs = CostGraph(problem: problem, options: options)
        let parts = try partition(costs, seed: options.seed)
        return parts.map { costs.devices[$0] }
    }

    /// The device index of every group.
    func partition(_ costs: CostGraph, seed: UInt64) throws(WeftError) -> [Int] {
        guard costs.deviceCount <= 64 else {
            throw WeftError(
                .unimplemented,
                "min-cut places on at most 64 devices; this cluster has \(costs.deviceCount)"
            )
        }
        let nets = TensorNets(costs)
        let graph = nets.graph(vertexWeight: Self.balanceWeights(costs))
        var masks = [UInt64](repeating: 0, count: graph.count)
        for group in 0..<graph.count {
            for device in costs.allowedDevices(of: group) {
                masks[group] |= 1 << UInt64(device)
            }
        }
        return Self.partition(
            graph,
            nets: nets,
            masks: masks,
            devices: costs.deviceCount,
            imbalance: imbalance,
            seed: seed
        )
    }

    /// The best of several multilevel partitions of `graph` over `devices` devices by the traffic
    /// of `nets` (the graph's edges when `nil`); `masks[v]` holds the devices vertex `v` may use.
    /// Balance: the k-way refinement moves vertices off any device above the bound and keeps
    /// every device within it; a partition with less weight above the bound wins over any traffic.
    static func partition(
        _ graph: WeightedGraph,
        nets: TensorNets? = nil,
        masks: [UInt64],
        devices: Int,
        imbalance: Double,
        seed: UInt64
    ) -> [Int] {
        var random = SplitMix64(seed: seed)
        let nets = nets ?? TensorNets(graph)
        let limit = (1 + imbalance) * graph.totalWeight / Double(devices)
        var best: (part: [Int], overload: Double, traffic: Int)?
        var kway = MultilevelKWay(devices: devices, imbalance: imbalance)
        if graph.count > largeGraph {
            // Fewer passes keep 100,000 groups within about half a second.
            (kway.passes, kway.plateauPasses) = (4, 1)
        }
        let tries = attempts(graph.count)
        for attempt in 0..<tries {
            var part: [Int]
            if attempt % 2 == 0 {
                part = kway.partition(graph, nets: nets, masks: masks, random: &random)
            } else {
                part = bisectRecursively(graph, masks: masks, devices: devices, imbalance: imbalance, random: &random)
            }
            if devices > 1 && graph.count <= largeGraph {
                // A V-cycle refines at every level; its finest level balances and refines the traffic.
                part = kway.improve(
                    part,
                    graph: graph,
                    nets: nets,
                    masks: masks,
                    random: &random
                )
            }
            // A lone attempt has nothing to be compared with.
            guard tries > 1 else { return part }
            var loads = [Double](repeating: 0, count: devices)
            for v in part.indices { loads[part[v]] += graph.vertexWeight[v] }
            let overload = loads.reduce(0) { $0 + max(0, $1 - limit) }
            let traffic = nets.traffic(part)
            if let kept = best, kept.overload < overload || (kept.overload == overload && kept.traffic <= traffic) {
                continue
            }
            best = (part, overload, traffic)
        }
        return best?.part ?? []
    }

    /// Graphs above this many groups get one attempt, with fewer refinement passes and no V-cycle.
    static let largeGraph = 50_000

    /// Whole partitions tried, each from its own random matchings and seeds; the best is kept.
    /// Partitions depend on their seeds more than on any one choice, so small graphs get many
    /// tries and large ones few, keeping 100,000 groups within about half a second.
    private static func attempts(_ vertices: Int) -> Int { min(32, max(1, 40_000 / max(vertices, 1))) }

    static func bisectRecursively(
        _ graph: WeightedGraph,
        masks: [UInt64],
        devices: Int,
        imbalance: Double,
        random: inout SplitMix64
    ) -> [Int] {
        var part = [Int](repeating: 0, count: graph.count)
        let depth = bitLength(devices - 1)
        let levelImbalance = pow(1 + imbalance, 1 / Double(depth)) - 1
        var work: [(graph: WeightedGraph, original: [Int], low: Int, high: Int)] = [
            (graph, Array(0..<graph.count), 0, devices)
        ]
        while let (current, original, low, high) = work.popLast() {
            guard high - low > 1 else {
                for v in original { part[v] = low }
                continue
            }
            let middle = low + (high - low) / 2
            let leftMask = bitRange(low, middle)
            let rightMask = bitRange(middle, high)
            let pin = original.map { v -> Int in
                masks[v] & leftMask == 0 ? 1 : (masks[v] & rightMask == 0 ? 0 : -1)
            }
            let bisection = MultilevelBisection(
                fraction: Double(middle - low) / Double(high - low),
                imbalance: levelImbalance
            )
            let side = bisection.bisect(current, pin: pin, random: &random)
            for half in 0...1 {
                let (subgraph, local) = current.induced(by: side.map { $0 == half })
                work.append((subgraph, local.map { original[$0] }, half == 0 ? low : middle, half == 0 ? middle : high))
            }
        }
        return part
    }

    /// Bits `low..<high` set.
    static func bitRange(_ low: Int, _ high: Int) -> UInt64 {
        let width = high - low
        let ones: UInt64 = width >= 64 ? ~0 : (1 << UInt64(width)) - 1
        return ones << UInt64(low)
    }

    /// The number of bits needed to write `value` (levels of a recursive bisection into value + 1 parts).
    private static func bitLength(_ value: Int) -> Int { value <= 0 ? 1 : Int.bitWidth - value.leadingZeroBitCount }

    /// The compute seconds of every group; balance needs positive weights, so a graph of
    /// measured zero costs balances by count.
    static func balanceWeights(_ costs: CostGraph) -> [Double] {
        let total = costs.groupCost.reduce(0, +)
        return total > 0 ? costs.groupCost : [Double](repeating: 1, count: costs.groupCost.count)
    }
}
