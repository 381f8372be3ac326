import Foundation
import Synchronization
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

extension Coordinator {
    // MARK: Creating, extending and closing sessions

    /// Opens a session owned by the client that asks: by its key when the cluster has keys;
    /// its handle is 128 random bits either way.
    func createSession(_ envelope: Weft_Envelope, owner: CurveKey?) async throws(WeftError) -> WireMessage {
        let body = envelope.createSession
        let graph = try RuntimeGraph(
            nodes: body.graph.node,
            functions: FunctionLibrary(nonEmpty: body.graph.library)
        )
        var strategy = try PlacementStrategies.named(
            body.strategy.isEmpty ? configuration.defaultStrategy : body.strategy
        )
        if var profile = strategy as? ProfilePlacement, !body.measuredNodeSeconds.isEmpty {
            for (node, seconds) in body.measuredNodeSeconds {
                profile.measuredCosts[node] = try Duration(
                    measuredSeconds: seconds,
                    of: "the measured cost of node \(node)"
                )
            }
            strategy = profile
        }
        let devices = try await waitForDevices(graph, timeout: Duration(wireMilliseconds: body.waitForWorkersMs))
        let options = PlacementOptions(
            costModel: costModel(),
            seed: body.placementSeed,
            memoryLimit: body.memoryLimitBytes == 0 ? nil : Int(clamping: body.memoryLimitBytes),
            splitControlFlow: body.splitControlFlow
        )
        let placement = try await offloaded { [strategy] () throws(WeftError) in
            try PlacementStrategies.place(graph, on: devices, strategy: strategy, options: options)
        }
        linkProbes.needed(Set(placement.values))  // estimated links it uses get measured
        let lease = sessionLease(asked: body.leaseMs)
        let sharing = try Self.sharingRequest(body)
        let (handle, admission) = try state.withLock { (state) throws(WeftError) -> (String, SharedContainers.Admission?) in
            while true {
                let session = CoordinatorSession(
                    handle: Self.newSessionHandle(),
                    client: body.client,
                    owner: owner,
                    strategy: strategy,
                    options: options,
                    nodes: body.graph.node,
                    library: body.graph.library,
                    graph: graph,
                    placement: placement,
                    lease: lease,
                    now: .now
                )
                if let sharing {
                    if let admission = try state.cluster.open(session, sharing: sharing) {
                        return (session.handle, admission)
                    }
                } else if state.cluster.open(session) {
                    return (session.handle, nil)
                }
            }
        }
        logger.info("session created", metadata: ["session.id": "\(handle)", "session.strategy": "\(strategy.name)"])
        return .reply(session: handle) { envelope in
            envelope.createSessionReply = .with {
                $0.placement = CoordinatorSession.placementList(placement)
                $0.sharedContainerToken = admission?.createdToken ?? ""
            }
        }
    }

    /// The shared container a session asks for, with a fresh token and id in case it creates it;
    /// `nil` when its variables are to be its own.
    private static func sharingRequest(_ body: Weft_CreateSession) throws(WeftError) -> SharedContainers.Request? {
        guard !body.sharedContainer.isEmpty else {
            guard body.sharedContainerToken.isEmpty else {
                throw WeftError(.invalidArgument, "a shared container token was given without the container's name")
            }
            return nil
        }
        return SharedContainers.Request(
            name: body.sharedContainer,
            token: body.sharedContainerToken.isEmpty ? nil : body.sharedContainerToken,
            freshToken: String(newSessionHandle().dropFirst()),
            freshID: "c" + newSessionHandle().dropFirst()
        )
    }

    /// `s` and 128 random bits in hex, from the system's cryptographic generator: a handle
    /// nobody can guess, since without keys it is what a session's owner holds.
    static func newSessionHandle() -> String {
        var generator = SystemRandomNumberGenerator()
        let bits = [UInt64.random(in: 0...UInt64.max, using: &generator), .random(in: 0...UInt64.max, using: &generator)]
        return "s" + bits.map { word in
            let hex = String(word, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }

    /// What placement believes the cluster costs now.
    func costModel() -> CostModel {
        state.withLock { $0.cluster.costModel }
    }

    /// The healthy devices, once every task the graph names explicitly has registered (or the
    /// wait ran out) and there is at least one worker.
    private func waitForDevices(_ graph: RuntimeGraph, timeout: Duration) async throws(WeftError) -> [DeviceName] {
        var named = Set<DeviceName>()
        for node in graph.nodes where !node.info.device.isEmpty {
            let request = try DeviceRequest(parsing: node.info.device)
            if let job = request.job, let task = request.task { named.insert(DeviceName(job: job, task: task)) }
        }
        let deadline = ContinuousClock.now + timeout
        while true {
            let devices = state.withLock { $0.cluster.membership.healthyDevices }
            let missing = named.subtracting(devices)
            if !devices.isEmpty && missing.isEmpty { return devices }
            // Workers register within a heartbeat or two; a short sleep costs nothing while waiting.
            guard ContinuousClock.now < deadline else {
                guard !devices.isEmpty else {
                    throw WeftError(.unavailable, "no worker has registered with the coordinator within \(timeout)")
                }
                // Placement reports the missing devices with the list of those there are.
                return devices
            }
            do {
                try await executor.sleep(for: .milliseconds(50))
            } catch {
                throw WeftError(.cancelled, "the coordinator stopped while the session waited for workers")
            }
        }
    }

    /// Places the nodes an extension adds off the coordinator's executor (a min-cut over a large
    /// graph takes a while, and heartbeats and health checks run there), then applies the result
    /// unless another extension came first, in which case it places again from the newer graph.
    func extendSession(_ envelope: Weft_Envelope, caller: CurveKey?) async throws(WeftError) -> WireMessage {
        let body = envelope.extendSession
        for _ in 0..<Self.extensionAttempts {
            let (base, devices, costModel) = try state.withLock { (state) throws(WeftError) in
                try state.cluster.extensionBase(envelope.session, caller: caller, client: envelope.client)
            }
            let change = try await offloaded { () throws(WeftError) in
                try CoordinatorSession.extend(
                    base,
                    with: body.graph.node,
                    library: body.graph.library,
                    devices: devices,
                    costModel: costModel
                )
            }
            let placement = try state.withLock { (state) throws(WeftError) -> [String: DeviceName]? in
                try state.cluster.applyExtension(change, to: envelope.session, caller: caller, client: envelope.client)
            }
            if let placement {
                return .reply(session: envelope.session) { envelope in
                    envelope.createSessionReply = .with { $0.placement = CoordinatorSession.placementList(placement) }
                }
            }
        }
        throw WeftError(
            .aborted,
            "session \(envelope.session) was extended by other requests \(Self.extensionAttempts) times while this "
                + "extension was placed; send it again"
        )
    }

    /// Runs `work` (placement) on the placement executor and returns to the caller's.
    func offloaded<Value>(_ work: () throws(WeftError) -> Value) async throws(WeftError) -> Value {
        try await withTaskExecutorPreference(offload) { () async throws(WeftError) -> Value in try work() }
    }

    /// How often an extension is placed again when others overtake it.
    static let extensionAttempts = 3

    func closeSession(_ handle: String, caller: CurveKey?, client: String) throws(WeftError) -> WireMessage {
        let directives = try state.withLock { (state) throws(WeftError) in
            try state.cluster.close(handle, caller: caller, client: client, now: .now)
        }
        perform(directives)
        return .ok
    }
}
