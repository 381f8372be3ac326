/// One coarsening step of the multilevel scheme: vertices are clustered and each cluster becomes
/// one coarse vertex.
///
/// Heavy-edge matching alone stalls on the graphs placement sees: a third of a model's groups are
/// weight leaves (degree 1) hanging off a few hubs, and once a hub is matched its leaves have no
/// free neighbour left. So, as METIS does, the step runs three passes:
/// 1. heavy-edge matching, in a random order;
/// 2. leaf absorption: an unmatched degree-1 vertex joins its neighbour's cluster, matched or not;
/// 3. two-hop matching: unmatched vertices whose heaviest neighbour is the same are paired.
///
/// A cluster never holds vertices pinned to different sides nor weighs more than `maxWeight`.
enum Coarsening {
    /// The coarse graph, its pins, and the coarse vertex of every fine vertex.
    static func match(
        _ graph: WeightedGraph,
        pin: [Int],
        maxWeight: Double,
        random: inout SplitMix64
    ) -> (graph: WeightedGraph, pin: [Int], map: [Int]) {
        var clusters = Clusters(graph: graph, pin: pin, maxWeight: maxWeight)
        clusters.matchHeavyEdges(random: &random)
        clusters.absorbLeaves()
        clusters.matchTwoHop()
        let (map, coarseCount) = clusters.numbered()
        var coarsePin = [Int](repeating: -1, count: coarseCount)
        for v in 0..<graph.count where pin[v] >= 0 { coarsePin[map[v]] = pin[v] }
        return (contract(graph, map: map, coarseCount: coarseCount), coarsePin, map)
    }

    /// The graph of the clusters, merging parallel edges with a marker array.
    private static func contract(_ graph: WeightedGraph, map: [Int], coarseCount: Int) -> WeightedGraph {
        // Fine vertices grouped by coarse vertex (a counting sort).
        var first = [Int](repeating: 0, count: coarseCount + 1)
        for v in 0..<graph.count { first[map[v] + 1] += 1 }
        for c in 0..<coarseCount { first[c + 1] += first[c] }
        var fill = first
        var members = [Int](repeating: 0, count: graph.count)
        for v in 0..<graph.count {
            members[fill[map[v]]] = v
            fill[map[v]] += 1
        }
        var weights = [Double](repeating: 0, count: coarseCount)
        var start = [Int](repeating: 0, count: coarseCount + 1)
        var neighbor: [Int] = []
        var edgeWeight: [Int] = []
        neighbor.reserveCapacity(graph.neighbor.count)
        edgeWeight.reserveCapacity(graph.neighbor.count)
        var slot = [Int](repeating: -1, count: coarseCount)
        for coarse in 0..<coarseCount {
            let firstEdge = neighbor.count
            for v in members[first[coarse]..<first[coarse + 1]] {
                weights[coarse] += graph.vertexWeight[v]
                for edge in graph.start[v]..<graph.start[v + 1] {
                    let target = map[graph.neighbor[edge]]
                    guard target != coarse else { continue }
                    if slot[target] >= firstEdge {
                        edgeWeight[slot[target]] += graph.edgeWeight[edge]
                    } else {
                        slot[target] = neighbor.count
                        neighbor.append(target)
                        edgeWeight.append(graph.edgeWeight[edge])
                    }
                }
            }
            start[coarse + 1] = neighbor.count
        }
        return WeightedGraph(vertexWeight: weights, start: start, neighbor: neighbor, edgeWeight: edgeWeight)
    }
}

/// Clusters under construction: every vertex points at its cluster's leader, and a leader holds
/// its cluster's weight, pin and size.
private struct Clusters {
    let graph: WeightedGraph
    let maxWeight: Double
    var leader: [Int]
    var weight: [Double]
    var pin: [Int]
    var size: [Int]

    init(graph: WeightedGraph, pin: [Int], maxWeight: Double) {
        self.graph = graph
        self.maxWeight = maxWeight
        leader = Array(0..<graph.count)
        weight = graph.vertexWeight
        self.pin = pin
        size = [Int](repeating: 1, count: graph.count)
    }

    /// Whether `v` is alone in its cluster.
    func isSingle(_ v: Int) -> Bool { leader[v] == v && size[v] == 1 }

    /// Whether the clusters led by `a` and `b` may merge.
    func canJoin(_ a: Int, _ b: Int) -> Bool {
        a != b && (pin[a] < 0 || pin[b] < 0 || pin[a] == pin[b]) && weight[a] + weight[b] <= maxWeight
    }

    /// Merges the single vertex `v` into the cluster led by `target`.
    mutating func join(_ v: Int, into target: Int) {
        leader[v] = target
        weight[target] += weight[v]
        size[target] += 1
        if pin[target] < 0 { pin[target] = pin[v] }
    }

    mutating func matchHeavyEdges(random: inout SplitMix64) {
        var order = Array(0..<graph.count)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, random.below(i + 1)) }
        for v in order where isSingle(v) {
            var best = -1
            var bestWeight = -1
            for edge in graph.start[v]..<graph.start[v + 1] {
                let u = graph.neighbor[edge]
                guard graph.edgeWeight[edge] > bestWeight, isSingle(u), canJoin(u, v) else { continue }
                best = u
                bestWeight = graph.edgeWeight[edge]
            }
            if best >= 0 { join(best, into: v) }
        }
    }

    mutating func absorbLeaves() {
        for v in 0..<graph.count where isSingle(v) && graph.start[v + 1] - graph.start[v] == 1 {
            let target = leader[graph.neighbor[graph.start[v]]]
            // Two leaves of each other (an isolated edge) pair once, not twice.
            if target != v && canJoin(target, v) { join(v, into: target) }
        }
    }

    /// Pairs the single vertices that share their heaviest neighbour, hub by hub.
    mutating func matchTwoHop() {
        var waiting = [Int](repeating: -1, count: graph.count)
        for v in 0..<graph.count where isSingle(v) {
            var hub = -1
            var hubWeight = -1
            for edge in graph.start[v]..<graph.start[v + 1] where graph.edgeWeight[edge] > hubWeight {
                hub = graph.neighbor[edge]
                hubWeight = graph.edgeWeight[edge]
            }
            guard hub >= 0 else { continue }
            let other = waiting[hub]
            if other >= 0 && isSingle(other) && canJoin(other, v) {
                join(v, into: other)
                waiting[hub] = -1
            } else {
                waiting[hub] = v
            }
        }
    }

    /// The coarse vertex of every vertex, numbered in the order of their leaders.
    func numbered() -> (map: [Int], count: Int) {
        var index = [Int](repeating: -1, count: graph.count)
        var count = 0
        for v in 0..<graph.count where leader[v] == v {
            index[v] = count
            count += 1
        }
        return (leader.map { index[$0] }, count)
    }
}
