import Foundation
import Synchronization
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// Collects the replies of one step's partitions; the first failure, or all successes, ends it.
final class StepGather: Sendable {
    private let expected: Int
    private let replies = Mutex<[DeviceName: WireMessage]>([:])
    let outcome = Promise<Result<[DeviceName: WireMessage], WeftError>>()

    init(expected: Int) {
        self.expected = expected
        if expected == 0 { outcome.complete(.success([:])) }
    }

    func record(_ device: DeviceName, _ result: Result<WireMessage, WeftError>) {
        switch result {
        case .failure(let error):
            fail(error)
        case .success(let reply):
            let all = replies.withLock { replies -> [DeviceName: WireMessage]? in
                replies[device] = reply
                return replies.count == expected ? replies : nil
            }
            if let all { outcome.complete(.success(all)) }
        }
    }

    func fail(_ error: WeftError) { outcome.complete(.failure(error)) }
}

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
            memoryLimit: body.memoryLimitBytes == 0 ? nil : Int(clamping: body.memoryLimitBytes)
        )
        let placement = try PlacementStrategies.place(graph, on: devices, strategy: strategy, options: options)
        let lease = sessionLease(asked: body.leaseMs)
        let handle = state.withLock { state in
            var handle = Self.newSessionHandle()
            while state.sessions[handle] != nil { handle = Self.newSessionHandle() }
            state.sessions[handle] = CoordinatorSession(
                handle: handle,
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
            return handle
        }
        logger.info("session created", metadata: ["session.id": "\(handle)", "session.strategy": "\(strategy.name)"])
        return .make(.reply, session: handle) { envelope in
            envelope.createSessionReply = .with { $0.placement = Self.placementList(placement) }
        }
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

    /// What placement believes the cluster costs: each worker's measured rates and the links
    /// last measured between workers; the default model's figures where nothing was measured.
    func costModel() -> CostModel {
        state.withLock { Self.costModel($0) }
    }

    static func costModel(_ state: State) -> CostModel {
        var model = CostModel.default
        for worker in state.membership.workers.values {
            if let rates = worker.rates { model.setRates(rates, for: worker.device) }
        }
        for link in state.links {
            model.setLink(
                CostModel.Link(latency: link.latency / .seconds(1), bytesPerSecond: link.bytesPerSecond),
                from: link.source,
                to: link.destination
            )
        }
        return model
    }

    static func placementList(_ placement: [String: DeviceName]) -> [Weft_NodePlacement] {
        placement.sorted { $0.key < $1.key }.map { name, device in
            .with {
                $0.node = name
                $0.device = device.description
            }
        }
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
            let devices = state.withLock { $0.membership.healthyDevices }
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
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    func extendSession(_ envelope: Weft_Envelope, caller: CurveKey?) throws(WeftError) -> WireMessage {
        let placement = try state.withLock { (state) throws(WeftError) -> [String: DeviceName] in
            let session = try Self.session(envelope.session, in: &state, caller: caller, client: envelope.client)
            try session.extend(
                with: envelope.extendSession.graph.node,
                library: envelope.extendSession.graph.library,
                devices: state.membership.healthyDevices,
                costModel: Self.costModel(state)
            )
            return session.placement
        }
        return .make(.reply, session: envelope.session) { envelope in
            envelope.createSessionReply = .with { $0.placement = Self.placementList(placement) }
        }
    }

    func closeSession(_ handle: String, caller: CurveKey?, client: String) throws(WeftError) -> WireMessage {
        let session = try state.withLock { (state) throws(WeftError) -> CoordinatorSession in
            guard let session = state.sessions[handle] else {
                throw WeftError(.notFound, "session \(handle) does not exist (closed, or its lease ran out)")
            }
            try Self.checkOwner(session, caller: caller, client: client)
            state.sessions[handle] = nil
            return session
        }
        release(session)
        return .ok
    }

    /// Asks every worker that may hold the session's state to free it, healthy or not: a worker
    /// that only seems silent still holds the state, and a request to a dead one costs a timeout.
    func release(_ session: CoordinatorSession) {
        let targets = state.withLock { state in
            session.contacted.union(session.hosts.keys).compactMap { state.membership[$0]?.address }
        }
        let message = WireMessage.make(.releaseSession, session: session.handle) { $0.client = session.client }
        for address in targets {
            node.request(message, to: address, timeout: configuration.requestTimeout) { _ in }
        }
    }

    static func session(
        _ handle: String,
        in state: inout State,
        caller: CurveKey?,
        client: String
    ) throws(WeftError) -> CoordinatorSession {
        guard let session = state.sessions[handle] else {
            throw WeftError(.notFound, "session \(handle) does not exist (closed, or its lease ran out)")
        }
        try checkOwner(session, caller: caller, client: client)
        if let broken = session.broken { throw broken }
        return session
    }

    /// Only the client that opened a session reaches it: with keys the one holding its key;
    /// without, the one sending the client id it was opened with (which, like the handle, no
    /// other client is shown).
    static func checkOwner(_ session: CoordinatorSession, caller: CurveKey?, client: String) throws(WeftError) {
        guard session.owner == caller, caller != nil || session.client == client else {
            throw WeftError(.permissionDenied, "session \(session.handle) belongs to another client")
        }
    }

    // MARK: Steps

    /// What a step needs from the session, read under the lock.
    private struct StepSetup {
        var session: CoordinatorSession
        var plan: CoordinatorSession.PlannedStep
        var step: UInt64
        var workers: [DeviceName: Membership.Worker]
        var toRegister: [DeviceName]
        var peers: [Weft_PeerAddress]
    }

    /// Runs a step for `caller`; `sample` collects its statistics for the coordinator's own use too.
    func runStep(_ request: WireMessage, caller: CurveKey?, sample: Bool = false) async throws(WeftError) -> WireMessage {
        let receivedMicros = WallClock.nowMicros
        let envelope = request.envelope
        let body = envelope.runStep
        guard body.feeds.count == request.tensors.count else {
            throw WeftError(
                .invalidArgument,
                "the step names \(body.feeds.count) feeds but carries \(request.tensors.count) tensors"
            )
        }
        let signature = try RunSignature(feeds: body.feeds, fetches: body.fetches, targets: body.targets)
        let setup = try prepareStep(envelope.session, signature: signature, caller: caller, client: envelope.client)
        try await registerPartitions(setup)
        let timeout =
            envelope.deadlineMs > 0 ? Duration(wireMilliseconds: envelope.deadlineMs) : configuration.stepTimeout
        let replies = try await runPartitions(
            setup,
            feeds: request.tensors,
            timeout: timeout,
            collectStatistics: body.collectStatistics || sample
        )
        var fetched = [Tensor?](repeating: nil, count: body.fetches.count)
        for (index, name) in body.feeds.enumerated() {
            for (fetch, fetchName) in body.fetches.enumerated() where fetchName == name {
                fetched[fetch] = request.tensors[index]
            }
        }
        for (device, partition) in setup.plan.partitions {
            guard let reply = replies[device], reply.tensors.count == partition.fetches.count else { continue }
            for (position, entry) in partition.fetches.enumerated() { fetched[entry.fetch] = reply.tensors[position] }
        }
        let tensors = try fetched.map { (tensor) throws(WeftError) -> Tensor in
            guard let tensor else { throw WeftError(.internal, "a worker's reply lacked a fetched tensor") }
            return tensor
        }
        return .make(.reply, session: envelope.session, step: setup.step, tensors: tensors) { reply in
            if let route = Self.directRoute(setup, security: configuration.security) {
                reply.runStepReply.directRoute = route
            }
            reply.runStepReply.receivedUnixMicros = receivedMicros
            guard body.collectStatistics || sample else {
                reply.runStepReply.repliedUnixMicros = WallClock.nowMicros
                return
            }
            var statistics = Weft_StepStats()
            for part in replies.values.map(\.envelope.runPartitionReply.statistics) {
                // Counts from workers' replies: saturate rather than trap on absurd ones.
                statistics.nodes += part.nodes
                statistics.clocks += part.clocks
                statistics.tensorsSent = Self.saturatingSum(statistics.tensorsSent, part.tensorsSent)
                statistics.bytesSent = Self.saturatingSum(statistics.bytesSent, part.bytesSent)
            }
            reply.runStepReply.statistics = statistics
            reply.runStepReply.repliedUnixMicros = WallClock.nowMicros
        }
    }

    private static func saturatingSum(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : sum
    }

    /// A route for steps that run entirely in one partition: the client may send them to that
    /// worker itself (and answer fetches of fed tensors on its own).
    private static func directRoute(_ setup: StepSetup, security: ProcessSecurity?) -> Weft_DirectRoute? {
        guard setup.plan.partitions.count == 1, let (device, partition) = setup.plan.partitions.first,
            let worker = setup.workers[device]
        else { return nil }
        return .with {
            $0.device = device.description
            $0.address = worker.address
            $0.handle = setup.plan.handles[device]!  // every partition has a handle
            $0.feedIndices = partition.feeds.map { UInt32($0.feed) }
            $0.fetchIndices = partition.fetches.map { UInt32($0.fetch) }
            $0.publicKey = security?.cluster.tasks[device]?.publicKey.z85 ?? ""
        }
    }

    private func prepareStep(
        _ handle: String,
        signature: RunSignature,
        caller: CurveKey?,
        client: String
    ) throws(WeftError) -> StepSetup {
        try state.withLock { (state) throws(WeftError) -> StepSetup in
            let session = try Self.session(handle, in: &state, caller: caller, client: client)
            session.leaseExpiry = .now + session.lease
            let plan = try session.plan(for: signature)
            var workers: [DeviceName: Membership.Worker] = [:]
            for device in plan.partitions.keys.sorted() {
                guard let worker = state.membership[device] else {
                    throw WeftError(.unavailable, "worker \(device) is not registered with the coordinator")
                }
                guard worker.healthy else {
                    throw Self.unavailable(worker, reason: "it stopped sending heartbeats")
                }
                if let held = session.hosts[device], held != worker.incarnation {
                    session.broken = WeftError(
                        .aborted,
                        "worker \(device) restarted and lost this session's state there; open a new session"
                    )
                    throw session.broken!
                }
                workers[device] = worker
            }
            let toRegister = workers.filter { plan.registered[$0.key] != $0.value.incarnation }.map(\.key)
            let step = session.nextStep
            session.nextStep += 1
            session.steps += 1
            let peers = workers.values.map { worker in
                Weft_PeerAddress.with {
                    $0.device = worker.device.description
                    $0.address = worker.address
                }
            }
            return StepSetup(
                session: session,
                plan: plan,
                step: step,
                workers: workers,
                toRegister: toRegister,
                peers: peers
            )
        }
    }

    private func registerPartitions(_ setup: StepSetup) async throws(WeftError) {
        guard !setup.toRegister.isEmpty else { return }
        state.withLock { _ in setup.session.contacted.formUnion(setup.toRegister) }
        let (leaseMs, records) = recordsToSend(setup.session, to: setup.toRegister)
        let gather = StepGather(expected: setup.toRegister.count)
        for device in setup.toRegister {
            let partition = setup.plan.partitions[device]!
            let worker = setup.workers[device]!
            let message = WireMessage.make(.registerPartition, session: setup.session.handle) { envelope in
                envelope.client = setup.session.client
                envelope.registerPartition = .with {
                    $0.handle = setup.plan.handles[device]!
                    $0.graph.node = partition.nodes
                    // Functional nodes run their functions on this worker: send the ones it calls.
                    if let functions = setup.session.graph.functions {
                        $0.graph.library = functions.needed(by: partition.nodes)
                    }
                    $0.feeds = partition.feeds.map(\.name.description)
                    $0.fetches = partition.fetches.map(\.name.description)
                    $0.targets = partition.targets
                    $0.peers = setup.peers
                    $0.device = device.description
                    $0.owner = setup.session.owner?.z85 ?? ""
                    $0.leaseMs = leaseMs
                    if let record = records[device] { $0.record = record }
                }
            }
            node.request(message, to: worker.address, timeout: configuration.requestTimeout) { result in
                gather.record(device, result.mapError { Self.describe($0, worker: worker) })
            }
        }
        if case .failure(let error) = await gather.outcome.value { throw error }
        state.withLock { _ in
            Self.recordsDelivered(records, in: setup.session)
            for device in setup.toRegister {
                let incarnation = setup.workers[device]!.incarnation
                setup.plan.registered[device] = incarnation
                setup.session.hosts[device] = incarnation
            }
        }
    }

    private func runPartitions(
        _ setup: StepSetup,
        feeds: [Tensor],
        timeout: Duration,
        collectStatistics: Bool
    ) async throws(WeftError) -> [DeviceName: WireMessage] {
        let gather = StepGather(expected: setup.plan.partitions.count)
        let token = state.withLock { state in
            let token = state.nextInFlight
            state.nextInFlight += 1
            state.inFlight[token] = InFlight(
                session: setup.session.handle,
                participants: Set(setup.plan.partitions.keys),
                gather: gather
            )
            return token
        }
        for (device, partition) in setup.plan.partitions {
            let worker = setup.workers[device]!
            let message = WireMessage.make(
                .runPartition,
                session: setup.session.handle,
                step: setup.step,
                tensors: partition.feeds.map { feeds[$0.feed] }
            ) { envelope in
                envelope.client = setup.session.client
                envelope.deadlineMs = timeout.millisecondsRoundedUp
                envelope.runPartition = .with {
                    $0.handle = setup.plan.handles[device]!
                    $0.collectStatistics = collectStatistics
                }
            }
            // The worker ends the step at its deadline and says why (a loop's `deadlineExceeded`);
            // the request waits a second longer (the client waits two) so that answer, not a bare
            // timeout, reaches the client.
            let sentMicros = WallClock.nowMicros
            node.request(message, to: worker.address, timeout: timeout + .seconds(1)) { result in
                let result = result.map { self.aligned($0, from: device, sentMicros: sentMicros) }
                gather.record(device, result.mapError { Self.describe($0, worker: worker) })
            }
        }
        let outcome = await gather.outcome.value
        state.withLock { _ = $0.inFlight.removeValue(forKey: token) }
        switch outcome {
        case .success(let replies):
            return replies
        case .failure(let error):
            abort(setup, error: error)
            throw error
        }
    }

    /// A worker's partition reply with its device clocks put on the coordinator's clock, by the
    /// best recent measurement of that worker's offset, this request's included.
    private func aligned(_ reply: WireMessage, from device: DeviceName, sentMicros: Int64) -> WireMessage {
        var reply = reply
        let body = reply.envelope.runPartitionReply
        let measured = ClockOffset(
            sent: sentMicros,
            received: WallClock.nowMicros,
            peerReceived: body.receivedUnixMicros,
            peerReplied: body.repliedUnixMicros
        )
        if let offset = clockOffsets.update(device.description, with: measured) {
            reply.envelope.runPartitionReply.statistics.align(by: offset)
        }
        return reply
    }

    /// Wakes partitions still waiting for tensors of a failed step.
    private func abort(_ setup: StepSetup, error: WeftError) {
        let message = WireMessage.make(.abortStep, session: setup.session.handle, step: setup.step) { envelope in
            envelope.client = setup.session.client
            envelope.status = .with {
                $0.code = error.code.rawValue
                $0.message = error.message
            }
        }
        for worker in setup.workers.values {
            node.request(message, to: worker.address, timeout: configuration.requestTimeout) { _ in }
        }
    }

    /// Transport failures name the worker; errors a worker reported pass unchanged.
    static func describe(_ error: WeftError, worker: Membership.Worker) -> WeftError {
        guard error.code == .unavailable || error.code == .deadlineExceeded else { return error }
        return WeftError(error.code, "worker \(worker.device) at \(worker.address): \(error.message)")
    }
}
