import Dispatch
import Foundation
import Logging
import Synchronization
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// A worker process's service: hosts partitions of sessions' graphs and each session's
/// variables, runs partition steps, and pushes tensors straight to other workers.
///
/// It registers with the coordinator and keeps sending heartbeats; whichever starts first,
/// registration is retried until the coordinator answers, and repeated whenever the
/// coordinator no longer knows this worker (it restarted, or declared this worker dead).
///
/// Registration, heartbeats and lease checks run on the worker's one serial executor, as
/// tasks; the answers to its requests are handed to it. Steps and tensors are handled on the
/// transport's I/O thread, where they arrive, so a small step costs no thread hand-off; what
/// takes a while (a partition's plan, link measurements, calibration) runs on `offload`.
public final class Worker: Sendable {
    /// How a worker starts.
    public struct Configuration: Sendable {
        /// Where to bind the worker's ROUTER (`tcp://127.0.0.1:7071`, port 0 for any). Without keys
        /// only a loopback address is accepted, unless `insecure` is set (see `ListenPolicy`).
        public var listen: String
        /// Lets a process without keys listen on a non-loopback address (logged as a warning).
        public var insecure = false
        /// The worker's keys and the cluster's: every connection speaks CURVE; partitions and steps
        /// come only from the coordinator (and a session's own client), tensors only from workers.
        public var security: ProcessSecurity?
        /// The address other processes use to reach this worker; derived from the bound address when `nil`.
        public var advertise: String?
        /// The coordinator's address.
        public var coordinator: String
        /// The job this worker belongs to.
        public var job: String
        /// Its task index, or `nil` to let the coordinator assign one.
        public var task: Int?
        /// How long one request to the coordinator may take.
        public var requestTimeout: Duration = .seconds(2)
        /// How long a tensor pushed to another worker may take to be acknowledged. Long enough
        /// for the largest tensor on a slow link: a peer that dies or goes silent fails the push
        /// much sooner, through its connection's heartbeat.
        public var pushTimeout: Duration = .seconds(300)

        /// Makes a configuration.
        public init(listen: String, advertise: String? = nil, coordinator: String, job: String, task: Int?) {
            self.listen = listen
            self.advertise = advertise
            self.coordinator = coordinator
            self.job = job
            self.task = task
        }
    }

    private struct State {
        /// This machine's compute rates, once measured.
        var rates: CostModel.Rates?
        var peers: [String: String] = [:]
        var sessions: [String: WorkerSession] = [:]
        /// Registration and heartbeats.
        var registration = WorkerRegistration()
        /// This worker's own lease on each session it holds, renewed by the coordinator.
        var leases = SessionLeases()
        /// Set while the worker shuts down: steps that have not started are refused.
        var leaving = false
        /// Whether a lease check is scheduled: only while leases are held, so an idle worker
        /// wakes for nothing but its heartbeats.
        var leaseCheckArmed = false
        /// Shared variable containers, held while a session using them is.
        var containers = SharedResourceContainers()
        /// When free memory goes back to the system.
        var idleMemory = IdleMemoryRelease()
        var device: DeviceName? { registration.device }
        var stopped: Bool { registration.stopped }

        /// Removes session `handle`; returns it with its shared container when that is to be
        /// freed too (see `SharedResourceContainers`), both to be freed outside the lock.
        /// `keepContainer` when the coordinator released the session: it says when the
        /// container ends.
        mutating func removeSession(_ handle: String, keepContainer: Bool) -> (WorkerSession, ResourceContainer?)? {
            guard let session = sessions.removeValue(forKey: handle) else { return nil }
            let container = session.sharedContainer.flatMap {
                containers.release($0, by: handle, keep: keepContainer)
            }
            return (session, container)
        }
    }

    private let configuration: Configuration
    private let node: any MessageTransport
    private let logger: Logger
    private let incarnation = UInt64.random(in: 1...UInt64.max)
    private let state = Mutex(State())
    private let executor = RoleExecutor(label: "weft.worker")
    private let offload = OffloadExecutor(label: "weft.worker.work")
    /// Work running on `offload`, so a worker that leaves lets it finish first.
    private let background = Mutex<(next: Int, tasks: [Int: Task<Void, Never>])>((0, [:]))
    /// Signalled once the first registration succeeds.
    private let registered = DispatchSemaphore(value: 0)
    /// Partitions executing here, of every session: a released session's step still counts
    /// until its kernels and loops have stopped.
    private let executing = Atomic<Int>(0)
    /// Requests received and background work finished, for `IdleMemoryRelease`.
    private let activity = Atomic<Int>(0)
    /// Direct steps since the last heartbeat, which reports them.
    private let directSteps = Mutex(DirectStepLog())
    /// The most kernels a step runs on the I/O thread before the rest move to the kernel pool.
    private static let inlineKernelLimit = 32
    /// How long a session is held without renewal when its registration names no lease.
    private static let defaultLease: Duration = .seconds(60)
    /// How often leases are checked for expiry.
    private static let leaseCheckInterval: Duration = .milliseconds(200)

