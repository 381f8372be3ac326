/// Fiduccia–Mattheyses refinement of a bisection: in each pass, repeatedly move the unlocked
/// vertex of highest gain whose move keeps the balance bound, lock it, update its neighbours'
/// gains, and at the end of the pass roll back to the best prefix of moves. Only boundary
/// vertices enter the buckets (others join as the boundary moves), so a pass costs about the
/// boundary's size, not the graph's.
struct FiducciaMattheyses {
    let graph: WeightedGraph
    let pin: [Int]
    /// The most weight each side may hold.
    let limits: [Double]
    /// A pass ends after this many moves without a better cut.
    var patience: Int
    /// How far a side may go over its limit in the middle of a pass: one heaviest vertex, so
    /// that two vertices can trade places even when the bound leaves no room (Fiduccia and
    /// Mattheyses's own rule). Only states within the limits are kept at the end of a pass.
    private let slack: Double
    private var gain: [Int]
    /// Weight of every vertex's edges, and of those to the other side: kept from pass to pass,
    /// so a pass starts in time linear in the vertices, not the edges (coarse graphs are dense).
    private var edgeTotal: [Int]
    private var external: [Int]
    private var locked: [Bool]
    private var buckets: [GainBuckets]

    init(graph: WeightedGraph, pin: [Int], limits: [Double]) {
        self.graph = graph
        self.pin = pin
        self.limits = limits
        patience = min(graph.count, 150)
        slack = graph.vertexWeight.max() ?? 0
        gain = [Int](repeating: 0, count: graph.count)
        edgeTotal = [Int](repeating: 0, count: graph.count)
        external = [Int](repeating: 0, count: graph.count)
        locked = [Bool](repeating: false, count: graph.count)
        buckets = [GainBuckets(capacity: graph.count), GainBuckets(capacity: graph.count)]
    }

    /// The weight above the limits, summed over both sides.
    func overload(_ side: [Int]) -> Double {
        let weights = sideWeights(side)
        return max(0, weights[0] - limits[0]) + max(0, weights[1] - limits[1])
    }

    private func sideWeights(_ side: [Int]) -> [Double] {
        var weights = [0.0, 0.0]
        for v in 0..<graph.count { weights[side[v]] += graph.vertexWeight[v] }
        return weights
    }

    /// Runs up to `passes` passes, stopping at the first that gains nothing.
    mutating func refine(_ side: inout [Int], passes: Int) {
        for v in 0..<graph.count {
            (edgeTotal[v], external[v]) = (0, 0)
            for edge in graph.start[v]..<graph.start[v + 1] {
                edgeTotal[v] += graph.edgeWeight[edge]
                if side[graph.neighbor[edge]] != side[v] { external[v] += graph.edgeWeight[edge] }
            }
        }
        for _ in 0..<passes {
            guard pass(&side) else { return }
        }
    }

    /// One pass; whether it improved the partition.
    private mutating func pass(_ side: inout [Int]) -> Bool {
        var weights = sideWeights(side)
        let overloaded = weights[0] > limits[0] || weights[1] > limits[1]
        var cut = 0
        for v in 0..<graph.count {
            gain[v] = 2 * external[v] - edgeTotal[v]
            cut += external[v]
            locked[v] = false
            // When the sides are out of balance, interior vertices may have to move too.
            if pin[v] < 0 && (external[v] > 0 || overloaded) { buckets[side[v]].insert(v, gain: gain[v]) }
        }
        cut /= 2
        let startScore = Score(overload: Self.overload(weights, limits), cut: cut)
        var best = startScore
        var moves: [Int] = []
        var bestLength = 0
        while moves.count - bestLength < patience, let v = nextMove(side, weights) {
            let from = side[v]
            let to = 1 - from
            buckets[from].remove(v)
            locked[v] = true
            side[v] = to
            weights[from] -= graph.vertexWeight[v]
            weights[to] += graph.vertexWeight[v]
            cut -= gain[v]
            moves.append(v)
            updateNeighbours(of: v, side)
            let score = Score(overload: Self.overload(weights, limits), cut: cut)
            if score < best {
                best = score
                bestLength = moves.count
            }
        }
        for v in moves[bestLength...].reversed() { side[v] = 1 - side[v] }
        applyToExternal(moves[..<bestLength], &side)
        buckets[0].removeAll()
        buckets[1].removeAll()
        return best < startScore
    }

    /// The best move from either side that keeps (or restores) the balance.
    private mutating func nextMove(_ side: [Int], _ weights: [Double]) -> Int? {
        let fromZero = candidate(from: 0, weights)
        let fromOne = candidate(from: 1, weights)
        switch (fromZero, fromOne) {
        case (nil, nil): return nil
        case (let a?, nil): return a
        case (nil, let b?): return b
        case (let a?, let b?):
            if gain[a] != gain[b] { return gain[a] > gain[b] ? a : b }
            // Equal gains: move off the side that is fuller relative to its limit.
            return weights[0] / limits[0] >= weights[1] / limits[1] ? a : b
        }
    }

    private mutating func candidate(from: Int, _ weights: [Double]) -> Int? {
        let to = 1 - from
        let (graph, limits, slack) = (self.graph, self.limits, self.slack)
        return buckets[from].best(limit: 16) { v in
            let w = graph.vertexWeight[v]
            // Within the bound and its slack, or moving weight off a side that is over its own.
            return weights[to] + w <= limits[to] + slack
                || (weights[from] > limits[from] && weights[to] + w < weights[from])
        }
    }

    /// Brings `external` up to date with the kept moves, replaying them in order from the pass's
    /// start: each move turns its edges to its new side internal and the others external.
    private mutating func applyToExternal(_ kept: ArraySlice<Int>, _ side: inout [Int]) {
        for v in kept { side[v] = 1 - side[v] }
        for v in kept {
            side[v] = 1 - side[v]
            for edge in graph.start[v]..<graph.start[v + 1] {
                let u = graph.neighbor[edge]
                let change = side[u] == side[v] ? -graph.edgeWeight[edge] : graph.edgeWeight[edge]
                external[u] += change
                external[v] += change
            }
        }
    }

    private mutating func updateNeighbours(of v: Int, _ side: [Int]) {
        for edge in graph.start[v]..<graph.start[v + 1] {
            let u = graph.neighbor[edge]
            guard !locked[u], pin[u] < 0 else { continue }
            // v joined u's side: their edge is now internal to u; else it just became external.
            gain[u] += side[u] == side[v] ? -2 * graph.edgeWeight[edge] : 2 * graph.edgeWeight[edge]
            if buckets[side[u]].contains(u) {
                buckets[side[u]].update(u, gain: gain[u])
            } else {
                buckets[side[u]].insert(u, gain: gain[u])
            }
        }
    }

    private static func overload(_ weights: [Double], _ limits: [Double]) -> Double {
        max(0, weights[0] - limits[0]) + max(0, weights[1] - limits[1])
    }

    /// Less overload first, then a smaller cut.
    private struct Score: Comparable {
        var overload: Double
        var cut: Int

        static func < (a: Score, b: Score) -> Bool {
            // Overloads within a rounding error count as equal.
            if abs(a.overload - b.overload) > 1e-12 * max(1, abs(a.overload) + abs(b.overload)) {
                return a.overload < b.overload
            }
            return a.cut < b.cut
        }
    }
}
