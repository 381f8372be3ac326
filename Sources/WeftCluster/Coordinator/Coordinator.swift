import Foundation
import Logging
import Synchronization
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// The coordinator's service: keeps the membership of workers, places and partitions
/// sessions' graphs, registers partitions with workers and drives every step.
///
/// It never carries tensors between workers: they push to each other. A step that needs a
/// worker that stopped answering fails with `unavailable` naming it as soon as the worker
/// is declared dead, and steps on other workers go on.
///
/// Concurrency: requests, health checks and every other timer run as tasks on one serial
/// executor (`executor`); placement runs on `offload`. Workers' answers to a step's requests
/// drive its `StepMachine` on the transport's I/O thread where they arrive, so a step gains no
/// thread hand-off; the cluster's state, which those answers and the dashboard also touch,
/// stays behind a lock that nothing slow holds.
public final class Coordinator: Sendable {
    /// How a coordinator runs.
    public struct Configuration: Sendable {
        /// Where to bind (`tcp://127.0.0.1:7070`, port 0 for any). Without keys only a loopback
        /// address is accepted, unless `insecure` is set (see `ListenPolicy`).
        public var listen: String
        /// Lets a process without keys listen on a non-loopback address (logged as a warning).
        public var insecure = false
        /// The coordinator's keys and the cluster's: every connection speaks CURVE, only listed
        /// workers and clients get in, and each may send only what its role allows.
        public var security: ProcessSecurity?
        /// How often workers send heartbeats.
        public var heartbeatInterval: Duration = .milliseconds(250)
        /// Silence after which a worker is declared dead.
        public var heartbeatTimeout: Duration = .milliseconds(1500)
        /// How long a request to a worker may take, apart from running steps.
        public var requestTimeout: Duration = .seconds(2)
        /// How long a step may run when the client sets no deadline.
        public var stepTimeout: Duration = .seconds(60)
        /// The longest lease a client may ask for; `nil` for no limit. A vanished client's
        /// session holds state on workers this long at most.
        public var maximumSessionLease: Duration?
        /// The strategy for sessions that name none.
        public var defaultStrategy = "explicit"
        /// When set, one step per interval is timed node by node for the dashboard's recent
        /// steps and the kernel-time metrics, though its client did not ask.
        public var statisticsSampleInterval: Duration?

        /// Makes a configuration.
        public init(listen: String) { self.listen = listen }
    }

    /// The shell's state: the cluster's pure state machine, and what only the shell holds.
    /// One lock serialises the events fed to the machine; nothing slow runs under it.
    struct State {
        /// Membership, sessions, leases and the bookkeeping of steps in flight.
        var cluster: ClusterState
        /// The steps in flight by token, with the answers their clients await.
        var runs: [UInt64: StepRun] = [:]
        var stopped = false
    }

    let configuration: Configuration
    let node: any MessageTransport
    let logger: Logger
    let state: Mutex<State>
    /// Recent steps, for the dashboard.
    let recentSteps = RecentSteps()
    /// Each worker's clock against this process's, for timelines.
    let clockOffsets = ClockOffsetFilter()
    /// Where requests, health checks and other timers run, one at a time; replies of workers
    /// to a step's requests are handled on the transport's I/O thread instead (see `StepRun`).
    let executor = RoleExecutor(label: "weft.coordinator")
    /// Where placement and the making of partitions' registrations run, so neither a long min-cut
    /// nor megabytes of GraphDef to serialize delay heartbeats or health checks.
    let offload = OffloadExecutor(label: "weft.coordinator.placement")
    /// Changes every time a coordinator process starts; workers tell a restarted one by it.
    let incarnation: UInt64
    /// When this process started, for the recovery window (see `Coordinator+Recovery`).
    let started = ContinuousClock.now
    /// Measures links between workers per pair of hosts (`Coordinator+Links`).
    let linkProbes: LinkProber

    /// The address clients and workers reach the coordinator at.
    public var address: String { node.boundAddress }

