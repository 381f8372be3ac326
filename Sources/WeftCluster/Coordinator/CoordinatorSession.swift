import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// A session as the coordinator keeps it: the graph, where each node lives, and the
/// partitions of every run signature seen so far with the workers they are registered on.
/// A value owned by `ClusterState`; a step takes a copy of what it needs when it starts.
struct CoordinatorSession: Sendable {
    /// One run signature, partitioned once.
    struct PlannedStep: Sendable {
        /// Tells this plan from a later one of the same signature (after an extension).
        let id: Int
        let partitions: [DeviceName: Partition]
        let handles: [DeviceName: String]
        /// The incarnation of the worker each partition was registered with.
        var registered: [DeviceName: UInt64] = [:]

        init(id: Int, partitions: [DeviceName: Partition], prefix: String) {
            self.id = id
            self.partitions = partitions
            var handles: [DeviceName: String] = [:]
            for device in partitions.keys { handles[device] = "\(prefix)/\(device)" }
            self.handles = handles
        }
    }

    let handle: String
    /// The id the client opened the session with.
    let client: String
    /// The key of the client that opened the session, when the cluster has keys: the only
    /// one that may use it.
    let owner: CurveKey?
    /// When the session was opened: status lists sessions in this order.
    let created: ContinuousClock.Instant
    let strategy: any PlacementStrategy
    /// The seed and memory limit the session was opened with; the cost model is the
    /// cluster's, current when nodes are placed.
    var options: PlacementOptions
    var nodes: [Tensorflow_NodeDef]
    /// The functions the session's graph carries, which functional nodes call.
    var library: Tensorflow_FunctionDefLibrary
    var graph: RuntimeGraph
    var placement: [String: DeviceName]
    var plans: [RunSignature: PlannedStep] = [:]
    var planCounter = 0
    var nextStep: UInt64 = 1
    var steps: UInt64 = 0
    var leaseExpiry: ContinuousClock.Instant
    var lease: Duration
    /// Set when a worker holding this session's state restarted: the state is gone.
    var broken: WeftError?
    /// Workers that hold state of this session, with the incarnation that holds it.
    var hosts: [DeviceName: UInt64] = [:]
    /// Workers asked to register a partition, whatever they answered: a registration that
    /// failed elsewhere, or whose reply was lost, may still have left state there to free.
    var contacted: Set<DeviceName> = []
    /// Grows with every extension: workers keep the newest record (see `Coordinator+Recovery`).
    var version: UInt64 = 1
    /// The record version each worker was given.
    var recorded: [DeviceName: UInt64] = [:]
    /// Set when a restarted coordinator rebuilt the session from workers' records.
    var adopted = false
    /// The worker-side id of the shared variable container holding the session's variables;
    /// `nil` when they are its own.
    var sharedContainer: String?
    /// The container's name and token with its id, kept in the session's record.
    var sharedGrant: SharedContainers.Grant?

    init(
        handle: String,
        client: String,
        owner: CurveKey?,
        strategy: any PlacementStrategy,
        options: PlacementOptions,
        nodes: [Tensorflow_NodeDef],
        library: Tensorflow_FunctionDefLibrary,
        graph: RuntimeGraph,
        placement: [String: DeviceName],
        lease: Duration,
        now: ContinuousClock.Instant
    ) {
        self.handle = handle
        self.client = client
        self.owner = owner
        self.created = now
        self.strategy = strategy
        self.options = options
        self.nodes = nodes
        self.library = library
        self.graph = graph
        self.placement = placement
        self.lease = lease
        self.leaseExpiry = now + lease
    }

    /// Marks the session broken when `device`, which holds some of its state, now runs as
    /// another process (`incarnation`): that state is gone. Returns the error steps now get.
    mutating func breakIfRestarted(_ device: DeviceName, incarnation: UInt64) -> WeftError? {
        if broken == nil, let held = hosts[device], held != incarnation {
            broken = WeftError(
                .aborted,
                "worker \(device) restarted and lost this session's state there; open a new session"
            )
        }
        return broken
    }

    /// The partitions of a signature, made on first use.
    mutating func plan(for signature: RunSignature) throws(WeftError) -> PlannedStep {
        if let plan = plans[signature] { return plan }
        let partitions = try Partitioner(graph: graph, placement: placement).partition(signature)
        planCounter += 1
        let plan = PlannedStep(id: planCounter, partitions: partitions, prefix: "\(handle)/p\(planCounter)")
        plans[signature] = plan
        return plan
    }

    /// What an extension starts from, read from the state so placement can run outside it.
    struct Base: Sendable {
        let nodes: [Tensorflow_NodeDef]
        let library: Tensorflow_FunctionDefLibrary
        let placement: [String: DeviceName]
        let strategy: any PlacementStrategy
        let options: PlacementOptions
        /// The session's `generation` it was read at.
        let generation: Int
    }

    /// The session grown by an extension: placed, not yet applied.
    struct Extension: Sendable {
        let base: Base
        let nodes: [Tensorflow_NodeDef]
        let library: Tensorflow_FunctionDefLibrary
        let graph: RuntimeGraph
        let placement: [String: DeviceName]
        let options: PlacementOptions
    }

    /// Counts changes of the graph (extensions applied, newer records taken), so an extension
    /// placed from an older graph is not applied over a newer.
    private(set) var generation = 0

    /// The graph as it is now, for an extension.
    var base: Base {
        Base(
            nodes: nodes,
            library: library,
            placement: placement,
            strategy: strategy,
            options: options,
            generation: generation
        )
    }

    /// Adds nodes, and the functions of `library` the session lacks (by name), to `base`;
    /// existing nodes keep their devices, new ones are placed by the strategy. Pure, and as
    /// slow as the strategy: the coordinator runs it outside its state.
    static func extend(
        _ base: Base,
        with added: [Tensorflow_NodeDef],
        library: Tensorflow_FunctionDefLibrary,
        devices: [DeviceName],
        costModel: CostModel
    ) throws(WeftError) -> Extension {
        let all = base.nodes + added
        var functions = base.library
        let known = Set(functions.function.map(\.signature.name))
        functions.function += library.function.filter { !known.contains($0.signature.name) }
        let graph = try RuntimeGraph(nodes: all, functions: FunctionLibrary(nonEmpty: functions))
        var options = base.options
        options.costModel = costModel
        let placement = try PlacementStrategies.place(
            graph,
            on: devices,
            strategy: base.strategy,
            existing: base.placement,
            options: options
        )
        return Extension(
            base: base,
            nodes: all,
            library: functions,
            graph: graph,
            placement: placement,
            options: options
        )
    }

    /// Applies an extension placed from the session as it is now; `false`, changing nothing,
    /// when another extension was applied since its base was read.
    mutating func apply(_ change: Extension) -> Bool {
        guard change.base.generation == generation else { return false }
        generation += 1
        version += 1
        graph = change.graph
        library = change.library
        nodes = change.nodes
        placement = change.placement
        options = change.options
        plans.removeAll()
        return true
    }

    /// Takes the graph and placement of a newer record; steps are planned anew, and an
    /// extension placed from the older graph is placed again.
    mutating func restore(_ record: Weft_SessionRecord) throws(WeftError) {
        let graph = try RuntimeGraph(
            nodes: record.graph.node,
            functions: FunctionLibrary(nonEmpty: record.graph.library)
        )
        placement = try Self.placement(record.placement)
        self.graph = graph
        nodes = record.graph.node
        library = record.graph.library
        version = record.version
        generation += 1
        plans.removeAll()
    }
}
