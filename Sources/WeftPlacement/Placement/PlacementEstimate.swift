import WeftRuntime

/// What a placement should cost per step, by the cost model: the figures `weft bench` prints
/// next to measured ones.
///
/// The step is simulated (`ListScheduler.replay`): nodes are taken in upward-rank order, each
/// starting in the earliest idle time of its device once its inputs have arrived, so a device
/// runs whatever is ready rather than wait for a node of higher rank. A tensor goes to a device once;
/// each device sends one tensor at a time (its link is busy for bytes over bandwidth), and a
/// tensor arrives the link's latency after it is through.
public struct PlacementEstimate: Sendable {
    /// Predicted seconds of one step: from its first node's start to its last node's end, plus
    /// the cost model's per-step overhead and its per-message overhead for every worker the step
    /// runs on.
    public var stepSeconds: Double
    /// Graph edges (data and control) between nodes on different devices.
    public var cutEdges: Int
    /// Tensors sent between devices per step: one per tensor and receiving device, as the
    /// partitioner makes one `_Send`/`_Recv` pair for each.
    public var tensorsCrossing: Int
    /// Bytes of those tensors.
    public var bytesCrossing: Int
    /// Compute seconds per device per step.
    public var computeSeconds: [DeviceName: Double]
    /// The busiest device's compute over the mean: 1 is perfect balance.
    public var computeBalance: Double
    /// Bytes each device holds at its peak: variables and constants, plus the tensors alive at
    /// once in the simulated step (from a tensor's production or arrival to its last use there).
    public var peakMemory: [DeviceName: Int]
}

extension PlacementStrategies {
    /// Estimates one step of `graph` placed by `placement` (a device for every node, as
    /// `place` returns) on `devices` (the placement's devices when `nil`). `roots` names the
    /// nodes a step fetches or runs: only they and what they need count; `nil` counts the whole
    /// graph. Shapes the graph leaves open come from `options.feedShapes`.
    public static func estimate(
        _ graph: RuntimeGraph,
        placement: [String: DeviceName],
        on devices: [DeviceName]? = nil,
        roots: [String]? = nil,
        options: PlacementOptions = PlacementOptions()
    ) throws(WeftError) -> PlacementEstimate {
        let devices = devices ?? Array(Set(placement.values)).sorted()
        for index in graph.nodes.indices {
            let name = graph.nodes[index].info.name
            guard let device = placement[name] else {
                throw WeftError(.invalidArgument, "the placement has no device for node '\(name)'")
            }
            guard devices.contains(device) else {
                throw WeftError(
                    .invalidArgument,
                    "node '\(name)' is placed on \(device), which is not among the devices given"
                )
            }
        }
        let problem = try PlacementProblem(
            graph: graph,
            devices: devices,
            existing: placement,
            splitControlFlow: options.splitControlFlow
        )
        let costs = CostGraph(problem: problem, options: options)
        let active = try roots.map { (names) throws(WeftError) in try needed(graph, roots: names) }
        let schedule = ListScheduler(costs: costs, active: active, linkContention: true).replay(
            groupDevice: costs.pinned
        )
        return EstimateBuilder(costs: costs, schedule: schedule, active: active).estimate()
    }

    /// Nodes that `roots` need, through data and control inputs.
    static func needed(_ graph: RuntimeGraph, roots: [String]) throws(WeftError) -> [Bool] {
        var needed = [Bool](repeating: false, count: graph.nodes.count)
        var stack = try roots.map { (name) throws(WeftError) in try graph.node(named: name) }
        while let node = stack.popLast() {
            guard !needed[node] else { continue }
            needed[node] = true
            for input in graph.nodes[node].dataInputs { stack.append(input.node) }
            stack.append(contentsOf: graph.nodes[node].controlInputs)
        }
        return needed
    }
}

/// Works out the figures of an estimate from a simulated schedule.
private struct EstimateBuilder {
    let costs: CostGraph
    let schedule: ListScheduler.Schedule
    let active: [Bool]?

    func isActive(_ node: Int) -> Bool { active?[node] ?? true }

