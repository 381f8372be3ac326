import WeftProto
import WeftRuntime
import WeftTransport

/// What a worker makes of a `RegisterPartition` body before it keeps anything: the partition's
/// step plan and the key of the client that owns the session. Everything in the body comes from
/// the network, so every problem is a thrown `WeftError` and nothing is kept when one is found.
public struct PartitionRegistration: Sendable {
    /// The plan of the partition: pruned, checked and with every kernel built.
    public let plan: StepPlan
    /// The public key of the client the session belongs to; `nil` in a cluster without keys.
    public let owner: CurveKey?

    /// Loads the partition's graph and plans it for the body's feeds, fetches and targets.
    public init(_ body: Weft_RegisterPartition) throws(WeftError) {
        let graph = try RuntimeGraph(
            nodes: body.graph.node,
            functions: FunctionLibrary(nonEmpty: body.graph.library),
            lowersLoops: true
        )
        plan = try StepPlan(
            graph: graph,
            feeds: try body.feeds.map { (name) throws(WeftError) in try TensorName(parsing: name) },
            fetches: try body.fetches.map { (name) throws(WeftError) in try TensorName(parsing: name) },
            targets: body.targets
        )
        owner = body.owner.isEmpty ? nil : try CurveKey(z85: body.owner)
    }
}
