import WeftRuntime

/// A graph to place, reduced to what strategies decide on: colocation groups (nodes that must
/// share a device), the devices each group may use, and the data edges between groups.
///
/// Hard constraints are resolved here, once, for every strategy: explicit devices, `_class`
/// colocation (`loc:@name`), and ops taking a variable by reference or resource handle, which
/// live with it.
public struct PlacementProblem: Sendable {
    /// Nodes that must run on one device.
    public struct Group: Sendable {
        /// Node indices in the runtime graph.
        public var members: [Int]
        /// Devices the group may use; one element when a member names a full device.
        public var allowed: [DeviceName]
        /// Where the group already lives (an earlier placement of the session); strategies keep it.
        public var fixed: DeviceName?

        /// Whether the group may use every one of its problem's `deviceCount` devices:
        /// constraints only filter them, so a group that kept their number kept them all.
        func allowsAll(_ deviceCount: Int) -> Bool { fixed == nil && allowed.count == deviceCount }
    }

    /// The graph being placed.
    public let graph: RuntimeGraph
    /// The cluster's devices, sorted.
    public let devices: [DeviceName]
    /// The groups, in an order where every group's producers come first where the graph allows.
    public private(set) var groups: [Group] = []
    /// Group index of every node.
    public private(set) var groupOfNode: [Int] = []
    /// For every group, the groups feeding it data, one entry per edge.
    public private(set) var producers: [[Int]] = []
    /// Node indices with producers before consumers (`RuntimeGraph.topologicalOrder()`).
    public private(set) var topologicalOrder: [Int] = []

    /// Builds groups and checks every constraint against `devices`. `existing` holds devices
    /// already chosen for some nodes (by name); their groups keep them. With `splitControlFlow`,
    /// loops and conds may span devices (`PlacementOptions.splitControlFlow`).
    public init(
        graph: RuntimeGraph,
        devices: [DeviceName],
        existing: [String: DeviceName] = [:],
        splitControlFlow: Bool = false
    ) throws(WeftError) {
        guard !devices.isEmpty else {
            throw WeftError(.unavailable, "the cluster has no workers to place the graph on")
        }
        self.graph = graph
        self.devices = devices.sorted()
        var sets = UnionFind(count: graph.nodes.count)
        // Fields are read through the array, never by copying a node: a node copy retains a
        // dozen references, which dominates placement time on large graphs.
        for index in graph.nodes.indices {
            for group in graph.nodes[index].info.attributes.strings("_class") where group.hasPrefix("loc:@") {
                if let other = graph.index[String(group.dropFirst(5))] { sets.union(index, other) }
            }
            // Ops taking a variable reference (Assign, a direct read) or a resource handle
            // (ReadVariableOp, ResourceApplyAdam) live with the variable: references and
            // handles name a variable of one process and never cross processes. Variants
            // (optionals, TensorLists) are Swift values with no wire form, so they stay with their
            // producer.
            for input in graph.nodes[index].dataInputs
            where graph.nodes[input.node].outputTypes[input.output].isRef
                || graph.nodes[input.node].outputTypes[input.output].dtype == .resource
                || graph.nodes[input.node].outputTypes[input.output].dtype == .variant
            {
                sets.union(index, input.node)
            }
        }
        // A loop or a cond runs on one device, which saves a message per iteration and per
        // branch, unless the options or the graph's own device requests split it.
        var consumers: [[Int]]?
        for members in try graph.controlFlowGroups() {
            var split = splitControlFlow
            if !split { split = try requestsSplit(members) }
            guard !split else {
                let dataConsumers = consumers ?? graph.dataConsumers()
                consumers = dataConsumers
                colocateRouting(members, consumers: dataConsumers, &sets)
                continue
            }
            for member in members.dropFirst() { sets.union(members[0], member) }
        }
        try buildGroups(sets: &sets, existing: existing)
    }

    /// Whether the device requests of a loop's or cond's nodes leave no device for all of them.
    private func requestsSplit(_ members: [Int]) throws(WeftError) -> Bool {
        var allowed = devices
        for member in members where !graph.nodes[member].info.device.isEmpty {
            let request = try DeviceRequest(parsing: graph.nodes[member].info.device)
            allowed = allowed.filter(request.matches)
        }
        return allowed.isEmpty
    }

    /// In a loop split across devices, keeps an `Enter` (not constant) and a `NextIteration`
    /// with the nodes they feed (the loop's `Merge`), as TensorFlow's partitioner does: a value
    /// entering the loop, or passed to the next iteration, then reaches its iteration on the
    /// device that runs it, without crossing devices between two iterations.
    private func colocateRouting(_ members: [Int], consumers: [[Int]], _ sets: inout UnionFind) {
        for member in members {
            let info = graph.nodes[member].info
            switch info.op {
            case "Enter", "RefEnter":
                guard (try? info.attributes.bool("is_constant", default: false)) != true else { continue }
                for consumer in consumers[member] { sets.union(member, consumer) }
            case "NextIteration", "RefNextIteration":
                for consumer in consumers[member] { sets.union(member, consumer) }
            default: break
            }
        }
    }

