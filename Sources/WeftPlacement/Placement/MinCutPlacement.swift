import Foundation
import WeftRuntime

/// `min-cut`: the fewest bytes crossing workers under a compute balance bound.
///
/// Colocation groups become the vertices of an undirected graph (weight: estimated compute
/// seconds) whose edges carry the bytes of the tensors between groups. Devices are split by
/// recursive bisection, each bisection multilevel (`MultilevelBisection`: heavy-edge matching,
/// greedy graph growing, Fiduccia–Mattheyses refinement). A group that may use only some devices
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
        let graph = Self.groupGraph(costs)
        var masks = [UInt64](repeating: 0, count: graph.count)
        for group in 0..<graph.count {
            for device in 0..<costs.deviceCount where costs.allowed[group * costs.deviceCount + device] {
                masks[group] |= 1 << UInt64(device)
            }
        }
        return Self.partition(graph, masks: masks, devices: costs.deviceCount, imbalance: imbalance, seed: seed)
    }

    /// Recursive bisection of `graph` over `devices` devices; `masks[v]` holds the devices vertex
    /// `v` may use. Balance: each level gets an equal share of the bound, so the product of the
    /// levels' excesses stays within `1 + imbalance`.
    static func partition(
        _ graph: WeightedGraph,
        masks: [UInt64],
        devices: Int,
        imbalance: Double,
        seed: UInt64
    ) -> [Int] {
        var part = [Int](repeating: 0, count: graph.count)
        var random = SplitMix64(seed: seed)
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
    private static func bitRange(_ low: Int, _ high: Int) -> UInt64 {
        let width = high - low
        let ones: UInt64 = width >= 64 ? ~0 : (1 << UInt64(width)) - 1
        return ones << UInt64(low)
    }

    /// The number of bits needed to write `value` (levels of a recursive bisection into value + 1 parts).
    private static func bitLength(_ value: Int) -> Int { value <= 0 ? 1 : Int.bitWidth - value.leadingZeroBitCount }

    /// Groups as vertices, tensors between groups as edges (bytes per consumer edge).
    static func groupGraph(_ costs: CostGraph) -> WeightedGraph {
        let groupOf = costs.groupOfNode
        var sources: [Int] = []
        var targets: [Int] = []
        var weights: [Int] = []
        let edges = costs.predecessorNode.count
        sources.reserveCapacity(edges)
        targets.reserveCapacity(edges)
        weights.reserveCapacity(edges)
        for consumer in 0..<costs.nodeCount {
            for edge in costs.predecessorStart[consumer]..<costs.predecessorStart[consumer + 1] {
                let producer = costs.predecessorNode[edge]
                guard groupOf[producer] != groupOf[consumer] else { continue }
                sources.append(groupOf[producer])
                targets.append(groupOf[consumer])
                weights.append(costs.predecessorBytes[edge])
            }
        }
        // Balance needs positive weights; a graph of measured zero costs balances by count.
        let total = costs.groupCost.reduce(0, +)
        let vertexWeight = total > 0 ? costs.groupCost : [Double](repeating: 1, count: costs.groupCost.count)
        return WeightedGraph(vertexWeight: vertexWeight, from: sources, to: targets, weights: weights)
    }
}
