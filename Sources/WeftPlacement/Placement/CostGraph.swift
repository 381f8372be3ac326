import WeftRuntime

/// A placement problem in flat arrays, costed once for every strategy: per-node compute seconds
/// on every device, bytes on every edge, persistent bytes per node and group, and the devices each
/// group may use. Adjacency is CSR, so strategies walk 100,000 nodes without allocating.
struct CostGraph {
    let devices: [DeviceName]
    /// The group of every node, and the number of groups.
    let groupOfNode: [Int]
    let groupCount: Int
    let nodeCount: Int
    let deviceCount: Int
    /// Every node's name, for messages.
    let nodeNames: [String]
    /// The step's fixed overhead and each worker's (`CostModel.secondsPerStep`, `secondsPerMessage`).
    private(set) var secondsPerStep = 0.0
    private(set) var secondsPerMessage = 0.0
    /// Compute seconds, node-major: `cost[node * deviceCount + device]`.
    private(set) var cost: [Double]
    /// Mean compute seconds of every node over the devices.
    private(set) var meanCost: [Double]
    /// Bytes a node keeps for the session's life (variables, constants).
    private(set) var persistentBytes: [Int]
    /// Bytes of all of a node's outputs.
    private(set) var outputBytes: [Int]
    /// Bytes of the outputs that hold buffers of their own: a reference output (a variable's
    /// `Assign`, the variable itself) aliases the variable, which persistent bytes count.
    private(set) var allocatedBytes: [Int]
    /// Producers of every node, data and control: `predecessorStart[n]..<predecessorStart[n+1]`.
    private(set) var predecessorStart: [Int]
    private(set) var predecessorNode: [Int]
    /// Bytes carried by the edge; a control edge carries a one-byte trigger.
    private(set) var predecessorBytes: [Int]
    /// The producer's output as a global output index, or -1 for a control edge.
    private(set) var predecessorTensor: [Int]
    /// Consumers of every node, with the bytes of each edge.
    private(set) var successorStart: [Int]
    private(set) var successorNode: [Int]
    private(set) var successorBytes: [Int]
    /// The edge's tensor as in `predecessorTensor` (-1 for control).
    private(set) var successorTensor: [Int]
    /// Producers before consumers.
    let order: [Int]
    /// Transfer cost between device indices: `latency[p * deviceCount + q] + bytes * secondsPerByte[…]`.
    private(set) var latency: [Double]
    private(set) var secondsPerByte: [Double]
    /// Means over the ordered pairs of distinct devices, for HEFT's average transfer cost.
    private(set) var meanLatency = 0.0
    private(set) var meanSecondsPerByte = 0.0
    /// Persistent bytes and mean compute seconds of every group.
    private(set) var groupBytes: [Int]
    private(set) var groupCost: [Double]
    /// Whether group `g` may use device `d`: `allowed[g * deviceCount + d]`.
    private(set) var allowed: [Bool]
    /// The device index every group must use, or -1.
    private(set) var pinned: [Int]
    /// The lanes device `d` runs nodes on: `laneStart[p]..<laneStart[p + 1]` for `p = poolOfDevice[d]`.
    /// Devices of one host whose cores are known share that host's lanes, one per core; any other
    /// device has one lane of its own, running one node at a time.
    private(set) var poolOfDevice: [Int] = []
    private(set) var laneStart: [Int] = []

    init(problem: PlacementProblem, options: PlacementOptions) {
        let graph = problem.graph
        // Groups kept on a device the cluster no longer lists (an earlier placement's worker
        // that left) still need an index; no open group may choose it.
        let listed = Set(problem.devices)
        let extra = Set(problem.groups.compactMap(\.fixed).filter { !listed.contains($0) })
        devices = problem.devices + extra.sorted()
        groupOfNode = problem.groupOfNode
        groupCount = problem.groups.count
        nodeCount = graph.nodes.count
        deviceCount = devices.count
        nodeNames = graph.nodes.indices.map { graph.nodes[$0].info.name }
        order = problem.topologicalOrder
        let shapes = ShapeInference(graph: graph, feedShapes: options.feedShapes, order: order)
        cost = []
        meanCost = []
        persistentBytes = []
        outputBytes = []
        allocatedBytes = []
        (predecessorStart, predecessorNode, predecessorBytes, predecessorTensor) = ([], [], [], [])
        (successorStart, successorNode, successorBytes, successorTensor) = ([], [], [], [])
        (latency, secondsPerByte) = ([], [])
        (groupBytes, groupCost, allowed, pinned) = ([], [], [], [])
        costNodes(graph, shapes: shapes, model: options.costModel)
        buildEdges(graph, shapes: shapes)
        costTransfers(model: options.costModel)
        describeGroups(problem)
        buildLanes(model: options.costModel)
        secondsPerStep = options.costModel.secondsPerStep
        secondsPerMessage = options.costModel.secondsPerMessage
    }