    private mutating func buildGroups(sets: inout UnionFind, existing: [String: DeviceName]) throws(WeftError) {
        // Flat arrays, not dictionaries: placement of 100,000 nodes must take well under a second.
        var groupOfRoot = [Int](repeating: -1, count: graph.nodes.count)
        groupOfNode = [Int](repeating: 0, count: graph.nodes.count)
        topologicalOrder = graph.topologicalOrder()
        groups.reserveCapacity(graph.nodes.count)
        for index in topologicalOrder {
            let root = sets.find(index)
            if groupOfRoot[root] < 0 {
                groupOfRoot[root] = groups.count
                groups.append(Group(members: [], allowed: devices, fixed: nil))
            }
            let group = groupOfRoot[root]
            groupOfNode[index] = group
            groups[group].members.append(index)
        }
        for group in groups.indices {
            try constrain(group, existing: existing)
        }
        producers = [[Int]](repeating: [], count: groups.count)
        for index in graph.nodes.indices {
            for input in graph.nodes[index].dataInputs where groupOfNode[input.node] != groupOfNode[index] {
                producers[groupOfNode[index]].append(groupOfNode[input.node])
            }
        }
    }

    private mutating func constrain(_ group: Int, existing: [String: DeviceName]) throws(WeftError) {
        var reason = ""
        for member in groups[group].members {
            if !existing.isEmpty, let device = existing[graph.nodes[member].info.name] {
                groups[group].fixed = device
                groups[group].allowed = [device]
                continue
            }
            guard !graph.nodes[member].info.device.isEmpty else { continue }
            let info = graph.nodes[member].info
            let request = try DeviceRequest(parsing: info.device)
            guard !request.isEmpty else { continue }
            let allowed = groups[group].allowed.filter(request.matches)
            guard !allowed.isEmpty else {
                let known = devices.map(\.description).joined(separator: ", ")
                if devices.contains(where: request.matches) {
                    // As TensorFlow's soft placement does: an op that uses a variable runs where
                    // the variable lives, whatever it asks for (`replica_device_setter` puts a
                    // resource variable's VarIsInitializedOp on the worker).
                    if usesVariable(member) { continue }
                    throw WeftError(
                        .invalidArgument,
                        "node '\(info.name)' asks for device \(info.device), but it must be colocated with \(reason), which is elsewhere"
                    )
                }
                throw WeftError(
                    .invalidArgument,
                    "node '\(info.name)' asks for device '\(info.device)', which this cluster does not have; its devices are: \(known)"
                )
            }
            groups[group].allowed = allowed
            reason = "'\(info.name)' (\(info.device))"
        }
    }

    /// Whether the node takes a variable reference, a resource handle or a variant as a data input.
    private func usesVariable(_ node: Int) -> Bool {
        graph.nodes[node].dataInputs.contains { input in
            let type = graph.nodes[input.node].outputTypes[input.output]
            return type.isRef || type.dtype == .resource || type.dtype == .variant
        }
    }

    /// The devices in the placement's result for every node, from one device per group.
    public func assignment(_ deviceOfGroup: [DeviceName]) -> [String: DeviceName] {
        var result: [String: DeviceName] = [:]
        result.reserveCapacity(graph.nodes.count)
        for index in graph.nodes.indices {
            result[graph.nodes[index].info.name] = deviceOfGroup[groupOfNode[index]]
        }
        return result
    }
}

/// Disjoint sets with path halving and union by size.
struct UnionFind {
    private var parent: [Int]
    private var size: [Int]

    init(count: Int) {
        parent = Array(0..<count)
        size = [Int](repeating: 1, count: count)
    }

    mutating func find(_ x: Int) -> Int {
        var x = x
        while parent[x] != x {
            parent[x] = parent[parent[x]]
            x = parent[x]
        }
        return x
    }

    mutating func union(_ a: Int, _ b: Int) {
        var (ra, rb) = (find(a), find(b))
        guard ra != rb else { return }
        if size[ra] < size[rb] { swap(&ra, &rb) }
        parent[rb] = ra
        size[ra] += size[rb]
    }
}

extension RuntimeGraph {
    /// Node indices with producers (data and control) before consumers, loops' back edges
    /// aside; nodes on a malformed cycle come last in their given order, so placement still
    /// covers them.
    func topologicalOrder() -> [Int] {
        // Consumers in CSR form: two passes over the edges, no array per node.
        var indegree = [Int](repeating: 0, count: nodes.count)
        var start = [Int](repeating: 0, count: nodes.count + 1)
        for index in nodes.indices {
            indegree[index] = nodes[index].controlInputs.count
            for (slot, input) in nodes[index].dataInputs.enumerated() where !closesLoop(index, input: slot) {
                indegree[index] += 1
                start[input.node + 1] += 1
            }
            for producer in nodes[index].controlInputs { start[producer + 1] += 1 }
        }
        for index in nodes.indices { start[index + 1] += start[index] }
        var fill = start
        var consumers = [Int](repeating: 0, count: start[nodes.count])
        for index in nodes.indices {
            for (slot, input) in nodes[index].dataInputs.enumerated() where !closesLoop(index, input: slot) {
                consumers[fill[input.node]] = index
                fill[input.node] += 1
            }
            for producer in nodes[index].controlInputs {
                consumers[fill[producer]] = index
                fill[producer] += 1
            }
        }
        var order = nodes.indices.filter { indegree[$0] == 0 }
        order.reserveCapacity(nodes.count)
        var next = 0
        while next < order.count {
            let node = order[next]
            for edge in start[node]..<start[node + 1] {
                let consumer = consumers[edge]
                indegree[consumer] -= 1
                if indegree[consumer] == 0 { order.append(consumer) }
            }
            next += 1
        }
        if order.count < nodes.count {
            var seen = Set(order)
            order += nodes.indices.filter { seen.insert($0).inserted }
        }
        return order
    }
}