    /// The address this worker can be reached at.
    public let address: String

    /// Binds the worker's ZeroMQ socket; call `start` to register and serve.
    public convenience init(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "weft.worker")
    ) throws(WeftError) {
        let node = try MessagingNode.serving(configuration, coordinator: configuration.coordinator, logger: logger)
        self.init(configuration, transport: node, logger: logger)
    }

    /// Serves on `transport` (its address stands for `configuration.listen`); call `start` to
    /// register and serve.
    public init(_ configuration: Configuration, transport: any MessageTransport, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.node = transport
        self.address = configuration.advertise ?? transport.boundAddress
    }

    /// The task this worker holds once registered.
    public var device: DeviceName? { state.withLock { $0.device } }

    /// The number of sessions with state on this worker.
    public var sessionCount: Int { state.withLock { $0.sessions.count } }

    /// The number of shared variable containers this worker holds.
    public var sharedContainerCount: Int { state.withLock { $0.containers.count } }

    /// Starts serving and registering.
    public func start() {
        node.setHandler { [weak self] message in self?.handle(message) }
        executor.task { [weak self] in
            guard let self else { return }
            perform(state.withLock { $0.registration.start() })
        }
        scheduleLeaseCheck()
        inBackground { [weak self] in self?.calibrate() }
    }

    /// Runs `work` on `offload`, tracked until it ends.
    private func inBackground(_ work: @escaping @Sendable () -> Void) {
        background.withLock { background in
            background.next += 1
            let id = background.next
            background.tasks[id] = Task(executorPreference: offload) { [weak self] in
                work()
                self?.activity.add(1, ordering: .relaxed)
                self?.background.withLock { _ = $0.tasks.removeValue(forKey: id) }
            }
        }
    }

    /// Measures this machine's compute rates once, through Weft's own kernels, for the
    /// coordinator's cost model; heartbeats carry them from then on.
    private func calibrate() {
        do {
            let rates = try CostModel.measureRates()
            state.withLock { $0.rates = rates }
        } catch {
            logger.info("compute rates not measured; placement uses estimates", metadata: ["error": "\(error)"])
        }
    }

    /// Stops serving; sessions hosted here are dropped.
    public func stop() {
        let (sessions, containers) = state.withLock { state -> ([WorkerSession], [ResourceContainer]) in
            state.registration.stop()
            defer { state.sessions.removeAll() }
            return (Array(state.sessions.values), state.containers.removeAll())
        }
        for session in sessions { session.close() }
        for container in containers { container.removeAll() }
        executor.cancelTimers()
        node.close()
    }

    // MARK: Registration and heartbeats

    /// Carries out what the registration state machine asks; runs on `executor`.
    private func perform(_ directives: [WorkerRegistration.Directive]) {
        for directive in directives {
            switch directive {
            case .register(let pause) where pause == .zero:
                register()
            case .register(let pause):
                executor.after(pause) { [weak self] in self?.register() }
            case .heartbeat(let pause):
                executor.after(pause) { [weak self] in self?.heartbeat() }
            case .registered(let device, let first, let restarted):
                logger.info(
                    "registered",
                    metadata: [
                        "worker.device": "\(device)", "coordinator": "\(configuration.coordinator)",
                        "coordinator.restarted": "\(restarted)",
                    ]
                )
                if first { registered.signal() }
            case .registrationFailed(let error, let isNew):
                // A new reason (the coordinator's own message when it refused) at warning level,
                // so an operator sees why; retries of the same failure stay quiet.
                let metadata: Logger.Metadata = ["coordinator": "\(configuration.coordinator)", "error": "\(error)"]
                if isNew {
                    logger.warning("cannot register with the coordinator; retrying", metadata: metadata)
                } else {
                    logger.debug("registration failed again; retrying", metadata: metadata)
                }
            case .forgotten:
                logger.info("coordinator lost track of this worker; registering again")
            }
        }
    }

    private func register() {
        let (device, inquiry, held, coordinator, stopped) = state.withLock { state in
            let inquiry = state.leases.inquiry()
            return (
                state.device, inquiry, Self.held(inquiry, in: state), state.registration.coordinatorIncarnation,
                state.stopped
            )
        }
        guard !stopped else { return }
        let request = WireMessage.make(.registerWorker) { envelope in
            envelope.registerWorker = .with {
                $0.job = configuration.job
                $0.task = Int32(device?.task ?? configuration.task ?? -1)
                $0.address = address
                $0.pid = ProcessInfo.processInfo.processIdentifier
                $0.incarnation = incarnation
                $0.sessions = held
                $0.coordinatorIncarnation = coordinator
            }
        }
        node.request(request, to: configuration.coordinator, timeout: configuration.requestTimeout) {
            [weak self] result in
            self?.executor.task { [weak self] in self?.registrationAnswered(result, inquiry: inquiry) }
        }
    }

    private func registrationAnswered(_ result: Result<WireMessage, WeftError>, inquiry: SessionLeases.Inquiry) {
        switch result {
        case .success(let reply):
            let body = reply.envelope.registerWorkerReply
            let (directives, freed) = state.withLock { state in
                let directives = state.registration.registered(
                    as: DeviceName(job: body.job, task: Int(body.task)),
                    heartbeatInterval: Duration(wireMilliseconds: UInt64(body.heartbeatIntervalMs)),
                    coordinatorIncarnation: body.coordinatorIncarnation
                )
                return (directives, state.leases.answered(inquiry, renewed: body.renewed, now: .now))
            }
            free(freed)
            perform(directives)
        case .failure(let error):
            perform(state.withLock { $0.registration.registrationFailed(error) })
        }
    }

    /// Waits until this worker has registered once, or `timeout` passes: then returns why the
    /// last attempt failed. Blocks the calling thread.
    public func waitForRegistration(timeout: Duration) -> WeftError? {
        guard registered.wait(timeout: .now() + timeout.dispatchInterval) == .timedOut else {
            registered.signal()  // later waiters return at once too
            return nil
        }
        return state.withLock { $0.registration.lastError }
            ?? WeftError(.deadlineExceeded, "the coordinator at \(configuration.coordinator) did not answer")
    }

    private func heartbeat() {
        let (device, sessions, containers, rates, stopped, inquiry) = state.withLock {
            ($0.device, $0.sessions, $0.containers, $0.rates, $0.stopped, $0.leases.inquiry())
        }
        guard !stopped, let device else { return }
        // Lost with the heartbeat if it fails: they are for display, and the metrics count them too.
        let direct = directSteps.withLock { $0.drain() }
        let request = WireMessage.make(.heartbeat) { envelope in
            envelope.heartbeat = .with {
                $0.job = device.job
                $0.task = Int32(device.task)
                $0.incarnation = incarnation
                $0.sessions = UInt32(sessions.count)
                // A shared container counts once, however many sessions use it.
                let own = sessions.values.filter { $0.sharedContainer == nil }
                $0.residentBytes = UInt64(own.reduce(containers.byteCount) { $0 + $1.resources.byteCount })
                if let rates { $0.rates = rates.message }
                $0.tensorBytes = UInt64(TensorMemory.liveBytes)
                $0.memoryLimitBytes = UInt64(TensorMemory.limit)
                $0.held = inquiry.handles
                for handle in inquiry.handles {
                    if let version = sessions[handle]?.record?.version { $0.recordVersions[handle] = version }
                }
                $0.directStepCounts = direct.counts
                $0.directSteps = direct.steps
            }
        }
        node.request(request, to: configuration.coordinator, timeout: configuration.requestTimeout) {
            [weak self] result in
            self?.executor.task { [weak self] in self?.heartbeatAnswered(result, inquiry: inquiry) }
        }
        releaseMemoryIfIdle()
    }

    /// Gives free memory back once the worker has been quiet for a while (`IdleMemoryRelease`).
    private func releaseMemoryIfIdle() {
        let count = activity.load(ordering: .relaxed)
        let busy = executingSteps > 0
        guard state.withLock({ $0.idleMemory.tick(activity: count, busy: busy, now: .now) }) else { return }
        FilePages.release()
        TensorMemory.releaseUnused()  // last: it trims what reading the mappings allocated
    }

    private func heartbeatAnswered(_ result: Result<WireMessage, WeftError>, inquiry: SessionLeases.Inquiry) {
        if case .success(let reply) = result {
            let body = reply.envelope.heartbeatReply
            free(state.withLock { $0.leases.answered(inquiry, renewed: body.renewed, now: .now) })
            // Records of sessions extended since: a restarted coordinator adopts them whole.
            for (handle, record) in body.records { session(handle)?.keep(record) }
        }
        let error: WeftError? = if case .failure(let error) = result { error } else { nil }
        let interval = try? result.get().envelope.heartbeatReply.heartbeatIntervalMs
        let pace = interval.map { Duration(wireMilliseconds: UInt64($0)) }
        perform(state.withLock { $0.registration.heartbeatAnswered(error, interval: pace) })
    }

    // MARK: Session leases

    /// What the worker tells a coordinator about the sessions an inquiry names: their records
    /// and last steps, so a restarted coordinator adopts them.
    private static func held(_ inquiry: SessionLeases.Inquiry, in state: State) -> [Weft_HeldSession] {
        inquiry.handles.compactMap { handle in
            guard let session = state.sessions[handle] else { return nil }
            return .with {
                $0.handle = handle
                $0.lastStep = session.lastStep
                if let record = session.record { $0.record = record }
            }
        }
    }

    private func scheduleLeaseCheck() {
        let arm = state.withLock { state in
            guard !state.leaseCheckArmed, !state.stopped, !state.leases.handles.isEmpty else { return false }
            state.leaseCheckArmed = true
            return true
        }
        guard arm else { return }
        executor.after(Self.leaseCheckInterval) { [weak self] in
            guard let self else { return }
            free(
                state.withLock { state in
                    state.leaseCheckArmed = false
                    return state.leases.expire(now: .now)
                }
            )
            scheduleLeaseCheck()
        }
    }

    /// Frees the sessions the leases gave up: the coordinator no longer keeps them, or nobody
    /// renewed them in time.
    private func free(_ directives: [SessionLeases.Directive]) {
        guard !directives.isEmpty else { return }
        let freed = state.withLock { state in
            directives.compactMap { directive -> (WorkerSession, ResourceContainer?, String)? in
                switch directive {
                case .free(let handle):
                    return state.removeSession(handle, keepContainer: false).map {
                        ($0, $1, "the coordinator no longer keeps it")
                    }
                case .expired(let handle):
                    return state.removeSession(handle, keepContainer: false).map { ($0, $1, "its lease ran out") }
                }
            }
        }
        for (session, container, reason) in freed {
            logger.info("session freed", metadata: ["session.id": "\(session.handle)", "reason": "\(reason)"])
            session.close()
            container?.removeAll()
        }
    }

    // MARK: Requests

    private func handle(_ message: IncomingMessage) {
        activity.add(1, ordering: .relaxed)
        let envelope = message.message.envelope
        if let security = configuration.security {
            do throws(WeftError) {
                try Authorization.check(envelope.body, from: security.role(of: message.peerKey), to: .worker)
            } catch {
                return node.reply(to: message, .failure(error))
            }
        }
        switch envelope.body {
        case .registerPartition?:
            inBackground { [weak self] in
                self?.reply(message, self?.registerPartition(envelope) ?? .failure(Self.stopped))
            }
        case .runPartition?:
            runPartition(message)
        case .pushTensor?:
            deliver(message)
        case .abortStep?:
            let error = WeftError(
                WeftError.Code(
                    rawValue: envelope.status.code == 0 ? WeftError.Code.aborted.rawValue : envelope.status.code
                ),
                envelope.status.message.isEmpty ? "step aborted" : envelope.status.message
            )
            guard let session = session(envelope.session) else { return node.reply(to: message, .ok) }
            guard mayAbort(message, in: session) else {
                return node.reply(
                    to: message,
                    .failure(
                        WeftError(
                            .permissionDenied,
                            "step \(envelope.step) of \(envelope.session) is not the sender's to abort"
                        )
                    )
                )
            }
            session.abort(step: envelope.step, error: error)
            node.reply(to: message, .ok)
        case .releaseSession? where !envelope.releaseSession.sharedContainer.isEmpty:
            // Only the coordinator knows a container's id (with keys, only it may send this).
            let ended = state.withLock { $0.containers.end(envelope.releaseSession.sharedContainer) }
            ended?.removeAll()
            node.reply(to: message, .ok)
        case .releaseSession?:
            let removed = state.withLock { state -> (WorkerSession, ResourceContainer?)? in
                // Without keys, the release names the session's client, as its steps do.
                guard configuration.security != nil || state.sessions[envelope.session]?.client == envelope.client
                else { return nil }
                state.leases.released(envelope.session)
                return state.removeSession(envelope.session, keepContainer: true)
            }
            removed?.0.close()
            removed?.1?.removeAll()
            node.reply(to: message, .ok)
        case .ping?:
            node.reply(to: message, .ok)
        case .measureLinks(let body)?:
            inBackground { [weak self] in self?.reply(message, self?.measureLinks(body) ?? .failure(Self.stopped)) }
        default:
            let kind = envelope.messageKind.map { "\($0)" } ?? "bodiless"
            node.reply(to: message, .failure(WeftError(.unimplemented, "a worker does not handle \(kind) messages")))
        }
    }

    private static let stopped = WeftError(.cancelled, "worker stopped")

    private func reply(_ message: IncomingMessage, _ result: Result<WireMessage, WeftError>) {
        switch result {
        case .success(let reply): node.reply(to: message, reply)
        case .failure(let error): node.reply(to: message, .failure(error))
        }
    }

    private func measureLinks(_ body: Weft_MeasureLinks) -> Result<WireMessage, WeftError> {
        let source = state.withLock { $0.device }?.description ?? address
        let probe = LinkProbe(node: node, timeout: configuration.requestTimeout)
        do throws(WeftError) {
            let (roundTrips, payloadBytes) = try body.checkedSizes()
            trustPeers(body.peers)
            let links = try body.peers.map { (peer) throws(WeftError) in
                try probe.measure(from: source, to: peer, roundTrips: roundTrips, payloadBytes: payloadBytes)
            }
            return .success(.reply { $0.measureLinksReply = .with { $0.links = links } })
        } catch {
            return .failure(error)
        }
    }

    private func session(_ handle: String) -> WorkerSession? {
        state.withLock { $0.sessions[handle] }
    }

    private func registerPartition(_ envelope: Weft_Envelope) -> Result<WireMessage, WeftError> {
        let body = envelope.registerPartition
        do throws(WeftError) {
            let registration = try PartitionRegistration(body)
            trustPeers(body.peers)
            let lease = body.leaseMs == 0 ? Self.defaultLease : Duration(wireMilliseconds: body.leaseMs)
            let session = state.withLock { state in
                for peer in body.peers { state.peers[peer.device] = peer.address }
                state.leases.registered(envelope.session, lease: lease, now: .now)
                if let existing = state.sessions[envelope.session] { return existing }
                let shared = body.sharedContainer.isEmpty ? nil : body.sharedContainer
                let created = WorkerSession(
                    handle: envelope.session,
                    device: body.device,
                    owner: registration.owner,
                    client: envelope.client,
                    sharedContainer: shared,
                    resources: shared.map { state.containers.acquire($0, for: envelope.session) }
                        ?? ResourceContainer(),
                    push: pushFunction(session: envelope.session)
                )
                state.sessions[envelope.session] = created
                return created
            }
            session.add(registration.plan, handle: body.handle)
            if body.hasRecord { session.keep(body.record) }
            scheduleLeaseCheck()
            return .success(.ok)
        } catch {
            return .failure(error)
        }
    }

    /// With keys, expects each peer to hold the key the cluster file lists for its task.
    private func trustPeers(_ peers: [Weft_PeerAddress]) {
        guard let security = configuration.security else { return }
        for peer in peers {
            guard let device = try? DeviceName(parsing: peer.device),
                let key = security.cluster.tasks[device]?.publicKey
            else { continue }
            node.trust(key, at: peer.address)
        }
    }

    /// Pushes tensors to the workers that receive them, as requests: the receiver acknowledges
    /// each message, so a tensor that cannot be delivered fails its step rather than going
    /// missing. The tensors a thread sent together go in one message, and small ones of one
    /// step to one worker share messages while others are in flight (`PushBatches`).
    private func pushFunction(session: String) -> SessionRendezvous.Push {
        let outbox = PushOutbox()
        return { [weak self] pushes, step, destination in
            guard let self else {
                return pushes.forEach { $0.arrived(WeftError(.cancelled, "worker stopped")) }
            }
            let route = PushOutbox.Route(destination: destination, step: step)
            for batch in outbox.add(pushes, on: route) { send(batch, on: route, session: session, outbox: outbox) }
        }
    }

    /// Sends one message of pushes; once it is answered, the pushes that waited for it.
    private func send(_ batch: PushOutbox.Batch, on route: PushOutbox.Route, session: String, outbox: PushOutbox) {
        let pushes = batch.pushes
        guard let first = pushes.first, let peer = state.withLock({ $0.peers[route.destination] }) else {
            let error = WeftError(.internal, "no address known for \(route.destination)")
            return answered(batch, on: route, session: session, outbox: outbox) { _ in error }
        }
        let message = WireMessage.make(
            .pushTensor,
            session: session,
            step: route.step,
            tensors: pushes.compactMap(\.tensor)
        ) {
            envelope in
            envelope.pushTensor = first.entry
            envelope.pushTensor.more = pushes.dropFirst().map(\.entry)
        }
        ClusterMetrics.pushed(to: route.destination, bytes: pushes.map { $0.tensor?.byteCount ?? 0 })
        node.request(message, to: peer, timeout: configuration.pushTimeout) { [weak self] result in
            let failure: WeftError? = if case .failure(let error) = result { error } else { nil }
            let answer = { (push: PushOutbox.Push) -> WeftError? in
                failure.map {
                    WeftError($0.code, "pushing '\(push.key)' to \(route.destination) at \(peer): \($0.message)")
                }
            }
            // A stopped worker sends nothing more; what waited fails with its session.
            guard let self else { return pushes.forEach { $0.arrived(answer($0)) } }
            answered(batch, on: route, session: session, outbox: outbox, answer)
        }
    }

    /// Tells every push of a sent batch how it went, then sends what waited for it.
    private func answered(
        _ batch: PushOutbox.Batch,
        on route: PushOutbox.Route,
        session: String,
        outbox: PushOutbox,
        _ answer: (PushOutbox.Push) -> WeftError?
    ) {
        for push in batch.pushes { push.arrived(answer(push)) }
        guard batch.isClocked, let next = outbox.acknowledged(route) else { return }
        send(next, on: route, session: session, outbox: outbox)
    }

    private func runPartition(_ message: IncomingMessage) {
        let envelope = message.message.envelope
        if state.withLock({ $0.leaving }) {
            let device = self.device.map(\.description) ?? address
            return node.reply(to: message, .failure(WeftError(.unavailable, "worker \(device) is shutting down")))
        }
        guard let session = session(envelope.session) else {
            let device = self.device.map(\.description) ?? address
            return node.reply(
                to: message,
                .failure(
                    WeftError(
                        .aborted,
                        "session \(envelope.session) is unknown on \(device): the worker restarted or the session was closed"
                    )
                )
            )
        }
        guard mayRun(message, in: session) else {
            return node.reply(
                to: message,
                .failure(WeftError(.permissionDenied, "session \(envelope.session) belongs to another client"))
            )
        }
        guard let plan = session.plan(envelope.runPartition.handle) else {
            return node.reply(
                to: message,
                .failure(WeftError(.notFound, "partition \(envelope.runPartition.handle) is not registered"))
            )
        }
        let step = envelope.step
        let started = ContinuousClock.now
        let receivedMicros = WallClock.nowMicros
        let collector = envelope.runPartition.collectStatistics ? StepStatisticsCollector(device: session.device) : nil
        collector?.record(partitionGraph: plan.optimizedGraph)
        // Loops check it every iteration, so a loop that never ends fails at the deadline, when
        // the step is aborted, or when the session is released.
        let deadline: ContinuousClock.Instant? =
            envelope.deadlineMs > 0 ? .now + .milliseconds(Int64(clamping: envelope.deadlineMs)) : nil
        let cancellation = session.begin(step: step, deadline: deadline)
        executing.add(1, ordering: .relaxed)
        let context = StepContext(
            id: step,
            resources: session.resources,
            rendezvous: session.rendezvous,
            statistics: collector,
            cancellation: cancellation
        )
        if envelope.deadlineMs > 0, plan.hasAsyncKernels {
            let deadline = envelope.deadlineMs
            executor.after(.milliseconds(Int64(clamping: deadline))) { [weak session] in
                // Ends its receives and its blocking kernels (a queue's dequeue) alike.
                session?.abort(
                    step: step,
                    error: WeftError(.deadlineExceeded, "step \(step) passed its deadline of \(deadline) ms")
                )
            }
        }
        // Started here, on the I/O thread, which runs only a few inexpensive kernels (reading
        // a variable, a send) and hands the rest to the kernel pool: a small step then costs no
        // thread hand-off on this side.
        plan.run(feeds: message.message.tensors, step: context, inline: .inexpensive(limit: Self.inlineKernelLimit)) {
            result in
            session.rendezvous.afterPushes(step: step) { [weak self] pushError in
                // Running until answered, so a worker that leaves sends every answer first.
                defer {
                    session.end(step: step)
                    self?.executing.subtract(1, ordering: .relaxed)
                }
                session.rendezvous.finish(step: step)
                let duration = ContinuousClock.now - started
                var error = pushError
                if case .failure(let failure) = result { error = failure }
                let countsStep = envelope.runPartition.countsStep
                ClusterMetrics.partitionFinished(countsStep: countsStep, duration: duration, error: error, collector)
                if countsStep {
                    self?.directSteps.withLock {
                        $0.log(
                            .init(
                                session: session.handle,
                                step: step,
                                startedMicros: receivedMicros,
                                seconds: duration.inSeconds,
                                error: error.map { "\($0)" }
                            )
                        )
                    }
                }
                self?.replyToPartition(
                    message,
                    result: result,
                    pushError: pushError,
                    collector: collector,
                    receivedMicros: receivedMicros
                )
            }
        }
    }

    /// Whether the sender may run steps of `session`: with keys the coordinator or the client
    /// whose key owns the session (its direct routes); without, whoever names the client id the
    /// session was opened with.
    private func mayRun(_ message: IncomingMessage, in session: WorkerSession) -> Bool {
        guard let security = configuration.security else { return message.envelope.client == session.client }
        if security.role(of: message.peerKey) == .coordinator { return true }
        return session.owner != nil && session.owner == message.peerKey
    }

    /// Whether the sender may abort the step a message names: the coordinator any step; a
    /// session's client only the steps it sent here itself (its direct routes).
    private func mayAbort(_ message: IncomingMessage, in session: WorkerSession) -> Bool {
        guard mayRun(message, in: session) else { return false }
        if configuration.security?.role(of: message.peerKey) == .coordinator { return true }
        return configuration.security == nil || DirectStepID.isDirect(message.envelope.step)
    }

    private func replyToPartition(
        _ message: IncomingMessage,
        result: Result<[Tensor], WeftError>,
        pushError: WeftError?,
        collector: StepStatisticsCollector?,
        receivedMicros: Int64
    ) {
        let tensors: [Tensor]
        switch result {
        case .failure(let error): return node.reply(to: message, .failure(error))
        case .success(let fetched): tensors = fetched
        }
        if let pushError { return node.reply(to: message, .failure(pushError)) }
        // The request id alone matches the reply to its request.
        // Every reply carries this worker's clock, so its sender measures the offset on every step.
        let node = node
        let send = { @Sendable (statistics: Weft_StepStats?) in
            let reply = WireMessage.reply(tensors: tensors) { reply in
                reply.runPartitionReply = .with {
                    if let statistics { $0.statistics = statistics }
                    $0.receivedUnixMicros = receivedMicros
                    $0.repliedUnixMicros = WallClock.nowMicros
                }
            }
            node.reply(to: message, consume reply)
        }
        guard let collector else { return send(nil) }
        // Statistics carry the partition's graph, megabytes for a large one: the thread that
        // ended the step (the I/O thread, when a receive ended it) must not spend time on them.
        DispatchQueue.global().async { send(collector.statistics.message) }
    }

    /// Hands the tensors of a push message to the session's rendezvous, once they are checked
    /// against its entries; acknowledged first, so the sender's next batch is not held up.
    private func deliver(_ message: IncomingMessage) {
        let envelope = message.message.envelope
        let arrivals: [(key: String, Result<Tensor?, WeftError>)]
        do throws(WeftError) {
            arrivals = try Self.arrivals(envelope.pushTensor, tensors: message.message.tensors)
        } catch {
            return node.reply(to: message, .failure(error))
        }
        node.reply(to: message, .ok)
        guard let session = session(envelope.session) else {
            return logger.debug(
                "tensor for an unknown session dropped",
                metadata: ["session.id": "\(envelope.session)"]
            )
        }
        for (key, result) in arrivals { session.rendezvous.deliver(key: key, step: envelope.step, result) }
    }

    /// What each entry of a push delivers: a sender's error, a dead tensor, or the next of
    /// `tensors`, which must be exactly as many as the entries that carry one.
    static func arrivals(
        _ push: Weft_PushTensor,
        tensors: [Tensor]
    ) throws(WeftError) -> [(key: String, Result<Tensor?, WeftError>)] {
        guard push.more.allSatisfy({ $0.more.isEmpty }) else {
            throw WeftError(.invalidArgument, "a push's further tensors may not carry further tensors of their own")
        }
        var remaining = tensors[...]
        var arrivals: [(key: String, Result<Tensor?, WeftError>)] = []
        for entry in [push] + push.more {
            if entry.status.code != 0 {
                let error = WeftError(WeftError.Code(rawValue: entry.status.code), entry.status.message)
                arrivals.append((entry.key, .failure(error)))
            } else if entry.isDead {
                arrivals.append((entry.key, .success(nil)))
            } else if let tensor = remaining.popFirst() {
                arrivals.append((entry.key, .success(tensor)))
            } else {
                throw WeftError(
                    .invalidArgument,
                    "a push of \(push.more.count + 1) entries carries only \(tensors.count) tensors"
                )
            }
        }
        guard remaining.isEmpty else {
            throw WeftError(
                .invalidArgument,
                "a push carries \(tensors.count) tensors, \(remaining.count) more than its entries"
            )
        }
        return arrivals
    }
}