    /// Binds the coordinator's ZeroMQ socket; call `start` to serve.
    public convenience init(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "weft.coordinator")
    ) throws(WeftError) {
        let node = try MessagingNode.serving(configuration, coordinator: nil, logger: logger)
        self.init(configuration, transport: node, logger: logger)
    }

    /// Serves on `transport` (its address stands for `configuration.listen`); call `start` to serve.
    public init(_ configuration: Configuration, transport: any MessageTransport, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.node = transport
        let incarnation = UInt64.random(in: 1...UInt64.max)
        self.incarnation = incarnation
        self.state = Mutex(
            State(
                cluster: ClusterState(
                    ClusterState.Configuration(
                        heartbeatTimeout: configuration.heartbeatTimeout,
                        incarnation: incarnation,
                        secured: configuration.security != nil,
                        heartbeatInterval: configuration.heartbeatInterval
                    )
                )
            )
        )
        self.linkProbes = LinkProber(
            node: transport,
            executor: executor,
            requestTimeout: configuration.requestTimeout,
            logger: logger
        )
    }

    /// Starts serving requests and checking workers' health.
    public func start() {
        node.setHandler { [weak self] message in
            guard let self else { return }
            executor.task { await self.handle(message) }
        }
        scheduleHealthCheck()
        startLinkProbes()
    }

    /// Stops serving.
    public func stop() {
        state.withLock { $0.stopped = true }
        executor.cancelTimers()
        linkProbes.stop()
        node.close()
    }

    private func scheduleHealthCheck() {
        executor.after(configuration.heartbeatInterval) { [weak self] in
            guard let self, !state.withLock({ $0.stopped }) else { return }
            checkHealth()
            scheduleHealthCheck()
        }
    }

    /// Declares silent workers dead, fails the steps that need them or ran past their deadline,
    /// and ends expired leases. The time is read under the lock, so a wait for the lock never
    /// counts as a worker's silence.
    func checkHealth() {
        perform(state.withLock { $0.cluster.tick(now: .now) })
    }

    /// Carries out what the cluster's state machine asks.
    func perform(_ directives: [ClusterState.Directive]) {
        for directive in directives {
            switch directive {
            case .driveSteps(let tokens, let event):
                let runs = state.withLock { state in tokens.compactMap { state.runs[$0] } }
                for run in runs { drive(run, event) }
            case .release(let session, let client, let addresses):
                let message = WireMessage.make(.releaseSession, session: session) { $0.client = client }
                for address in addresses {
                    node.request(message, to: address, timeout: configuration.requestTimeout) { _ in }
                }
            case .releaseContainer(let id, let addresses):
                let message = WireMessage.make(.releaseSession) { $0.releaseSession.sharedContainer = id }
                for address in addresses {
                    node.request(message, to: address, timeout: configuration.requestTimeout) { _ in }
                }
            case .workerDeclaredDead(let worker):
                logger.warning("worker declared dead", metadata: ["worker.device": "\(worker.device)"])
                ClusterMetrics.workerDeclaredDead(worker.device.description)
            case .sessionsBroken(let sessions, let device):
                logger.warning(
                    "sessions lost state on a restarted worker",
                    metadata: ["sessions": "\(sessions)", "worker.device": "\(device)"]
                )
            case .leaseExpired(let session):
                logger.info("session lease expired", metadata: ["session.id": "\(session)"])
            case .sessionAdopted(let session, let device):
                logger.info("session adopted", metadata: ["session.id": "\(session)", "worker.device": "\(device)"])
            case .recordUnusable(let session, let device, let error):
                logger.warning(
                    "a session record is unusable",
                    metadata: ["session.id": "\(session)", "worker.device": "\(device)", "error": "\(error)"]
                )
            }
        }
    }

    // MARK: Dispatch

    private func handle(_ message: IncomingMessage) async {
        let envelope = message.message.envelope
        let result: Result<WireMessage, WeftError>
        let caller = message.peerKey
        do throws(WeftError) {
            let role = configuration.security?.role(of: caller)
            if configuration.security != nil { try Authorization.check(envelope.body, from: role, to: .coordinator) }
            switch envelope.body {
            case .runStep?, .extendSession?, .closeSession?, .cancelStep?: await awaitRecovery(of: envelope.session)
            default: break
            }
            switch envelope.body {
            case .registerWorker(let body)?: result = .success(try registerWorker(body, role: role, key: caller))
            case .heartbeat(let body)?: result = .success(try heartbeat(body, role: role))
            case .leaveCluster(let body)?: result = .success(try leave(body, role: role))
            case .createSession?: result = .success(try await createSession(envelope, owner: caller))
            case .extendSession?: result = .success(try await extendSession(envelope, caller: caller))
            case .runStep?: result = .success(try await observedStep(message.message, caller: caller))
            case .cancelStep?:
                result = .success(try cancelStep(envelope.session, client: envelope.client, step: envelope.step, caller: caller))
            case .closeSession?:
                result = .success(try closeSession(envelope.session, caller: caller, client: envelope.client))
            case .clusterStatus(let body)?: result = .success(clusterStatus(client: body.client, caller: caller))
            case .keepAlive(let body)?: result = .success(keepAlive(client: body.client, caller: caller))
            case .ping?: result = .success(.ok)
            case .measureLinks(let body)?: result = .success(try await measureLinks(body))
            default:
                let kind = envelope.messageKind.map { "\($0)" } ?? "bodiless"
                throw WeftError(.unimplemented, "the coordinator does not handle \(kind) messages")
            }
        } catch {
            result = .failure(error)
        }
        switch result {
        case .success(let reply): node.reply(to: message, reply)
        case .failure(let error): node.reply(to: message, .failure(error))
        }
    }

    // MARK: Membership

    /// With keys, the task a worker key may hold: the one the cluster file lists it for.
    private func registeringTask(_ body: Weft_RegisterWorker, role: PeerRole?) throws(WeftError) -> Int? {
        guard configuration.security != nil else { return body.task < 0 ? nil : Int(body.task) }
        guard case .worker(let device) = role else {
            throw WeftError(.permissionDenied, "only a worker's key may register a worker")
        }
        guard body.job == device.job, body.task < 0 || Int(body.task) == device.task else {
            throw WeftError(
                .permissionDenied,
                "this worker's key belongs to \(device) in the cluster file; it cannot register as "
                    + "/job:\(body.job)/task:\(body.task)"
            )
        }
        return device.task
    }

    private func registerWorker(
        _ body: Weft_RegisterWorker,
        role: PeerRole?,
        key: CurveKey?
    ) throws(WeftError) -> WireMessage {
        let task = try registeringTask(body, role: role)
        let (registration, renewed, directives, interval) = try state.withLock { (state) throws(WeftError) in
            let (registration, renewed, directives) = try state.cluster.register(body, task: task, now: .now)
            return (registration, renewed, directives, state.cluster.pacing.interval)
        }
        // Requests to the worker expect the key it registered with, the one the file lists.
        if let key { node.trust(key, at: body.address) }
        logger.info(
            "worker registered",
            metadata: ["worker.registration": "\(registration)", "worker.address": "\(body.address)"]
        )
        linkProbes.joined(registration.device, address: body.address)
        perform(directives)
        let device = registration.device
        return .reply() { envelope in
            envelope.registerWorkerReply = .with {
                $0.job = device.job
                $0.task = Int32(device.task)
                $0.heartbeatIntervalMs = UInt32(clamping: interval.millisecondsRoundedUp)
                $0.coordinatorIncarnation = incarnation
                $0.renewed = renewed
            }
        }
    }

    private func heartbeat(_ body: Weft_Heartbeat, role: PeerRole?) throws(WeftError) -> WireMessage {
        let device = DeviceName(job: body.job, task: Int(body.task))
        if configuration.security != nil, role != .worker(device) {
            throw WeftError(.permissionDenied, "a heartbeat for \(device) must come from that task's key")
        }
        let (answer, interval) = state.withLock { ($0.cluster.heartbeat(body, now: .now), $0.cluster.pacing.interval) }
        if let silence = answer.silence {
            ClusterMetrics.heartbeatsMissed(by: device, silence: silence, interval: interval)
        }
        guard answer.known else {
            throw WeftError(.notFound, "\(device) is not registered with this coordinator; register again")
        }
        for step in answer.directSteps { recentSteps.append(StepRecord(direct: step)) }
        return .reply() { envelope in
            envelope.heartbeatReply = .with {
                $0.coordinatorIncarnation = incarnation
                $0.renewed = answer.renewed
                $0.records = answer.records
                $0.heartbeatIntervalMs = UInt32(clamping: interval.millisecondsRoundedUp)
            }
        }
    }

    private func keepAlive(client: String, caller: CurveKey?) -> WireMessage {
        state.withLock { $0.cluster.keepAlive(client: client, caller: caller, now: .now) }
        return .ok
    }

    /// Workers, and sessions: the caller's own with their handles, other clients' without, so
    /// nobody learns a handle that is not theirs. The caller is its key, or without keys the
    /// client id its sessions were opened with.
    private func clusterStatus(client: String, caller: CurveKey?) -> WireMessage {
        let now = ContinuousClock.now
        func owns(_ session: CoordinatorSession) -> Bool {
            configuration.security != nil ? session.owner == caller : !client.isEmpty && session.client == client
        }
        func clientName(_ session: CoordinatorSession) -> String {
            guard let security = configuration.security else { return owns(session) ? session.client : "" }
            guard let owner = session.owner, case .client(let name) = security.role(of: owner) else { return "" }
            return name
        }
        return state.withLock { state in
            .reply() { envelope in
                envelope.clusterStatusReply = .with { reply in
                    reply.workers = state.cluster.membership.workers.values.sorted { $0.device < $1.device }.map { worker in
                        .with {
                            $0.job = worker.device.job
                            $0.task = Int32(worker.device.task)
                            $0.address = worker.address
                            $0.healthy = worker.healthy
                            $0.sessions = worker.sessions
                            $0.residentBytes = worker.residentBytes
                            $0.lastSeenMsAgo = (now - worker.lastSeen).millisecondsRoundedUp
                            $0.tensorBytes = worker.memory.tensorBytes
                            $0.memoryLimitBytes = worker.memory.limitBytes
                        }
                    }
                    reply.sessions = state.cluster.sessions.values.sorted { $0.created < $1.created }.map { session in
                        .with {
                            $0.handle = owns(session) ? session.handle : ""
                            $0.client = clientName(session)
                            $0.nodes = UInt32(session.nodes.count)
                            $0.steps = session.steps
                        }
                    }
                }
            }
        }
    }
}
