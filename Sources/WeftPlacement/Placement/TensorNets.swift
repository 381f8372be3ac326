/// The traffic of a placement as a hypergraph over groups: one net per tensor (and one per
/// node's control outputs), holding the producer's group and every consumer's group, weighted by
/// the tensor's bytes. A step sends a tensor once to every other worker that consumes it, so a
/// placement's traffic is the sum over nets of bytes × (workers the net touches − 1): the
/// connectivity − 1 metric of hypergraph partitioning, which `min-cut` minimises.
struct TensorNets {
    /// Bytes of every net.
    var netWeight: [Int]
    /// The pins (groups) of net `n` are `pins[pinStart[n]..<pinStart[n + 1]]`, producer first.
    var pinStart: [Int]
    var pins: [Int]
    /// The nets of vertex `v` are `nets[netStart[v]..<netStart[v + 1]]`.
    var netStart: [Int]
    var nets: [Int]
    /// The number of vertices (groups).
    let vertexCount: Int

    /// The number of nets.
    var count: Int { netWeight.count }

    /// Nets given as pin lists; a pin repeated in a net counts once, and nets of one pin are dropped.
    init(vertexCount: Int, nets given: [(pins: [Int], bytes: Int)]) {
        var builder = Builder(vertexCount: vertexCount)
        for net in given { builder.add(pins: net.pins, bytes: net.bytes) }
        self = builder.build()
    }

    fileprivate init(vertexCount: Int, netWeight: [Int], pinStart: [Int], pins: [Int]) {
        self.vertexCount = vertexCount
        self.netWeight = netWeight
        self.pinStart = pinStart
        self.pins = pins
        var start = [Int](repeating: 0, count: vertexCount + 1)
        for pin in pins { start[pin + 1] += 1 }
        for v in 0..<vertexCount { start[v + 1] += start[v] }
        var fill = start
        var incident = [Int](repeating: 0, count: pins.count)
        for net in 0..<netWeight.count {
            for pin in pins[pinStart[net]..<pinStart[net + 1]] {
                incident[fill[pin]] = net
                fill[pin] += 1
            }
        }
        netStart = start
        nets = incident
    }

    /// The nets of a cost graph's groups: a node's outputs each make a net, its control edges one more.
    init(_ costs: CostGraph) {
        var builder = Builder(vertexCount: costs.groupCount)
        var pins: [Int] = []
        var tensors: [Int] = []
        for producer in 0..<costs.nodeCount {
            let edges = costs.successorStart[producer]..<costs.successorStart[producer + 1]
            guard !edges.isEmpty else { continue }
            tensors.removeAll(keepingCapacity: true)
            for edge in edges where !tensors.contains(costs.successorTensor[edge]) {
                tensors.append(costs.successorTensor[edge])
            }
            for tensor in tensors {
                pins.removeAll(keepingCapacity: true)
                pins.append(costs.groupOfNode[producer])
                var bytes = 0
                for edge in edges where costs.successorTensor[edge] == tensor {
                    pins.append(costs.groupOfNode[costs.successorNode[edge]])
                    bytes = costs.successorBytes[edge]
                }
                builder.add(pins: pins, bytes: bytes)
            }
        }
        self = builder.build()
    }

    /// Every edge of a graph as a net of two pins.
    init(_ graph: WeightedGraph) {
        var builder = Builder(vertexCount: graph.count)
        for v in 0..<graph.count {
            for edge in graph.start[v]..<graph.start[v + 1] where graph.neighbor[edge] > v {
                builder.add(pins: [v, graph.neighbor[edge]], bytes: graph.edgeWeight[edge])
            }
        }
        self = builder.build()
    }

    /// The graph `MultilevelBisection` cuts: an edge from each net's producer to each of its other
    /// pins, carrying the net's bytes (a tensor counted once per consuming group, not per edge).
    func graph(vertexWeight: [Double]) -> WeightedGraph {
        var sources: [Int] = []
        var targets: [Int] = []
        var weights: [Int] = []
        sources.reserveCapacity(pins.count)
        targets.reserveCapacity(pins.count)
        weights.reserveCapacity(pins.count)
        for net in 0..<count {
            for pin in pins[(pinStart[net] + 1)..<pinStart[net + 1]] {
                sources.append(pins[pinStart[net]])
                targets.append(pin)
                weights.append(netWeight[net])
            }
        }
        return WeightedGraph(vertexWeight: vertexWeight, from: sources, to: targets, weights: weights)
    }

    /// The nets of the coarse graph whose vertex `map[v]` holds every fine vertex `v`: pins
    /// renamed, repeated pins merged, nets left inside one coarse vertex dropped.
    func contracted(by map: [Int], into coarseCount: Int) -> TensorNets {
        var builder = Builder(vertexCount: coarseCount)
        builder.reserve(nets: count, pins: pins.count)
        for net in 0..<count {
            builder.add(pins: pins[pinStart[net]..<pinStart[net + 1]].lazy.map { map[$0] }, bytes: netWeight[net])
        }
        return builder.build()
    }

    /// Bytes one step sends between parts: each net's bytes times the parts it touches minus one.
    func traffic(_ part: [Int]) -> Int {
        var total = 0
        var seen: [Int] = []
        for net in 0..<count {
            seen.removeAll(keepingCapacity: true)
            for pin in pins[pinStart[net]..<pinStart[net + 1]] where !seen.contains(part[pin]) {
                seen.append(part[pin])
            }
            total += netWeight[net] * (seen.count - 1)
        }
        return total
    }

    /// Collects nets, removing repeated pins with a marker array.
    private struct Builder {
        let vertexCount: Int
        var netWeight: [Int] = []
        var pinStart = [0]
        var pins: [Int] = []
        var mark: [Int]

        init(vertexCount: Int) {
            self.vertexCount = vertexCount
            mark = [Int](repeating: -1, count: vertexCount)
        }

        /// Room for up to `nets` nets of `pins` pins in all, so contracting does not regrow arrays.
        mutating func reserve(nets: Int, pins count: Int) {
            netWeight.reserveCapacity(nets)
            pinStart.reserveCapacity(nets + 1)
            pins.reserveCapacity(count)
        }

        mutating func add(pins given: some Sequence<Int>, bytes: Int) {
            let net = netWeight.count
            let first = pins.count
            for pin in given where mark[pin] != net {
                mark[pin] = net
                pins.append(pin)
            }
            guard pins.count - first >= 2 else {
                // A net inside one group never crosses workers.
                for pin in pins[first...] { mark[pin] = -1 }
                pins.removeLast(pins.count - first)
                return
            }
            netWeight.append(bytes)
            pinStart.append(pins.count)
        }

        func build() -> TensorNets {
            TensorNets(vertexCount: vertexCount, netWeight: netWeight, pinStart: pinStart, pins: pins)
        }
    }
}
