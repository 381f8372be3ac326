import WeftRuntime

/// A way to choose a device for every colocation group that the hard constraints leave open.
/// Strategies are values, chosen by name on the command line and in code.
///
/// A strategy implements `place(_:options:)` (cost-aware strategies) or `place(_:)` (strategies
/// that need no costs); each has a default in terms of the other.
public protocol PlacementStrategy: Sendable {
    /// The name users select it by (`round-robin`).
    var name: String { get }
    /// One device per group of `problem`, each among the group's `allowed` devices, and a
    /// group's `fixed` device where it has one.
    func place(_ problem: PlacementProblem) throws(WeftError) -> [DeviceName]
    /// The same, given costs, a seed and memory limits: deterministic for equal options.
    func place(_ problem: PlacementProblem, options: PlacementOptions) throws(WeftError) -> [DeviceName]
}

extension PlacementStrategy {
    /// Strategies that need no costs ignore the options.
    public func place(_ problem: PlacementProblem, options: PlacementOptions) throws(WeftError) -> [DeviceName] {
        try place(problem)
    }

    /// Cost-aware strategies place with the default options.
    public func place(_ problem: PlacementProblem) throws(WeftError) -> [DeviceName] {
        try place(problem, options: PlacementOptions())
    }
}

/// The strategies Weft knows, by name.
public enum PlacementStrategies {
    /// Every built-in strategy.
    public static let all: [any PlacementStrategy] = [
        ExplicitPlacement(), RoundRobinPlacement(), LoadBalancePlacement(), MinCutPlacement(), CriticalPathPlacement(),
        ProfilePlacement(),
    ]

    /// The strategy named `name`, or an `invalidArgument` listing the names there are.
    public static func named(_ name: String) throws(WeftError) -> any PlacementStrategy {
        guard let strategy = all.first(where: { $0.name == name }) else {
            let names = all.map(\.name).joined(separator: ", ")
            throw WeftError(.invalidArgument, "there is no placement strategy '\(name)'; choose one of: \(names)")
        }
        return strategy
    }

    /// Places every node of `graph`: hard constraints, then `strategy`, then the memory limits of
    /// `options` (`resourceExhausted` when they cannot be met).
    public static func place(
        _ graph: RuntimeGraph,
        on devices: [DeviceName],
        strategy: any PlacementStrategy,
        existing: [String: DeviceName] = [:],
        options: PlacementOptions = PlacementOptions()
    ) throws(WeftError) -> [String: DeviceName] {
        let problem = try PlacementProblem(
            graph: graph,
            devices: devices,
            existing: existing,
            splitControlFlow: options.splitControlFlow
        )
        return problem.assignment(try place(problem, strategy: strategy, options: options))
    }

    /// One device per group of `problem`, checked against the constraints and memory limits.
    public static func place(
        _ problem: PlacementProblem,
        strategy: any PlacementStrategy,
        options: PlacementOptions = PlacementOptions()
    ) throws(WeftError) -> [DeviceName] {
        var chosen = try strategy.place(problem, options: options)
        guard chosen.count == problem.groups.count else {
            throw WeftError(
                .internal,
                "strategy \(strategy.name) placed \(chosen.count) of \(problem.groups.count) groups"
            )
        }
        if options.memoryLimit != nil || !options.memoryLimits.isEmpty {
            try MemoryBudget(problem: problem).enforce(&chosen, problem: problem, options: options)
        }
        let listed = Set(problem.devices)
        for (group, device) in chosen.enumerated() {
            let allowed = problem.groups[group].allowsAll(listed.count) ? listed : Set(problem.groups[group].allowed)
            guard !allowed.contains(device) else { continue }
            let node = problem.graph.nodes[problem.groups[group].members[0]].info.name
            throw WeftError(
                .internal,
                "strategy \(strategy.name) put '\(node)' on \(device), which its constraints forbid"
            )
        }
        return chosen
    }
}

/// TensorFlow's behaviour: a node without a device goes where its first input is, and a node
/// without inputs to task 0 of the first job.
public struct ExplicitPlacement: PlacementStrategy {
    /// `explicit`.
    public let name = "explicit"
    /// Makes the strategy.
    public init() {}

    /// Follows inputs, else the first device.
    public func place(_ problem: PlacementProblem) throws(WeftError) -> [DeviceName] {
        var chosen: [DeviceName?] = Array(repeating: nil, count: problem.groups.count)
        for (index, group) in problem.groups.enumerated() {
            if let fixed = group.fixed ?? (group.allowed.count == 1 ? group.allowed[0] : nil) {
                chosen[index] = fixed
                continue
            }
            let followed = problem.producers[index].lazy.compactMap { chosen[$0] }.first { group.allowed.contains($0) }
            chosen[index] = followed ?? group.allowed[0]
        }
        return chosen.map { $0! }  // every group was given a device above
    }
}

/// Spreads the open groups over the devices in turn, in topological order.
public struct RoundRobinPlacement: PlacementStrategy {
    /// `round-robin`.
    public let name = "round-robin"
    /// Makes the strategy.
    public init() {}

    /// Cycles through each group's allowed devices.
    public func place(_ problem: PlacementProblem) throws(WeftError) -> [DeviceName] {
        var turn = 0
        return problem.groups.map { group in
            if let fixed = group.fixed { return fixed }
            guard group.allowed.count > 1 else { return group.allowed[0] }
            defer { turn += 1 }
            return group.allowed[turn % group.allowed.count]
        }
    }
}