    /// A task graph given directly, as textbooks give them: the compute seconds of every task on
    /// every device, and edges `(from, to, bytes)`; one group per task, any device allowed.
    init(taskCosts: [[Double]], edges: [(from: Int, to: Int, bytes: Int)], devices: [DeviceName], model: CostModel) {
        self.devices = devices
        nodeCount = taskCosts.count
        deviceCount = devices.count
        nodeNames = taskCosts.indices.map { "task\($0)" }
        groupOfNode = Array(0..<nodeCount)
        groupCount = nodeCount
        cost = taskCosts.flatMap { $0 }
        meanCost = taskCosts.map { $0.reduce(0, +) / Double(devices.count) }
        persistentBytes = [Int](repeating: 0, count: nodeCount)
        outputBytes = [Int](repeating: 0, count: nodeCount)
        allocatedBytes = outputBytes
        let sorted = edges.sorted { ($0.to, $0.from) < ($1.to, $1.from) }
        predecessorStart = [Int](repeating: 0, count: nodeCount + 1)
        for edge in sorted { predecessorStart[edge.to + 1] += 1 }
        for index in 0..<nodeCount { predecessorStart[index + 1] += predecessorStart[index] }
        predecessorNode = sorted.map(\.from)
        predecessorBytes = sorted.map(\.bytes)
        predecessorTensor = sorted.map(\.from)
        (successorStart, successorNode, successorBytes, successorTensor) = ([], [], [], [])
        (latency, secondsPerByte) = ([], [])
        (groupBytes, groupCost, allowed, pinned) = ([], [], [], [])
        order = Self.kahnOrder(count: nodeCount, edges: edges)
        buildSuccessors()
        costTransfers(model: model)
        buildLanes(model: model)
        groupBytes = persistentBytes
        groupCost = meanCost
        allowed = [Bool](repeating: true, count: nodeCount * deviceCount)
        pinned = [Int](repeating: -1, count: nodeCount)
    }

    private static func kahnOrder(count: Int, edges: [(from: Int, to: Int, bytes: Int)]) -> [Int] {
        var indegree = [Int](repeating: 0, count: count)
        for edge in edges { indegree[edge.to] += 1 }
        var order = (0..<count).filter { indegree[$0] == 0 }
        var next = 0
        while next < order.count {
            for edge in edges where edge.from == order[next] {
                indegree[edge.to] -= 1
                if indegree[edge.to] == 0 { order.append(edge.to) }
            }
            next += 1
        }
        return order
    }

    private mutating func costNodes(_ graph: RuntimeGraph, shapes: ShapeInference, model: CostModel) {
        // Devices of equal rates (all of them, uncalibrated) price a node once between them.
        var classOfRates: [CostModel.Rates: Int] = [:]
        var rates: [CostModel.Rates] = []
        let rateClass = devices.map { device -> Int in
            let deviceRates = model.rates(of: device)
            if let known = classOfRates[deviceRates] { return known }
            classOfRates[deviceRates] = rates.count
            rates.append(deviceRates)
            return rates.count - 1
        }
        let pricing = NodePricing(
            graph: graph,
            shapes: shapes,
            model: model,
            devices: devices,
            rates: rates,
            rateClass: rateClass
        )
        // Nodes are priced independently: each half of them on a core of its own.
        let (middle, count) = (nodeCount / 2, nodeCount)
        let (low, high) = Concurrently.both({ pricing.price(0..<middle) }, { pricing.price(middle..<count) })
        cost = low.cost + high.cost
        meanCost = low.meanCost + high.meanCost
        persistentBytes = low.persistentBytes + high.persistentBytes
        outputBytes = low.outputBytes + high.outputBytes
        allocatedBytes = low.allocatedBytes + high.allocatedBytes
    }