/// One session's state on one worker: its variables, its partitions and its rendezvous.
final class WorkerSession: Sendable {
    let handle: String
    /// This worker's device name, which statistics report nodes under.
    let device: String
    /// The key of the client that owns the session, when the cluster has keys: besides the
    /// coordinator, the only sender whose steps this session runs.
    let owner: CurveKey?
    /// The id the session's client opened it with; without keys, every step and the release
    /// must name it.
    let client: String
    /// The worker-side id of the shared variable container holding the session's variables;
    /// `nil` when `resources` are the session's own.
    let sharedContainer: String?
    /// The session's variables: its own, or the shared container's.
    let resources: ResourceContainer
    let rendezvous: SessionRendezvous
    private let plans = Mutex<[String: StepPlan]>([:])
    /// Steps running now, so an abort or the session's release ends their loops.
    private let running = Mutex<[UInt64: StepCancellation]>([:])
    /// The coordinator's newest record of the session and the highest step id it ran here.
    private let recovery = Mutex<(record: Weft_SessionRecord?, lastStep: UInt64)>((nil, 0))

    init(
        handle: String,
        device: String,
        owner: CurveKey?,
        client: String,
        sharedContainer: String? = nil,
        resources: ResourceContainer = ResourceContainer(),
        push: @escaping SessionRendezvous.Push
    ) {
        self.handle = handle
        self.device = device
        self.owner = owner
        self.client = client
        self.sharedContainer = sharedContainer
        self.resources = resources
        self.rendezvous = SessionRendezvous(device: device, push: push)
    }

