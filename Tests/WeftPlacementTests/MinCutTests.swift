import Testing
import WeftRuntime

@testable import Weft
@testable import WeftPlacement

/// `min-cut` on graphs with a planted partition whose cut is provably the smallest balanced one.
@Suite struct MinCutTests {
    /// `clusters` cliques of `size` vertices with edges of weight 10, joined in a ring by single
    /// edges of weight 1 (plus chords when `chords`). Any balanced split other than the planted
    /// one cuts at least `size - 1` clique edges (weight ≥ 10·(size-1)), more than every light
    /// edge together, so the planted cut is the optimum.
    static func planted(clusters: Int, size: Int, chords: Bool, seed: UInt64) -> (WeightedGraph, optimum: Int) {
        var random = SplitMix64(seed: seed)
        // Shuffle vertex numbers so the answer is not simply contiguous ranges.
        var label = Array(0..<clusters * size)
        for i in stride(from: label.count - 1, to: 0, by: -1) { label.swapAt(i, random.below(i + 1)) }
        var (from, to, weight) = ([Int](), [Int](), [Int]())
        func edge(_ a: Int, _ b: Int, _ w: Int) {
            from.append(label[a])
            to.append(label[b])
            weight.append(w)
        }
        for cluster in 0..<clusters {
            for a in 0..<size {
                for b in (a + 1)..<size { edge(cluster * size + a, cluster * size + b, 10) }
            }
        }
        var light = 0
        if clusters > 1 {
            for cluster in 0..<clusters {
                let next = (cluster + 1) % clusters
                guard next != cluster, clusters > 2 || cluster == 0 else { continue }
                edge(cluster * size + random.below(size), next * size + random.below(size), 1)
                light += 1
                if chords {
                    edge(cluster * size + random.below(size), next * size + random.below(size), 1)
                    light += 1
                }
            }
        }
        let graph = WeightedGraph(
            vertexWeight: [Double](repeating: 1, count: clusters * size),
            from: from,
            to: to,
            weights: weight
        )
        return (graph, light)
    }

    @Test(arguments: [(2, 8), (2, 40), (4, 10), (4, 60), (8, 30)])
    func plantedPartition_isFoundExactly(clusters: Int, size: Int) throws {
        for seed in UInt64(1)...3 {
            let (graph, optimum) = Self.planted(clusters: clusters, size: size, chords: true, seed: seed)
            let masks = [UInt64](repeating: (1 << UInt64(clusters)) - 1, count: graph.count)
            let part = MinCutPlacement.partition(graph, masks: masks, devices: clusters, imbalance: 0.05, seed: seed)
            #expect(graph.cut(part) == optimum, "\(clusters)×\(size), seed \(seed)")
            let sizes = (0..<clusters).map { device in part.filter { $0 == device }.count }
            #expect(sizes == [Int](repeating: size, count: clusters))
        }
    }

    @Test func pinnedVertices_stayOnTheirDevices() throws {
        let (graph, _) = Self.planted(clusters: 2, size: 10, chords: false, seed: 5)
        var masks = [UInt64](repeating: 0b11, count: graph.count)
        masks[0] = 0b10
        let part = MinCutPlacement.partition(graph, masks: masks, devices: 2, imbalance: 0.05, seed: 1)
        #expect(part[0] == 1)
        #expect(graph.cut(part) == 1)
    }

    @Test func sameSeed_samePartition() throws {
        let (graph, _) = Self.planted(clusters: 4, size: 30, chords: true, seed: 9)
        let masks = [UInt64](repeating: 0b1111, count: graph.count)
        let first = MinCutPlacement.partition(graph, masks: masks, devices: 4, imbalance: 0.05, seed: 42)
        let second = MinCutPlacement.partition(graph, masks: masks, devices: 4, imbalance: 0.05, seed: 42)
        #expect(first == second)
    }

    /// Two identical clusters of ops on 256-float tensors, each sending the other one scalar: the
    /// optimal cut is the two scalars, 8 bytes.
    @Test func plantedGraph_isSplitBetweenItsClusters() throws {
        let graph = Graph()
        graph.asDefault {
            func cluster(_ name: String) -> (last: Output, total: Output) {
                graph.nameScope(name) {
                    var values = [constant(Tensor([Float](repeating: 1, count: 256)), name: "c")]
                    values.append(values[0] * values[0])
                    for _ in 0..<6 { values.append(addN(Array(values.suffix(3)))) }
                    return (values.last!, sum(values.last!, axes: [0], name: "total"))
                }
            }
            let a = cluster("a")
            let b = cluster("b")
            _ = multiply(a.last, b.total, name: "a/cross")
            _ = multiply(b.last, a.total, name: "b/cross")
        }
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let devices = [DeviceName(job: "worker", task: 0), DeviceName(job: "worker", task: 1)]
        let placement = try PlacementStrategies.place(runtime, on: devices, strategy: MinCutPlacement())
        let a = placement.filter { $0.key.hasPrefix("a/") }.map(\.value)
        let b = placement.filter { $0.key.hasPrefix("b/") }.map(\.value)
        #expect(Set(a).count == 1 && Set(b).count == 1 && Set(a) != Set(b))
        let estimate = try PlacementStrategies.estimate(runtime, placement: placement, on: devices)
        #expect(estimate.bytesCrossing == 8)
        #expect(estimate.computeBalance < 1.05)
    }
}
