import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// Sessions outlive the coordinator process, and no session state outlives the coordinator's
/// interest in it.
///
/// Every worker holding state of a session keeps a `Weft_SessionRecord` of it (client, owner,
/// strategy, lease, the whole graph and its placement; a version that grows with extensions),
/// sent with a partition registration whenever the worker's copy is older. A restarted
/// coordinator knows nothing; workers re-register naming the sessions they hold with their
/// records, and the coordinator adopts each session from the newest record, so any step
/// signature can run again: its partitions are registered anew and find the variables where
/// they were. Workers also hold their own lease on each session (`SessionLeases`): the
/// heartbeat names the sessions a worker holds and the reply names those the coordinator
/// keeps, renewing them; the others (closed while the worker was unreachable, or not adopted)
/// are freed, and a lease nobody renews runs out.
extension Coordinator {
    /// How long after it starts the coordinator waits for workers to bring back a session it
    /// does not know before answering `notFound`: time for every worker to notice the restart
    /// (a heartbeat timing out) and register again.
    var recoveryWindow: Duration { configuration.heartbeatTimeout + configuration.requestTimeout * 2 }

    /// Waits, just after a start, until `handle` is adopted and every worker its nodes are placed
    /// on has registered again, or the recovery window closes, so a client's request that
    /// arrives before the workers holding its session re-registered finds it whole.
    func awaitRecovery(of handle: String) async {
        guard !handle.isEmpty else { return }
        while ContinuousClock.now < started + recoveryWindow, !state.withLock({ Self.recovered(handle, in: $0) }) {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    private static func recovered(_ handle: String, in state: State) -> Bool {
        guard let session = state.sessions[handle] else { return false }
        return !session.adopted || Set(session.placement.values).allSatisfy { state.membership[$0] != nil }
    }

    /// The lease a new session gets: what its client asked (30 s when it did not say), within
    /// the configured maximum.
    func sessionLease(asked milliseconds: UInt64) -> Duration {
        let asked = Duration(wireMilliseconds: milliseconds == 0 ? 30_000 : milliseconds)
        return configuration.maximumSessionLease.map { min(asked, $0) } ?? asked
    }

    /// How long a worker holds a session's state without renewal: the client's lease, but at
    /// least two heartbeat timeouts, so renewals that come late (or a coordinator restart) do
    /// not free a session the coordinator keeps.
    static func workerLease(_ session: CoordinatorSession, heartbeatTimeout: Duration) -> Duration {
        max(session.lease, heartbeatTimeout * 2)
    }

    /// The lease and, for each device whose copy is older, the record a partition registration
    /// carries to `devices`.
    func recordsToSend(
        _ session: CoordinatorSession,
        to devices: [DeviceName]
    ) -> (leaseMs: UInt64, records: [DeviceName: Weft_SessionRecord]) {
        state.withLock { _ in
            let stale = devices.filter { session.recorded[$0] != session.version }
            let record = stale.isEmpty ? nil : Self.record(of: session)
            var records: [DeviceName: Weft_SessionRecord] = [:]
            for device in stale { records[device] = record }
            let lease = Self.workerLease(session, heartbeatTimeout: configuration.heartbeatTimeout)
            return (lease.millisecondsRoundedUp, records)
        }
    }

    /// Notes, under the state lock, the record versions workers accepted with their partitions.
    static func recordsDelivered(_ records: [DeviceName: Weft_SessionRecord], in session: CoordinatorSession) {
        for (device, record) in records { session.recorded[device] = max(session.recorded[device] ?? 0, record.version) }
    }

    static func record(of session: CoordinatorSession) -> Weft_SessionRecord {
        .with {
            $0.client = session.client
            $0.owner = session.owner?.z85 ?? ""
            $0.strategy = session.strategy.name
            $0.placementSeed = session.options.seed
            $0.memoryLimitBytes = UInt64(max(session.options.memoryLimit ?? 0, 0))
            $0.leaseMs = session.lease.millisecondsRoundedUp
            $0.version = session.version
            $0.graph.node = session.nodes
            $0.graph.library = session.library
            $0.placement = placementList(session.placement)
        }
    }

    /// The answer to a heartbeat from `device` naming `held`: the sessions this coordinator keeps
    /// there, whose leases the worker renews; it frees the rest.
    func heartbeatReply(from device: DeviceName, held: [String]) -> WireMessage {
        let renewed = state.withLock { state in held.filter { Self.keeps($0, on: device, in: state) } }
        return .reply() { envelope in
            envelope.heartbeatReply = .with {
                $0.coordinatorIncarnation = incarnation
                $0.renewed = renewed
            }
        }
    }

    /// Whether the session `handle` is open and may have state on `device`.
    private static func keeps(_ handle: String, on device: DeviceName, in state: State) -> Bool {
        guard let session = state.sessions[handle] else { return false }
        return session.contacted.contains(device) || session.hosts[device] != nil
    }

    /// Takes in the sessions a registering worker holds, under the state lock; returns those
    /// this coordinator keeps. A worker that last registered with another coordinator process
    /// brings sessions this one adopts (from the newest record any worker brings); one that
    /// registered with this process keeps only the sessions it still has open.
    func adopt(
        _ body: Weft_RegisterWorker,
        device: DeviceName,
        in state: inout State,
        now: ContinuousClock.Instant
    ) -> [String] {
        let fromEarlierCoordinator = body.coordinatorIncarnation != incarnation
        var renewed: [String] = []
        for held in body.sessions {
            if let session = state.sessions[held.handle] {
                if fromEarlierCoordinator && session.adopted {
                    join(session, held: held, device: device, incarnation: body.incarnation)
                }
                if Self.keeps(held.handle, on: device, in: state) { renewed.append(held.handle) }
                continue
            }
            guard fromEarlierCoordinator, held.hasRecord else { continue }
            do throws(WeftError) {
                let session = try CoordinatorSession(adopting: held.record, handle: held.handle, now: now)
                state.sessions[held.handle] = session
                join(session, held: held, device: device, incarnation: body.incarnation)
                renewed.append(held.handle)
                logger.info(
                    "session adopted",
                    metadata: ["session.id": "\(held.handle)", "worker.device": "\(device)"]
                )
            } catch {
                logger.warning(
                    "session not adopted: its record is unusable",
                    metadata: ["session.id": "\(held.handle)", "worker.device": "\(device)", "error": "\(error)"]
                )
            }
        }
        return renewed
    }

    /// Records that `device` holds state of an adopted session, and takes its record when newer.
    private func join(_ session: CoordinatorSession, held: Weft_HeldSession, device: DeviceName, incarnation: UInt64) {
        session.hosts[device] = incarnation
        session.contacted.insert(device)
        // The record reached this worker, and so did every step id up to `lastStep`.
        session.recorded[device] = held.record.version
        session.nextStep = max(session.nextStep, held.lastStep &+ 1)
        if held.hasRecord, held.record.version > session.version {
            do throws(WeftError) {
                try session.restore(held.record)
            } catch {
                logger.warning(
                    "a newer record of the session is unusable; the older one stays",
                    metadata: ["session.id": "\(session.handle)", "error": "\(error)"]
                )
            }
        }
    }
}

extension CoordinatorSession {
    /// A session rebuilt from a worker's record after the coordinator restarted.
    convenience init(adopting record: Weft_SessionRecord, handle: String, now: ContinuousClock.Instant) throws(WeftError) {
        let graph = try RuntimeGraph(nodes: record.graph.node, functions: FunctionLibrary(nonEmpty: record.graph.library))
        self.init(
            handle: handle,
            client: record.client,
            owner: record.owner.isEmpty ? nil : try CurveKey(z85: record.owner),
            strategy: try PlacementStrategies.named(record.strategy),
            options: PlacementOptions(
                costModel: .default,
                seed: record.placementSeed,
                memoryLimit: record.memoryLimitBytes == 0 ? nil : Int(clamping: record.memoryLimitBytes)
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
    }

    /// Takes the graph and placement of a newer record; steps are planned anew.
    func restore(_ record: Weft_SessionRecord) throws(WeftError) {
        let graph = try RuntimeGraph(nodes: record.graph.node, functions: FunctionLibrary(nonEmpty: record.graph.library))
        placement = try Self.placement(record.placement)
        self.graph = graph
        nodes = record.graph.node
        library = record.graph.library
        version = record.version
        plans.removeAll()
    }

    private static func placement(_ list: [Weft_NodePlacement]) throws(WeftError) -> [String: DeviceName] {
        var placement: [String: DeviceName] = [:]
        for entry in list { placement[entry.node] = try DeviceName(parsing: entry.device) }
        return placement
    }
}