    func add(_ plan: StepPlan, handle: String) { plans.withLock { $0[handle] = plan } }

    /// The coordinator's record of the session, to give back to a restarted coordinator.
    var record: Weft_SessionRecord? { recovery.withLock { $0.record } }
    /// The highest step id the coordinator ran here (direct steps, with the top bit, excluded).
    var lastStep: UInt64 { recovery.withLock { $0.lastStep } }

    /// Keeps `record` unless a newer one is kept already.
    func keep(_ record: Weft_SessionRecord) {
        recovery.withLock { state in
            if (state.record?.version ?? 0) <= record.version { state.record = record }
        }
    }
    func plan(_ handle: String) -> StepPlan? { plans.withLock { $0[handle] } }

    /// The cancellation of a step starting now; `end` forgets it.
    func begin(step: UInt64, deadline: ContinuousClock.Instant?) -> StepCancellation {
        let cancellation = StepCancellation(deadline: deadline)
        running.withLock { $0[step] = cancellation }
        if step < 1 << 63 { recovery.withLock { $0.lastStep = max($0.lastStep, step) } }
        return cancellation
    }

    func end(step: UInt64) { running.withLock { _ = $0.removeValue(forKey: step) } }

    /// Fails the step here: its receives, and its loops at their next iteration.
    func abort(step: UInt64, error: WeftError) {
        running.withLock { $0[step] }?.cancel(error)
        rendezvous.abort(step: step, error: error)
    }