    /// The compute seconds and bytes of a range of nodes.
    private struct NodePrices {
        var cost: [Double] = []
        var meanCost: [Double] = []
        var persistentBytes: [Int] = []
        var outputBytes: [Int] = []
        var allocatedBytes: [Int] = []
    }

    /// What pricing a node reads, so ranges of nodes can be priced apart from the graph being built.
    private struct NodePricing {
        let graph: RuntimeGraph
        let shapes: ShapeInference
        let model: CostModel
        let devices: [DeviceName]
        /// The distinct rates, and the class of every device's.
        let rates: [CostModel.Rates]
        let rateClass: [Int]

        func price(_ nodes: Range<Int>) -> NodePrices {
            let deviceCount = devices.count
            var prices = NodePrices()
            prices.cost = [Double](repeating: 0, count: nodes.count * deviceCount)
            prices.meanCost = [Double](repeating: 0, count: nodes.count)
            prices.persistentBytes = [Int](repeating: 0, count: nodes.count)
            prices.outputBytes = prices.persistentBytes
            prices.allocatedBytes = prices.persistentBytes
            var classSeconds = [Double](repeating: 0, count: rates.count)
            let measuring = model.hasMeasurements
            for (row, index) in nodes.enumerated() {
                let work = OpWork.of(node: index, in: graph, shapes: shapes)
                for (position, classRates) in rates.enumerated() { classSeconds[position] = classRates.seconds(work) }
                var total = 0.0
                for device in 0..<deviceCount {
                    var seconds = classSeconds[rateClass[device]]
                    if measuring,
                        let measured = model.measuredSeconds(node: graph.nodes[index].info.name, on: devices[device])
                    {
                        seconds = measured
                    }
                    prices.cost[row * deviceCount + device] = seconds
                    total += seconds
                }
                prices.meanCost[row] = total / Double(deviceCount)
                for (slot, type) in graph.nodes[index].outputTypes.enumerated() {
                    let bytes = shapes.bytes(node: index, output: slot)
                    prices.outputBytes[row] += bytes
                    if !type.isRef && type.dtype != .resource { prices.allocatedBytes[row] += bytes }
                }
                let op = graph.nodes[index].info.op
                if op == "VariableV2" || op == "Const" { prices.persistentBytes[row] = prices.outputBytes[row] }
            }
            return prices
        }
    }

    private mutating func buildEdges(_ graph: RuntimeGraph, shapes: ShapeInference) {
        predecessorStart = [Int](repeating: 0, count: nodeCount + 1)
        for index in graph.nodes.indices {
            predecessorStart[index + 1] =
                predecessorStart[index] + graph.nodes[index].dataInputs.count + graph.nodes[index].controlInputs.count
        }
        let edges = predecessorStart[nodeCount]
        predecessorNode.reserveCapacity(edges)
        predecessorBytes.reserveCapacity(edges)
        predecessorTensor.reserveCapacity(edges)
        for index in graph.nodes.indices {
            for input in graph.nodes[index].dataInputs {
                predecessorNode.append(input.node)
                predecessorBytes.append(shapes.bytes(node: input.node, output: input.output))
                predecessorTensor.append(shapes.outputStart[input.node] + input.output)
            }
            for producer in graph.nodes[index].controlInputs {
                predecessorNode.append(producer)
                predecessorBytes.append(1)
                predecessorTensor.append(-1)
            }
        }
        buildSuccessors()
    }

    /// The successor arrays, from the predecessor arrays.
    private mutating func buildSuccessors() {
        let edges = predecessorNode.count
        successorStart = [Int](repeating: 0, count: nodeCount + 1)
        for producer in predecessorNode { successorStart[producer + 1] += 1 }
        for index in 0..<nodeCount { successorStart[index + 1] += successorStart[index] }
        var fill = successorStart
        successorNode = [Int](repeating: 0, count: edges)
        successorBytes = [Int](repeating: 0, count: edges)
        successorTensor = [Int](repeating: -1, count: edges)
        for consumer in 0..<nodeCount {
            for edge in predecessorStart[consumer]..<predecessorStart[consumer + 1] {
                let producer = predecessorNode[edge]
                successorNode[fill[producer]] = consumer
                successorBytes[fill[producer]] = predecessorBytes[edge]
                successorTensor[fill[producer]] = predecessorTensor[edge]
                fill[producer] += 1
            }
        }
    }

