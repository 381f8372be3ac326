import Testing
import WeftRuntime

@testable import Weft
@testable import WeftPlacement

/// `min-cut` on the shapes model graphs have (weight leaves, hubs), its balance bound at every
/// device count, and its traffic objective.
@Suite struct MinCutTrafficTests {
    /// Coarsens as a bisection does and returns the coarsest graph's size.
    static func coarsestSize(_ graph: WeightedGraph) -> Int {
        var random = SplitMix64(seed: 3)
        let bisection = MultilevelBisection(fraction: 0.5, imbalance: 0.05)
        let pin = [Int](repeating: -1, count: graph.count)
        return bisection.coarsen(graph, pin: pin, random: &random).coarsest.graph.count
    }

    static func graph(_ count: Int, edges: [(Int, Int, Int)], weight: (Int) -> Double = { _ in 1 }) -> WeightedGraph {
        WeightedGraph(
            vertexWeight: (0..<count).map(weight),
            from: edges.map(\.0),
            to: edges.map(\.1),
            weights: edges.map(\.2)
        )
    }

    /// One hub and 2,000 leaves: heavy-edge matching pairs the hub once and stops there.
    @Test func star_coarsensToNearTheTarget() {
        let star = Self.graph(2_001, edges: (1...2_000).map { (0, $0, 1 + $0 % 7) })
        #expect(Self.coarsestSize(star) <= 2 * MultilevelBisection(fraction: 0.5, imbalance: 0.05).coarsestSize)
    }

    /// A chain of 200 layers, each with 15 weight leaves (a third of a model's groups are such
    /// leaves) and a wide hub every 20 layers.
    @Test func leavesAndHubs_coarsenToNearTheTarget() {
        var edges: [(Int, Int, Int)] = []
        let layers = 200
        let leaves = 15
        for layer in 0..<layers {
            if layer > 0 { edges.append((layer - 1, layer, 4_096)) }
            for leaf in 0..<leaves { edges.append((layers + layer * leaves + leaf, layer, 16_384)) }
            if layer % 20 != 0 { edges.append((layer - layer % 20, layer, 64)) }
        }
        let graph = Self.graph(layers * (1 + leaves), edges: edges)
        #expect(Self.coarsestSize(graph) <= 2 * MultilevelBisection(fraction: 0.5, imbalance: 0.05).coarsestSize)
    }

    /// A random layered DAG with leaves and uneven vertex weights.
    static func layeredDAG(vertices: Int, seed: UInt64) -> WeightedGraph {
        var random = SplitMix64(seed: seed)
        let width = 20
        var edges: [(Int, Int, Int)] = []
        for v in width..<vertices {
            let layerStart = v - v % width
            for _ in 0..<(random.below(3) + 1) {
                let u = layerStart - width + random.below(width)
                edges.append((u, v, 1 + random.below(10_000)))
            }
            if random.below(3) == 0 { edges.append((v, vertices + v, 1 + random.below(100_000))) }
        }
        let weights = (0..<(2 * vertices)).map { _ in Double(1 + random.below(50)) }
        return Self.graph(2 * vertices, edges: edges) { weights[$0] }
    }

    @Test(arguments: [2, 3, 4, 8])
    func balanceBound_holdsAtEveryDeviceCount(devices: Int) {
        for seed in UInt64(1)...3 {
            let graph = Self.layeredDAG(vertices: 3_000, seed: seed)
            let masks = [UInt64](repeating: (1 << UInt64(devices)) - 1, count: graph.count)
            let part = MinCutPlacement.partition(graph, masks: masks, devices: devices, imbalance: 0.05, seed: seed)
            var loads = [Double](repeating: 0, count: devices)
            for v in 0..<graph.count { loads[part[v]] += graph.vertexWeight[v] }
            let mean = graph.totalWeight / Double(devices)
            #expect(loads.max()! <= 1.05 * mean + 1e-9, "\(devices) devices, seed \(seed): \(loads)")
        }
    }

    /// A tensor read on three workers other than its producer's is sent three times, once to
    /// each, however many nodes read it there.
    @Test func traffic_countsATensorOncePerDestination() {
        let nets = TensorNets(vertexCount: 6, nets: [(pins: [0, 1, 2, 3, 4, 5, 5], bytes: 100), (pins: [1, 1], bytes: 7)])
        #expect(nets.count == 1)
        #expect(nets.traffic([0, 1, 1, 2, 2, 3]) == 300)
        #expect(nets.traffic([0, 0, 0, 0, 0, 0]) == 0)
        #expect(nets.traffic([0, 1, 1, 1, 1, 1]) == 100)
    }

    /// One constant read by ten ops: the bisection graph has one edge per consuming group, and
    /// the placement found sends the constant at most once.
    @Test func costGraphNets_haveOnePinPerGroup() throws {
        let graph = Graph()
        graph.asDefault {
            let shared = constant(Tensor([Float](repeating: 1, count: 1_024)), name: "shared")
            for index in 0..<10 { _ = sum(shared * shared, axes: [0], name: "reader\(index)") }
        }
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let devices = [DeviceName(job: "worker", task: 0), DeviceName(job: "worker", task: 1)]
        let problem = try PlacementProblem(graph: runtime, devices: devices)
        let costs = CostGraph(problem: problem, options: PlacementOptions())
        let nets = TensorNets(costs)
        let sharedGroup = costs.groupOfNode[try runtime.node(named: "shared")]
        let sharedNets = (0..<nets.count).filter { nets.pins[nets.pinStart[$0]] == sharedGroup }
        #expect(sharedNets.count == 1)
        // The producer and the ten multiplications, each listed once although each reads it twice.
        #expect(sharedNets.map { nets.pinStart[$0 + 1] - nets.pinStart[$0] } == [11])
        let part = try MinCutPlacement().partition(costs, seed: 1)
        // The constant crosses at most once (4 KB); the rest are the four-byte reduction axes.
        #expect(nets.traffic(part) < 2 * 4_096)
    }
}