    func close() {
        let error = WeftError(.cancelled, "session \(handle) was closed")
        plans.withLock { $0.removeAll() }
        for step in running.withLock({ $0.values }) { step.cancel(error) }
        // A shared container is freed by the worker with its last session.
        if sharedContainer == nil { resources.removeAll() }
        rendezvous.close(error: error)
    }
}

extension Worker {
    /// Leaves the cluster gracefully: refuses steps from now on, lets the steps running here
    /// finish until `timeout`, tells the coordinator this worker leaves (so it fails nothing
    /// waiting for heartbeats) and stops. Returns whether every step finished in time and no
    /// work is left running, so the process may end through its exit handlers.
    public func leave(drainingFor timeout: Duration) async -> Bool {
        let device = state.withLock { state in
            state.leaving = true
            return state.device
        }
        let deadline = ContinuousClock.now + timeout
        // A shutdown waits at most once; polling costs nothing that matters here.
        while executingSteps > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let drained = executingSteps == 0
        if let device {
            let message = WireMessage.make(.leaveCluster) { envelope in
                envelope.leaveCluster = .with {
                    $0.job = device.job
                    $0.task = Int32(device.task)
                    $0.incarnation = incarnation
                }
            }
            do {
                _ = try await node.request(
                    message,
                    to: configuration.coordinator,
                    timeout: configuration.requestTimeout
                )
            } catch {
                logger.info("the coordinator did not hear that this worker leaves", metadata: ["error": "\(error)"])
            }
        }
        // Work outside steps (calibration, a registration) finishes before the process ends.
        for task in background.withLock({ Array($0.tasks.values) }) { await task.value }
        stop()
        return drained
    }

    /// How many partitions execute here now, released sessions' included.
    var executingSteps: Int { executing.load(ordering: .relaxed) }
}
