/// Splits a weighted graph in two with a small cut under a balance bound, the multilevel way
/// (Karypis and Kumar's METIS scheme): coarsen (`Coarsening`: heavy-edge, leaf and two-hop
/// matching) down to `coarsestSize` vertices, bisect the coarsest graph
/// by greedy graph growing (best of several seeded tries), then project back level by level,
/// refining with Fiduccia–Mattheyses at every level.
///
/// `pin[v]` is -1 for a free vertex, or the side (0 or 1) it must take. Side 0 should get
/// `fraction` of the weight, each side at most `1 + imbalance` times its share; when pinned
/// weight makes that impossible, the refiner minimises the overload first and the cut second.
struct MultilevelBisection {
    let fraction: Double
    let imbalance: Double
    /// Stop coarsening at this many vertices.
    var coarsestSize = 120
    /// Seeded tries of the initial bisection.
    var tries = 8
    /// Whole multilevel runs (coarsening included) whose best bisection is kept.
    var cycles = 2

    init(fraction: Double, imbalance: Double) {
        self.fraction = fraction
        self.imbalance = imbalance
    }

    /// A coarsening level: a graph, its pins, and the vertex of the next coarser graph that each
    /// of its vertices became.
    typealias Level = (graph: WeightedGraph, pin: [Int], map: [Int])

    /// The side of every vertex: the best of `cycles` multilevel runs, each with its own
    /// random matchings (fewer overloaded weight first, then a smaller cut).
    func bisect(_ graph: WeightedGraph, pin: [Int], random: inout SplitMix64) -> [Int] {
        guard graph.count > 0 else { return [] }
        let total = graph.totalWeight
        let limits = [(1 + imbalance) * fraction * total, (1 + imbalance) * (1 - fraction) * total]
        let scorer = FiducciaMattheyses(graph: graph, pin: pin, limits: limits)
        var best: (side: [Int], overload: Double, cut: Int)?
        for _ in 0..<max(cycles, 1) {
            let side = cycle(graph, pin: pin, limits: limits, random: &random)
            let (overload, cut) = (scorer.overload(side), graph.cut(side))
            if let kept = best, kept.overload < overload || (kept.overload == overload && kept.cut <= cut) { continue }
            best = (side, overload, cut)
        }
        return best?.side ?? []
    }

    /// Coarsens, bisects the coarsest graph, and projects back with refinement.
    private func cycle(_ graph: WeightedGraph, pin: [Int], limits: [Double], random: inout SplitMix64) -> [Int] {
        let (levels, coarsest) = coarsen(graph, pin: pin, random: &random)
        var side = initialBisection(coarsest.graph, pin: coarsest.pin, limits: limits, random: &random)
        for level in levels.reversed() {
            side = level.map.map { side[$0] }
            var refiner = FiducciaMattheyses(graph: level.graph, pin: level.pin, limits: limits)
            refiner.refine(&side, passes: 6)
        }
        return side
    }

    /// The levels from `graph` down to at most `coarsestSize` vertices (or until a level stalls),
    /// and the coarsest graph with its pins.
    func coarsen(
        _ graph: WeightedGraph,
        pin: [Int],
        random: inout SplitMix64
    ) -> (levels: [Level], coarsest: (graph: WeightedGraph, pin: [Int])) {
        var levels: [Level] = []
        var current = (graph: graph, pin: pin)
        // METIS's bound on coarse vertex weight, so the coarsest graph can still be balanced.
        let maxWeight = 1.5 * graph.totalWeight / Double(coarsestSize)
        while current.graph.count > coarsestSize {
            let coarse = Coarsening.match(current.graph, pin: current.pin, maxWeight: maxWeight, random: &random)
            // Leaf and two-hop matching keep levels shrinking; stop only when a level stalls.
            guard coarse.graph.count < current.graph.count - current.graph.count / 50 else { break }
            levels.append((current.graph, current.pin, coarse.map))
            current = (coarse.graph, coarse.pin)
        }
        return (levels, current)
    }

    /// Greedy graph growing, refined by FM; the best of `tries`. Tries alternate the side that
    /// grows, so a region holding vertices pinned to one side can grow as that side; the first
    /// try of each side grows from its pinned vertices when it has some, the others from a
    /// random seed.
    private func initialBisection(
        _ graph: WeightedGraph,
        pin: [Int],
        limits: [Double],
        random: inout SplitMix64
    ) -> [Int] {
        var best: [Int] = []
        var bestScore = (overload: Double.infinity, cut: Int.max)
        let shares = [fraction * graph.totalWeight, (1 - fraction) * graph.totalWeight]
        var refiner = FiducciaMattheyses(graph: graph, pin: pin, limits: limits)
        for attempt in 0..<tries {
            let growing = attempt % 2
            var side = grow(
                graph,
                pin: pin,
                side: growing,
                target: shares[growing],
                limit: limits[growing],
                fromPins: attempt < 2,
                random: &random
            )
            refiner.refine(&side, passes: 8)
            let score = (overload: refiner.overload(side), cut: graph.cut(side))
            if score.overload < bestScore.overload
                || (score.overload == bestScore.overload && score.cut < bestScore.cut)
            {
                best = side
                bestScore = score
            }
        }
        return best
    }

    /// Everything starts on the other side (but vertices pinned to `grown`); side `grown` grows
    /// from its pinned vertices, or from a random free seed, by repeatedly taking the vertex most
    /// connected to it, until it holds `target`.
    func grow(
        _ graph: WeightedGraph,
        pin: [Int],
        side grown: Int,
        target: Double,
        limit: Double,
        fromPins: Bool,
        random: inout SplitMix64
    ) -> [Int] {
        var side = pin.map { $0 == grown ? grown : 1 - grown }
        var weight = 0.0
        for v in 0..<graph.count where side[v] == grown { weight += graph.vertexWeight[v] }
        // Gain of moving v to the growing side: its edges there minus its other edges.
        var gain = [Int](repeating: 0, count: graph.count)
        for v in 0..<graph.count {
            for edge in graph.start[v]..<graph.start[v + 1] {
                gain[v] += side[graph.neighbor[edge]] != side[v] ? graph.edgeWeight[edge] : -graph.edgeWeight[edge]
            }
        }
        var buckets = GainBuckets(capacity: graph.count)
        let free = (0..<graph.count).filter { pin[$0] < 0 }
        guard !free.isEmpty else { return side }
        // A random seed goes first whatever its gain: it decides which region the side grows into.
        let seed = fromPins && weight > 0 ? -1 : free[random.below(free.count)]
        if seed >= 0 { buckets.insert(seed, gain: Int.max / 4) }
        for v in free where v != seed { buckets.insert(v, gain: gain[v]) }
        while weight < target {
            guard let v = buckets.best(limit: 32, { weight + graph.vertexWeight[$0] <= limit }) else { break }
            buckets.remove(v)
            side[v] = grown
            weight += graph.vertexWeight[v]
            for edge in graph.start[v]..<graph.start[v + 1] {
                let u = graph.neighbor[edge]
                gain[u] += 2 * graph.edgeWeight[edge]
                if buckets.contains(u) { buckets.update(u, gain: gain[u]) }
            }
        }
        return side
    }
}
