import WeftRuntime

/// A placement node by node, with the cost graph it was made on: what `weft place` writes, so
/// that another partitioner can be run on the same weights and compared.
public struct PlacementExport: Sendable, Codable {
    /// A node, its colocation group and its device.
    public struct Node: Sendable, Codable {
        /// The node's name.
        public var name: String
        /// Its op.
        public var op: String
        /// Its colocation group (the vertex a partitioner moves).
        public var group: Int
        /// The device it was placed on.
        public var device: String
        /// Estimated compute seconds, the mean over the devices.
        public var computeSeconds: Double
    }

    /// A graph edge: a tensor (or a control trigger) from a producer to a consumer.
    public struct Edge: Sendable, Codable {
        /// The producer's and the consumer's node indices in `nodes`.
        public var from: Int
        public var to: Int
        /// The tensor (`node:output`), or `^node` for a control edge.
        public var tensor: String
        /// Bytes the edge carries (one for a control trigger).
        public var bytes: Int
    }

    /// A colocation group: the compute that balance counts, and its device.
    public struct Group: Sendable, Codable {
        /// Compute seconds of its nodes.
        public var computeSeconds: Double
        /// The device index (in `devices`) it was placed on.
        public var part: Int
    }

    /// A tensor as seen by traffic: its producer's group first, then each group reading it, once.
    public struct Net: Sendable, Codable {
        /// Group indices.
        public var groups: [Int]
        /// The tensor's bytes.
        public var bytes: Int
    }

    /// Totals of the placement.
    public struct Totals: Sendable, Codable {
        /// Bytes over every graph edge between devices: a tensor counted once per consuming edge.
        public var cutEdgeBytes: Int
        /// Bytes one step sends: a tensor counted once per device it is sent to (the sum over
        /// nets of bytes × (devices it touches − 1)).
        public var trafficBytes: Int
        /// The cut of the group graph (`groupEdges`), which graph partitioners such as METIS minimise.
        public var groupGraphCut: Int
        /// Compute seconds per device, in the order of `devices`.
        public var computeSeconds: [Double]
        /// The busiest device's compute over the mean: 1 is perfect balance.
        public var balance: Double
        /// Seconds the strategy took.
        public var placeSeconds: Double
    }

    /// The strategy's name.
    public var strategy: String
    /// The devices, as `/job:worker/task:0`.
    public var devices: [String]
    /// Every node of the graph.
    public var nodes: [Node]
    /// Every graph edge.
    public var edges: [Edge]
    /// Every group.
    public var groups: [Group]
    /// Tensors crossing groups.
    public var nets: [Net]
    /// The undirected group graph `min-cut` bisects, as `[a, b, bytes]` with a < b: each net
    /// joins its producer's group to each other group in it.
    public var groupEdges: [[Int]]
    /// Totals.
    public var totals: Totals
}

extension PlacementStrategies {
    /// Places `graph` on `devices` with `strategy` and describes the result with its cost graph.
    public static func export(
        _ graph: RuntimeGraph,
        on devices: [DeviceName],
        strategy: any PlacementStrategy,
        options: PlacementOptions = PlacementOptions()
    ) throws(WeftError) -> PlacementExport {
        let problem = try PlacementProblem(graph: graph, devices: devices, splitControlFlow: options.splitControlFlow)
        let clock = ContinuousClock()
        let started = clock.now
        let chosen = try place(problem, strategy: strategy, options: options)
        let elapsed = clock.now - started
        let costs = CostGraph(problem: problem, options: options)
        let part = costs.deviceIndices(chosen)
        let nets = TensorNets(costs)
        let groupGraph = nets.graph(vertexWeight: MinCutPlacement.balanceWeights(costs))
        let names = graph.nodes.map(\.info.name)
        var nodes: [PlacementExport.Node] = []
        var edges: [PlacementExport.Edge] = []
        var cutEdgeBytes = 0
        var compute = [Double](repeating: 0, count: costs.deviceCount)
        for index in 0..<costs.nodeCount {
            let group = costs.groupOfNode[index]
            nodes.append(
                .init(
                    name: names[index],
                    op: graph.nodes[index].info.op,
                    group: group,
                    device: costs.devices[part[group]].description,
                    computeSeconds: costs.meanCost[index]
                )
            )
            compute[part[group]] += costs.cost(index, on: part[group])
            let inputs = graph.nodes[index].dataInputs
            for (slot, edge) in (costs.predecessorStart[index]..<costs.predecessorStart[index + 1]).enumerated() {
                let producer = costs.predecessorNode[edge]
                let tensor = slot < inputs.count ? "\(names[producer]):\(inputs[slot].output)" : "^\(names[producer])"
                edges.append(.init(from: producer, to: index, tensor: tensor, bytes: costs.predecessorBytes[edge]))
                if part[costs.groupOfNode[producer]] != part[group] { cutEdgeBytes += costs.predecessorBytes[edge] }
            }
        }
        var groupEdges: [[Int]] = []
        for v in 0..<groupGraph.count {
            for edge in groupGraph.start[v]..<groupGraph.start[v + 1] where groupGraph.neighbor[edge] > v {
                groupEdges.append([v, groupGraph.neighbor[edge], groupGraph.edgeWeight[edge]])
            }
        }
        let mean = compute.reduce(0, +) / Double(max(costs.deviceCount, 1))
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return PlacementExport(
            strategy: strategy.name,
            devices: costs.devices.map(\.description),
            nodes: nodes,
            edges: edges,
            groups: (0..<costs.groupCount).map { .init(computeSeconds: costs.groupCost[$0], part: part[$0]) },
            nets: (0..<nets.count).map { net in
                .init(groups: Array(nets.pins[nets.pinStart[net]..<nets.pinStart[net + 1]]), bytes: nets.netWeight[net])
            },
            groupEdges: groupEdges,
            totals: .init(
                cutEdgeBytes: cutEdgeBytes,
                trafficBytes: nets.traffic(part),
                groupGraphCut: groupGraph.cut(part),
                computeSeconds: compute,
                balance: mean > 0 ? (compute.max() ?? 0) / mean : 1,
                placeSeconds: seconds
            )
        )
    }
}
