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
    /// Devices that price every node alike (equal rates, and no cost measured on one of them
    /// alone) share a compute class, whose column `cost(_:on:)` reads: a thousand identical
    /// workers cost one column, not a thousand.
    private(set) var computeClassOfDevice: [Int] = []
    private(set) var computeClassCount = 0
    /// Compute seconds, node-major: `classCost[node * computeClassCount + class]`.
    private(set) var classCost: [Double]
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
    /// Links between classes of devices, which `transfer(_:from:to:)` reads.
    private(set) var links = CostModel.LinkClasses(classOfDevice: [], count: 0, latency: [], secondsPerByte: [])
    /// Means over the ordered pairs of distinct devices, for HEFT's average transfer cost.
    private(set) var meanLatency = 0.0
    private(set) var meanSecondsPerByte = 0.0
    /// Persistent bytes and mean compute seconds of every group.
    private(set) var groupBytes: [Int]
    private(set) var groupCost: [Double]
    /// The devices the problem lists come first: `0..<listedCount`.
    let listedCount: Int
    /// Whether a group may use every listed device. The devices of any other group are
    /// `allowedDevice[allowedStart[g]..<allowedStart[g + 1]]`, ascending.
    private(set) var allowsEveryListed: [Bool]
    private(set) var allowedStart: [Int]
    private(set) var allowedDevice: [Int]
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
        listedCount = problem.devices.count
        nodeNames = graph.nodes.indices.map { graph.nodes[$0].info.name }
        order = problem.topologicalOrder
        let shapes = ShapeInference(graph: graph, feedShapes: options.feedShapes, order: order)
        classCost = []
        meanCost = []
        persistentBytes = []
        outputBytes = []
        allocatedBytes = []
        (predecessorStart, predecessorNode, predecessorBytes, predecessorTensor) = ([], [], [], [])
        (successorStart, successorNode, successorBytes, successorTensor) = ([], [], [], [])
        (groupBytes, groupCost, pinned) = ([], [], [])
        (allowsEveryListed, allowedStart, allowedDevice) = ([], [], [])
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
        listedCount = devices.count
        nodeNames = taskCosts.indices.map { "task\($0)" }
        groupOfNode = Array(0..<nodeCount)
        groupCount = nodeCount
        computeClassOfDevice = Array(0..<deviceCount)
        computeClassCount = deviceCount
        classCost = taskCosts.flatMap { $0 }
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
        order = Self.kahnOrder(count: nodeCount, edges: edges)
        groupBytes = persistentBytes
        groupCost = meanCost
        allowsEveryListed = [Bool](repeating: true, count: nodeCount)
        allowedStart = [Int](repeating: 0, count: nodeCount + 1)
        allowedDevice = []
        pinned = [Int](repeating: -1, count: nodeCount)
        buildSuccessors()
        costTransfers(model: model)
        buildLanes(model: model)
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
        let representatives = classifyDevices(model)
        var members = [Int](repeating: 0, count: computeClassCount)
        for computeClass in computeClassOfDevice { members[computeClass] += 1 }
        let pricing = NodePricing(
            graph: graph,
            shapes: shapes,
            model: model,
            representatives: representatives,
            members: members
        )
        // Nodes are priced independently: each half of them on a core of its own.
        let (middle, count) = (nodeCount / 2, nodeCount)
        let (low, high) = Concurrently.both({ pricing.price(0..<middle) }, { pricing.price(middle..<count) })
        classCost = low.cost + high.cost
        meanCost = low.meanCost + high.meanCost
        persistentBytes = low.persistentBytes + high.persistentBytes
        outputBytes = low.outputBytes + high.outputBytes
        allocatedBytes = low.allocatedBytes + high.allocatedBytes
    }

    /// Sorts the devices into compute classes and returns one device of each class.
    private mutating func classifyDevices(_ model: CostModel) -> [DeviceName] {
        guard !model.hasMeasurementsPerDevice else {
            computeClassOfDevice = Array(0..<deviceCount)
            computeClassCount = deviceCount
            return devices
        }
        var classOfRates: [CostModel.Rates: Int] = [:]
        var representatives: [DeviceName] = []
        computeClassOfDevice = devices.map { device -> Int in
            let rates = model.rates(of: device)
            if let known = classOfRates[rates] { return known }
            classOfRates[rates] = representatives.count
            representatives.append(device)
            return representatives.count - 1
        }
        computeClassCount = representatives.count
        return representatives
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
        /// One device of every compute class, and how many devices each class has.
        let representatives: [DeviceName]
        let members: [Int]

        func price(_ nodes: Range<Int>) -> NodePrices {
            let classCount = representatives.count
            let rates = representatives.map { model.rates(of: $0) }
            let deviceCount = Double(max(members.reduce(0, +), 1))
            var prices = NodePrices()
            prices.cost = [Double](repeating: 0, count: nodes.count * classCount)
            prices.meanCost = [Double](repeating: 0, count: nodes.count)
            prices.persistentBytes = [Int](repeating: 0, count: nodes.count)
            prices.outputBytes = prices.persistentBytes
            prices.allocatedBytes = prices.persistentBytes
            let measuring = model.hasMeasurements
            for (row, index) in nodes.enumerated() {
                let work = OpWork.of(node: index, in: graph, shapes: shapes)
                var total = 0.0
                for (computeClass, device) in representatives.enumerated() {
                    var seconds = rates[computeClass].seconds(work)
                    if measuring, let measured = model.measuredSeconds(node: graph.nodes[index].info.name, on: device) {
                        seconds = measured
                    }
                    prices.cost[row * classCount + computeClass] = seconds
                    total += seconds * Double(members[computeClass])
                }
                prices.meanCost[row] = total / deviceCount
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
        links = model.linkClasses(devices)
        // Means over the ordered pairs of distinct devices, from how many devices each class has.
        var members = [Int](repeating: 0, count: links.count)
        for linkClass in links.classOfDevice { members[linkClass] += 1 }
        for a in 0..<links.count where members[a] > 0 {
            for b in 0..<links.count where members[b] > 0 {
                let pairs = Double(members[a] * (a == b ? members[a] - 1 : members[b]))
                meanLatency += pairs * links.latency[a * links.count + b]
                meanSecondsPerByte += pairs * links.secondsPerByte[a * links.count + b]
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
        allowsEveryListed = [Bool](repeating: false, count: groups.count)
        allowedStart = [0]
        allowedDevice = []
        pinned = [Int](repeating: -1, count: groups.count)
        for (group, description) in groups.enumerated() {
            for member in description.members {
                groupBytes[group] += persistentBytes[member]
                groupCost[group] += meanCost[member]
            }
            // A group that may use every listed device allows the first `listedCount` indices:
            // nothing stored per device and group.
            if description.allowsAll(listedCount) {
                allowsEveryListed[group] = true
            } else {
                allowedDevice += description.allowed.compactMap { deviceIndex[$0] }.sorted()
            }
            allowedStart.append(allowedDevice.count)
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

    /// Compute seconds of `node` on device `device`.
    @inline(__always)
    func cost(_ node: Int, on device: Int) -> Double {
        classCost[node * computeClassCount + computeClassOfDevice[device]]
    }

    /// The least compute seconds of `node` on any device.
    func cheapestCost(_ node: Int) -> Double {
        let row = node * computeClassCount
        return classCost[row..<row + computeClassCount].min() ?? 0
    }

    /// Compute seconds of every group in every compute class: `[group * computeClassCount + class]`.
    func groupClassCosts() -> [Double] {
        var result = [Double](repeating: 0, count: groupCount * computeClassCount)
        for node in 0..<nodeCount {
            let base = groupOfNode[node] * computeClassCount
            for computeClass in 0..<computeClassCount {
                result[base + computeClass] += classCost[node * computeClassCount + computeClass]
            }
        }
        return result
    }

    /// Whether group `group` may use device `device`.
    func allows(_ group: Int, _ device: Int) -> Bool {
        allowsEveryListed[group] ? device < listedCount : allowedDevices(of: group).contains(device)
    }

    /// The devices group `group` may use, ascending.
    func allowedDevices(of group: Int) -> ArraySlice<Int> {
        allowsEveryListed[group]
            ? ArraySlice(0..<listedCount) : allowedDevice[allowedStart[group]..<allowedStart[group + 1]]
    }

    /// The memory limit of device index `device`, or `Int.max`.
    func memoryLimits(_ options: PlacementOptions) -> [Int] {
        devices.map { options.memoryLimit(of: $0) ?? .max }
    }

    /// Seconds to move `bytes` from device `p` to device `q`.
    @inline(__always)
    func transfer(_ bytes: Int, from p: Int, to q: Int) -> Double {
        guard p != q else { return 0 }
        let pair = links.classOfDevice[p] * links.count + links.classOfDevice[q]
        return links.latency[pair] + Double(bytes) * links.secondsPerByte[pair]
    }

    /// Seconds per byte, once data flows, from device `p` to device `q` (distinct).
    @inline(__always)
    func secondsPerByte(from p: Int, to q: Int) -> Double {
        links.secondsPerByte[links.classOfDevice[p] * links.count + links.classOfDevice[q]]
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
