import WeftRuntime

/// Holds a placement to the per-device memory limits of `PlacementOptions`: the bytes of the
/// variables and constants each device keeps for the session's life.
///
/// Memory-aware strategies avoid overfull devices as they go; after any strategy, `enforce` moves
/// open groups off an overfull device (largest first, to the allowed device with the most room)
/// and reports `resourceExhausted` naming the device and the bytes when no move can fix it. So
/// every strategy, including `explicit` and `round-robin`, honours the limit when it can be met.
struct MemoryBudget {
    /// Persistent bytes of every group.
    let groupBytes: [Int]

    /// Counts the bytes of `problem`'s variables and constants, from their declared shapes.
    init(problem: PlacementProblem) {
        var bytes = [Int](repeating: 0, count: problem.groups.count)
        for index in problem.graph.nodes.indices {
            bytes[problem.groupOfNode[index]] += Self.persistentBytes(of: problem.graph.nodes[index])
        }
        groupBytes = bytes
    }

    /// Bytes a `VariableV2` or `Const` holds; zero for other ops.
    static func persistentBytes(of node: RuntimeGraph.Node) -> Int {
        guard let type = node.outputTypes.first else { return 0 }
        switch node.info.op {
        case "VariableV2":
            let shape = ShapeInference.concrete((try? node.info.attributes.shape("shape")) ?? .unknown)
            return ShapeInference.bounded(shape).elementCount * type.dtype.byteSize
        case "Const":
            guard case .tensor(let proto)? = node.info.attributes.values["value"]?.value else { return 0 }
            let shape = TensorShape(proto.tensorShape.dim.map { max(Int($0.size), 0) })
            return ShapeInference.bounded(shape).elementCount * type.dtype.byteSize
        default:
            return 0
        }
    }

    /// Moves groups until every device is within its limit, or throws `resourceExhausted`.
    func enforce(_ chosen: inout [DeviceName], problem: PlacementProblem, options: PlacementOptions) throws(WeftError) {
        guard options.memoryLimit != nil || !options.memoryLimits.isEmpty else { return }
        var load: [DeviceName: Int] = [:]
        for (group, device) in chosen.enumerated() { load[device, default: 0] += groupBytes[group] }
        let room = { (device: DeviceName) -> Int in (options.memoryLimit(of: device) ?? .max) - load[device, default: 0]
        }
        for device in problem.devices where room(device) < 0 {
            // Largest movable groups first: fewest moves, and small groups stay near their neighbours.
            let movable = chosen.indices.filter { group in
                chosen[group] == device && groupBytes[group] > 0 && problem.groups[group].fixed == nil
                    && problem.groups[group].allowed.count > 1
            }.sorted { (groupBytes[$0], -$0) > (groupBytes[$1], -$1) }
            for group in movable where room(device) < 0 {
                let bytes = groupBytes[group]
                let target = problem.groups[group].allowed.filter { $0 != device && room($0) >= bytes }
                    .max { (room($0), $1) < (room($1), $0) }
                guard let target else { continue }
                chosen[group] = target
                load[device, default: 0] -= bytes
                load[target, default: 0] += bytes
            }
            if room(device) < 0 { throw exhausted(device, load: load[device, default: 0], options: options) }
        }
    }

    private func exhausted(_ device: DeviceName, load: Int, options: PlacementOptions) -> WeftError {
        WeftError(
            .resourceExhausted,
            "placing the graph needs \(load) bytes of variables and constants on \(device), more than its memory limit of \(options.memoryLimit(of: device) ?? 0) bytes, and the groups there cannot move elsewhere; raise the limit or add workers"
        )
    }
}
