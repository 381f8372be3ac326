import Dispatch
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

    struct State {
        var membership: Membership
        var sessions: [String: CoordinatorSession] = [:]
        var inFlight: [UInt64: StepRun] = [:]
        var nextInFlight: UInt64 = 1
        var stopped = false
        /// Set while the coordinator shuts down: steps that have not started are refused.
        var draining = false
        /// The links between workers, as last measured.
        var links: [LinkMeasurement] = []
        /// Counts registrations, so a link measurement runs once after a burst of them.
        var membershipVersion = 0
    }

    let configuration: Configuration
    let node: any MessageTransport
    let logger: Logger
    let state: Mutex<State>
    /// Recent steps, for the dashboard.
    let recentSteps = RecentSteps()
    /// Each worker's clock against this process's, for timelines.
    let clockOffsets = ClockOffsetFilter()
    private let timers = DispatchQueue(label: "weft.coordinator.timers")
    /// Changes every time a coordinator process starts; workers tell a restarted one by it.
    let incarnation = UInt64.random(in: 1...UInt64.max)
    /// When this process started, for the recovery window (see `Coordinator+Recovery`).
    let started = ContinuousClock.now
    private let handlers = HandlerExecutor(label: "weft.coordinator.handlers")

    /// The address clients and workers reach the coordinator at.
    public var address: String { node.boundAddress }

    /// Binds the coordinator's ZeroMQ socket; call `start` to serve.
    public convenience init(
        _ configuration: Configuration,
        logger: Logger = Logger(label: "weft.coordinator")
    ) throws(WeftError) {
        try ListenPolicy.check(
            configuration.listen,
            secured: configuration.security != nil,
            insecure: configuration.insecure,
            logger: logger
        )
        let security = configuration.security.map { security in
            security.node(admitting: security.cluster.workerKeys.union(security.cluster.clientKeys), serverKeys: [:])
        }
        let node = try MessagingNode(listen: configuration.listen, security: security, logger: logger)
        self.init(configuration, transport: node, logger: logger)
    }

    /// Serves on `transport` (its address stands for `configuration.listen`); call `start` to serve.
    public init(_ configuration: Configuration, transport: any MessageTransport, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.node = transport
        self.state = Mutex(State(membership: Membership(heartbeatTimeout: configuration.heartbeatTimeout)))
    }

    /// Starts serving requests and checking workers' health.
    public func start() {
        node.setHandler { [weak self] message in
            guard let self else { return }
            Task(executorPreference: handlers) { await self.handle(message) }
        }
        scheduleHealthCheck()
    }

    /// Stops serving.
    public func stop() {
        state.withLock { $0.stopped = true }
        node.close()
    }

    private func scheduleHealthCheck() {
        timers.asyncAfter(deadline: .now() + configuration.heartbeatInterval.dispatchInterval) { [weak self] in
            guard let self, !state.withLock({ $0.stopped }) else { return }
            checkHealth()
            scheduleHealthCheck()
        }
    }

    /// Declares silent workers dead, fails the steps that need them or ran past their deadline,
    /// and ends expired leases. The time is read under the lock, so a wait for the lock (a long
    /// placement) never counts as a worker's silence.
    func checkHealth() {
        let (dead, steps, expired) = state.withLock { state in
            let now = ContinuousClock.now
            let dead = state.membership.expire(now: now).compactMap { state.membership[$0] }
            let expired = state.sessions.values.filter { $0.leaseExpiry < now }
            for session in expired { state.sessions[session.handle] = nil }
            return (dead, Array(state.inFlight.values), expired)
        }
        for worker in dead {
            logger.warning("worker declared dead", metadata: ["worker.device": "\(worker.device)"])
            ClusterMetrics.workerDeclaredDead(worker.device.description)
        }
        for run in steps {
            for worker in dead {
                let reason = "it sent no heartbeat for \(configuration.heartbeatTimeout)"
                drive(run, .workerDied(worker.device, Self.unavailable(worker, reason: reason)))
            }
            drive(run, .deadline)
        }
        for session in expired {
            logger.info("session lease expired", metadata: ["session.id": "\(session.handle)"])
            cancelSteps(ofSessions: [session.handle], WeftError(.cancelled, "session \(session.handle)'s lease ran out"))
            release(session)
        }
    }

    static func unavailable(_ worker: Membership.Worker, reason: String) -> WeftError {
        WeftError(.unavailable, "worker \(worker.device) at \(worker.address) is unavailable: \(reason)")
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
            case .extendSession?: result = .success(try extendSession(envelope, caller: caller))
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
        let now = ContinuousClock.now
        var renewed: [String] = []
        let (registration, broken, steps) = try state.withLock {
            (state) throws(WeftError) -> (Membership.Registration, [String], [StepRun]) in
            // With keys, a worker cannot claim another task's address either: requests there
            // would then expect its key, and the task at that address would be cut off.
            if configuration.security != nil, let task,
                let holder = state.membership.workers.values.first(where: {
                    $0.address == body.address && $0.device != DeviceName(job: body.job, task: task)
                })
            {
                throw WeftError(
                    .permissionDenied,
                    "\(body.address) is the address of \(holder.device); a worker registers only its own address"
                )
            }
            let registration = try state.membership.register(
                job: body.job,
                task: task,
                address: body.address,
                incarnation: body.incarnation,
                now: now
            )
            renewed = adopt(body, device: registration.device, in: &state, now: now)
            guard case .restarted(let device) = registration else { return (registration, [], []) }
            let broken = state.sessions.values.filter { session in
                session.broken == nil && session.breakIfRestarted(device, incarnation: body.incarnation) != nil
            }.map(\.handle)
            return (registration, broken, Array(state.inFlight.values))
        }
        // Requests to the worker expect the key it registered with, the one the file lists.
        if let key { node.trust(key, at: body.address) }
        logger.info(
            "worker registered",
            metadata: ["worker.registration": "\(registration)", "worker.address": "\(body.address)"]
        )
        scheduleLinkMeasurement()
        if !broken.isEmpty {
            logger.warning("sessions lost state on a restarted worker", metadata: ["sessions": "\(broken)"])
        }
        let device: DeviceName
        switch registration {
        case .joined(let d), .rejoined(let d), .restarted(let d): device = d
        }
        // The process that ran their partitions is gone: its replies will never come.
        let restarted = WeftError(.aborted, "worker \(device) restarted while the step ran on it")
        for run in steps { drive(run, .workerDied(device, restarted)) }
        return .reply() { envelope in
            envelope.registerWorkerReply = .with {
                $0.job = device.job
                $0.task = Int32(device.task)
                $0.heartbeatIntervalMs = UInt32(configuration.heartbeatInterval.millisecondsRoundedUp)
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
        let (known, silence) = state.withLock { state in
            let silence = state.membership[device].map { ContinuousClock.now - $0.lastSeen }
            let known = state.membership.heartbeat(
                device: device,
                incarnation: body.incarnation,
                sessions: body.sessions,
                residentBytes: body.residentBytes,
                rates: body.hasRates ? CostModel.Rates(body.rates) : nil,
                memory: .init(tensorBytes: body.tensorBytes, limitBytes: body.memoryLimitBytes),
                now: .now
            )
            return (known, silence)
        }
        if let silence {
            ClusterMetrics.heartbeatsMissed(by: device, silence: silence, interval: configuration.heartbeatInterval)
        }
        guard known else {
            throw WeftError(.notFound, "\(device) is not registered with this coordinator; register again")
        }
        return heartbeatReply(from: device, held: body.held)
    }

    private func keepAlive(client: String, caller: CurveKey?) -> WireMessage {
        let now = ContinuousClock.now
        state.withLock { state in
            for session in state.sessions.values where session.client == client && session.owner == caller {
                session.leaseExpiry = now + session.lease
            }
        }
        return .ok
    }

    /// Has every healthy worker measure its links to every other, one worker at a time so the
    /// measurements do not share the network.
    private func measureLinks(_ body: Weft_MeasureLinks) async throws(WeftError) -> WireMessage {
        _ = try body.checkedSizes()  // refused here, before any worker is asked
        let workers = state.withLock { state in state.membership.healthyDevices.compactMap { state.membership[$0] } }
        let peers = workers.map { worker in
            Weft_PeerAddress.with {
                $0.device = worker.device.description
                $0.address = worker.address
            }
        }
        var links: [Weft_LinkMeasurement] = []
        for worker in workers where workers.count > 1 {
            let request = WireMessage.make(.measureLinks) { envelope in
                envelope.measureLinks = .with {
                    $0.peers = peers.filter { $0.device != worker.device.description }
                    $0.roundTrips = body.roundTrips == 0 ? 20 : body.roundTrips
                    $0.payloadBytes = body.payloadBytes == 0 ? 1 << 20 : body.payloadBytes
                }
            }
            let timeout = configuration.requestTimeout * (2 * workers.count)
            do {
                links += try await node.request(request, to: worker.address, timeout: timeout).envelope
                    .measureLinksReply.links
            } catch {
                throw Self.describe(error, worker: worker)
            }
        }
        let reply = Weft_MeasureLinksReply.with { $0.links = links }
        let measured = try LinkMeasurement.list(reply)
        state.withLock { $0.links = measured }
        return .reply() { $0.measureLinksReply = reply }
    }

    /// Measures the links again once registrations have settled for a moment, so placement
    /// sees the network as it is now (a worker that joined, or moved).
    private func scheduleLinkMeasurement() {
        let version = state.withLock { state in
            state.membershipVersion += 1
            return state.membershipVersion
        }
        timers.asyncAfter(deadline: .now() + .milliseconds(500)) { [weak self] in
            guard let self, state.withLock({ $0.membershipVersion == version && !$0.stopped }) else { return }
            Task(executorPreference: handlers) {
                do {
                    _ = try await self.measureLinks(Weft_MeasureLinks())
                } catch {
                    self.logger.info("links between workers not measured", metadata: ["error": "\(error)"])
                }
            }
        }
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
                    reply.workers = state.membership.workers.values.sorted { $0.device < $1.device }.map { worker in
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
                    reply.sessions = state.sessions.values.sorted { $0.created < $1.created }.map { session in
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
