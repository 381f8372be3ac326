import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// The record every worker holding state of a session keeps (see `ClusterState+Recovery`),
/// and the session rebuilt from one.
extension CoordinatorSession {
    /// What a worker keeps so a restarted coordinator can adopt the session: everything a
    /// step needs, with the version that tells the newest record.
    var record: Weft_SessionRecord {
        .with {
            $0.client = client
            $0.owner = owner?.z85 ?? ""
            $0.strategy = strategy.name
            $0.placementSeed = options.seed
            $0.memoryLimitBytes = UInt64(max(options.memoryLimit ?? 0, 0))
            $0.splitControlFlow = options.splitControlFlow
            $0.leaseMs = lease.millisecondsRoundedUp
            $0.version = version
            $0.graph.node = nodes
            $0.graph.library = library
            $0.placement = Self.placementList(placement)
            $0.sharedContainer = sharedContainer ?? ""
            $0.sharedContainerName = sharedGrant?.name ?? ""
            $0.sharedContainerToken = sharedGrant?.token ?? ""
        }
    }

    /// A placement as the wire lists it, sorted by node name.
    static func placementList(_ placement: [String: DeviceName]) -> [Weft_NodePlacement] {
        placement.sorted { $0.key < $1.key }.map { name, device in
            .with {
                $0.node = name
                $0.device = device.description
            }
        }
    }

    /// A session rebuilt from a worker's record after the coordinator restarted.
    init(adopting record: Weft_SessionRecord, handle: String, now: ContinuousClock.Instant) throws(WeftError) {
        let graph = try RuntimeGraph(
            nodes: record.graph.node,
            functions: FunctionLibrary(nonEmpty: record.graph.library)
        )
        self.init(
            handle: handle,
            client: record.client,
            owner: record.owner.isEmpty ? nil : try CurveKey(z85: record.owner),
            strategy: try PlacementStrategies.named(record.strategy),
            options: PlacementOptions(
                costModel: .default,
                seed: record.placementSeed,
                memoryLimit: record.memoryLimitBytes == 0 ? nil : Int(clamping: record.memoryLimitBytes),
                splitControlFlow: record.splitControlFlow
            ),
            nodes: record.graph.node,
            library: record.graph.library,
            graph: graph,
            placement: try Self.placement(record.placement),
            lease: Duration(wireMilliseconds: record.leaseMs),
            now: now
        )
        version = record.version
        adopted = true
        sharedContainer = record.sharedContainer.isEmpty ? nil : record.sharedContainer
        if let id = sharedContainer, !record.sharedContainerName.isEmpty {
            sharedGrant = SharedContainers.Grant(
                name: record.sharedContainerName,
                token: record.sharedContainerToken,
                id: id
            )
        }
    }

    /// A placement from its wire list.
    static func placement(_ list: [Weft_NodePlacement]) throws(WeftError) -> [String: DeviceName] {
        var placement: [String: DeviceName] = [:]
        for entry in list { placement[entry.node] = try DeviceName(parsing: entry.device) }
        return placement
    }
}