    func estimate() -> PlacementEstimate {
        let deviceCount = costs.deviceCount
        var compute = [Double](repeating: 0, count: deviceCount)
        var persistent = [Int](repeating: 0, count: deviceCount)
        var used = [Bool](repeating: false, count: deviceCount)
        for node in 0..<costs.nodeCount {
            let device = schedule.groupDevice[costs.groupOfNode[node]]
            persistent[device] += costs.persistentBytes[node]
            if isActive(node) {
                compute[device] += costs.cost(node, on: device)
                used[device] = true
            }
        }
        let messages = Double(used.filter { $0 }.count)
        let traffic = crossings()
        let live = liveTensorPeaks()
        let mean = compute.reduce(0, +) / Double(max(deviceCount, 1))
        var computeSeconds: [DeviceName: Double] = [:]
        var peakMemory: [DeviceName: Int] = [:]
        for (index, device) in costs.devices.enumerated() {
            computeSeconds[device] = compute[index]
            peakMemory[device] = persistent[index] + live[index]
        }
        return PlacementEstimate(
            stepSeconds: schedule.makespan + costs.secondsPerStep + costs.secondsPerMessage * messages,
            cutEdges: traffic.edges,
            tensorsCrossing: traffic.tensors,
            bytesCrossing: traffic.bytes,
            computeSeconds: computeSeconds,
            computeBalance: mean > 0 ? (compute.max() ?? 0) / mean : 1,
            peakMemory: peakMemory
        )
    }

    /// Cut edges, and the distinct (tensor, receiving device) pairs with their bytes.
    private func crossings() -> (edges: Int, tensors: Int, bytes: Int) {
        var edges = 0
        var bytes = 0
        var sent = Set<Int>()
        for consumer in 0..<costs.nodeCount where isActive(consumer) {
            let to = schedule.device[consumer]
            for edge in costs.predecessorStart[consumer]..<costs.predecessorStart[consumer + 1] {
                let producer = costs.predecessorNode[edge]
                guard isActive(producer), schedule.device[producer] != to else { continue }
                edges += 1
                // Control edges are keyed by their producer, past every tensor index.
                let tensor = costs.predecessorTensor[edge] >= 0 ? costs.predecessorTensor[edge] : -1 - producer
                if sent.insert(tensor * costs.deviceCount + to).inserted { bytes += costs.predecessorBytes[edge] }
            }
        }
        return (edges, sent.count, bytes)
    }

    /// The most bytes of tensors alive at once on every device during the simulated step.
    private func liveTensorPeaks() -> [Int] {
        let deviceCount = costs.deviceCount
        var events = [[(time: Double, bytes: Int)]](repeating: [], count: deviceCount)
        var lastUse = [Double](repeating: -1, count: deviceCount)
        for node in 0..<costs.nodeCount where isActive(node) {
            let home = schedule.device[node]
            let bytes = costs.allocatedBytes[node]
            guard bytes > 0 else { continue }
            for device in 0..<deviceCount { lastUse[device] = -1 }
            lastUse[home] = schedule.finish[node]
            for edge in costs.successorStart[node]..<costs.successorStart[node + 1] {
                let consumer = costs.successorNode[edge]
                guard isActive(consumer), costs.successorTensor[edge] >= 0 else { continue }
                let device = schedule.device[consumer]
                lastUse[device] = max(lastUse[device], schedule.finish[consumer])
            }
            // Variables and constants are counted at home already; their copies elsewhere are not.
            if costs.persistentBytes[node] > 0 { lastUse[home] = -1 }
            for device in 0..<deviceCount where lastUse[device] >= 0 {
                // When the simulated step's transfer arrived (after its link was free), as the
                // memory-aware scheduler counts it.
                let sent = schedule.arrival.isEmpty ? -1 : schedule.arrival[node * deviceCount + device]
                let arrival =
                    device == home
                    ? schedule.finish[node]
                    : (sent >= 0 ? sent : schedule.finish[node] + costs.transfer(bytes, from: home, to: device))
                events[device].append((arrival, bytes))
                events[device].append((max(lastUse[device], arrival), -bytes))
            }
        }
        return events.indices.map { MemoryTimeline.peak(sorting: &events[$0]) }
    }
}