    private mutating func costTransfers(model: CostModel) {
        (latency, secondsPerByte) = model.linkMatrix(devices)
        for p in 0..<deviceCount {
            for q in 0..<deviceCount where p != q {
                meanLatency += latency[p * deviceCount + q]
                meanSecondsPerByte += secondsPerByte[p * deviceCount + q]
            }
        }
        let pairs = Double(max(deviceCount * (deviceCount - 1), 1))
        meanLatency /= pairs
        meanSecondsPerByte /= pairs
    }

    private mutating func describeGroups(_ problem: PlacementProblem) {
        let groups = problem.groups
        var deviceIndex: [DeviceName: Int] = [:]
        for (index, device) in devices.enumerated() { deviceIndex[device] = index }
        groupBytes = [Int](repeating: 0, count: groups.count)
        groupCost = [Double](repeating: 0, count: groups.count)
        allowed = [Bool](repeating: false, count: groups.count * deviceCount)
        pinned = [Int](repeating: -1, count: groups.count)
        let listed = problem.devices.count
        for (group, description) in groups.enumerated() {
            for member in description.members {
                groupBytes[group] += persistentBytes[member]
                groupCost[group] += meanCost[member]
            }
            let row = group * deviceCount
            if description.fixed == nil && description.allowed.count == listed {
                // Constraints only filter the listed devices, so a group that kept all of them
                // allows the first `listed` indices: no lookup per device and group.
                for device in 0..<listed { allowed[row + device] = true }
            } else {
                for device in description.allowed {
                    if let index = deviceIndex[device] { allowed[row + index] = true }
                }
            }
            if let fixed = description.fixed ?? (description.allowed.count == 1 ? description.allowed[0] : nil) {
                pinned[group] = deviceIndex[fixed] ?? -1
            }
        }
    }

    /// The most lanes a host gets: enough to show that its devices share its cores, few enough
    /// that scheduling a node stays cheap on hosts with many.
    static let mostLanesPerHost = 16

    private mutating func buildLanes(model: CostModel) {
        var poolOfHost: [String: Int] = [:]
        laneStart = [0]
        poolOfDevice = devices.map { device -> Int in
            let cores = model.rates(of: device).cores
            guard cores > 0, let host = model.hosts.host(of: device) else { return openPool(lanes: 1) }
            if let known = poolOfHost[host] { return known }
            poolOfHost[host] = laneStart.count - 1
            return openPool(lanes: min(cores, Self.mostLanesPerHost))
        }
    }

    private mutating func openPool(lanes: Int) -> Int {
        laneStart.append(laneStart[laneStart.count - 1] + lanes)
        return laneStart.count - 2
    }

    /// The lanes `device` runs nodes on.
    func lanes(of device: Int) -> Range<Int> {
        let pool = poolOfDevice[device]
        return laneStart[pool]..<laneStart[pool + 1]
    }

    /// Lanes of all devices.
    var laneCount: Int { laneStart[laneStart.count - 1] }

    /// Compute seconds of every group on every device: `[group * deviceCount + device]`.
    func groupDeviceCosts() -> [Double] {
        var result = [Double](repeating: 0, count: groupCount * deviceCount)
        for node in 0..<nodeCount {
            let base = groupOfNode[node] * deviceCount
            for device in 0..<deviceCount { result[base + device] += cost[node * deviceCount + device] }
        }
        return result
    }

    /// The memory limit of device index `device`, or `Int.max`.
    func memoryLimits(_ options: PlacementOptions) -> [Int] {
        devices.map { options.memoryLimit(of: $0) ?? .max }
    }

    /// Seconds to move `bytes` from device `p` to device `q`.
    @inline(__always)
    func transfer(_ bytes: Int, from p: Int, to q: Int) -> Double {
        p == q ? 0 : latency[p * deviceCount + q] + Double(bytes) * secondsPerByte[p * deviceCount + q]
    }

    /// The mean transfer seconds of `bytes` over the ordered pairs of distinct devices (HEFT's c̄).
    func meanTransfer(_ bytes: Int) -> Double {
        deviceCount > 1 ? meanLatency + Double(bytes) * meanSecondsPerByte : 0
    }

    /// Device indices of a placement given as one device per group.
    func deviceIndices(_ chosen: [DeviceName]) -> [Int] {
        var deviceIndex: [DeviceName: Int] = [:]
        for (index, device) in devices.enumerated() { deviceIndex[device] = index }
        return chosen.map { deviceIndex[$0] ?? 0 }
    }
}
