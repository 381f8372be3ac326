import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// The coordinator's cluster state as one pure state machine: the membership of workers, the
/// registry of sessions with their leases, and the bookkeeping of steps in flight.
///
/// The coordinator's shell feeds it what happened (a worker registered, sent a heartbeat, left
/// or fell silent; a session was opened, extended or closed; a lease was renewed or ran out; a
/// step started or ended; a partition was registered) with the time it happened, and carries
/// out the directives it returns (drive steps' machines, ask workers to free a session, log).
/// It holds no sockets, reads no clock and takes no lock: the shell serialises the events, and
/// tests drive every rule with an injected clock.
///
/// Placement is not done here: an extension is placed by the shell from `extensionBase` and
/// applied with `applyExtension` only if the session's graph did not change meanwhile.
struct ClusterState: Sendable {
    /// The fixed rules of one coordinator process.
    struct Configuration: Sendable {
        /// Silence after which a worker is declared dead.
        var heartbeatTimeout: Duration
        /// This coordinator process's incarnation: a worker that registered with another brings
        /// the sessions this one adopts.
        var incarnation: UInt64
        /// Whether the cluster has keys: a worker may then register only its own address.
        var secured = false
        /// The interval workers send heartbeats at while the cluster is small.
        var heartbeatInterval: Duration = .milliseconds(250)
        /// The most heartbeats a second an idle cluster sends (see `HeartbeatPacing`).
        var heartbeatBudget = 50
    }

    /// What the shell must do after an event.
    enum Directive: Sendable {
        /// Feed `event` to the machines of these steps in flight.
        case driveSteps([UInt64], StepMachine.Event)
        /// Ask the workers at `addresses` to free the session's state.
        case release(session: String, client: String, addresses: [String])
        /// A shared variable container ended: ask the workers at `addresses` to free it.
        case releaseContainer(String, addresses: [String])
        /// A worker fell silent and is now dead (for the log and the metrics).
        case workerDeclaredDead(Membership.Worker)
        /// These sessions lost state on a restarted worker (for the log).
        case sessionsBroken([String], by: DeviceName)
        /// A session's lease ran out and it was closed (for the log).
        case leaseExpired(String)
        /// A session was rebuilt from a worker's record (for the log).
        case sessionAdopted(String, from: DeviceName)
        /// A worker brought a record that cannot be used (for the log).
        case recordUnusable(String, from: DeviceName, WeftError)
    }

    /// A step in flight as the cluster sees it: whose it is and which workers it needs.
    struct StepInFlight: Sendable, Equatable {
        let session: String
        let participants: Set<DeviceName>
        /// The client's own number for the step, which its `cancelStep` names; 0 when unnumbered.
        let clientStep: UInt64
    }

    /// What a step needs, copied from its session when it starts: an extension applied while
    /// it runs changes the session, not the step.
    struct StepSetup: Sendable {
        var session: String
        var client: String
        var owner: CurveKey?
        var signature: RunSignature
        /// The session's graph when the step started.
        var graph: RuntimeGraph
        var plan: CoordinatorSession.PlannedStep
        var step: UInt64
        var workers: [DeviceName: Membership.Worker]
        var toRegister: [DeviceName]
        var peers: [Weft_PeerAddress]
        /// The key of the step among the steps in flight.
        var token: UInt64
        /// The client's own number for the step, which its `cancelStep` names; 0 when unnumbered.
        var clientStep: UInt64
        /// The worker-side id of the shared variable container the session uses, if any.
        var sharedContainer: String? = nil
    }

    let configuration: Configuration
    private(set) var membership: Membership
    private(set) var sessions: [String: CoordinatorSession] = [:]
    private(set) var inFlight: [UInt64: StepInFlight] = [:]
    private var nextToken: UInt64 = 1
    /// Sessions closed (or whose lease ran out), until every worker's own lease on them has run
    /// out: a worker that was away brings them back, and they must not be adopted again.
    private(set) var closed: [String: ContinuousClock.Instant] = [:]
    /// Shared variable containers and the sessions using them.
    private(set) var containers = SharedContainers()
    /// Set while the coordinator shuts down: steps that have not started are refused.
    private(set) var draining = false
    /// The links between workers, as last measured: one per pair of hosts (`LinkProbeSchedule`).
    private(set) var links: [LinkMeasurement] = []
    /// The hosts of workers and the links between hosts, measured or estimated, for placement.
    private(set) var hostLinks = CostModel.HostLinks()

    /// How often workers send heartbeats, and how long a silence kills, at the cluster's size.
    private(set) var pacing: HeartbeatPacing

    /// An empty cluster.
    init(_ configuration: Configuration) {
        self.configuration = configuration
        self.membership = Membership(heartbeatTimeout: configuration.heartbeatTimeout)
        self.pacing = HeartbeatPacing(
            interval: configuration.heartbeatInterval,
            timeout: configuration.heartbeatTimeout,
            budget: configuration.heartbeatBudget
        )
    }

    // MARK: Workers

    /// A worker registers (`task` is the one its key holds with keys, or the one it asks for).
    /// Takes in the sessions it holds, and when it is a new process of a known task, breaks
    /// the sessions the old one held state of and fails the steps in flight on it.
    mutating func register(
        _ body: Weft_RegisterWorker,
        task: Int?,
        now: ContinuousClock.Instant
    ) throws(WeftError) -> (registration: Membership.Registration, renewed: [String], directives: [Directive]) {
        // With keys, a worker cannot claim another task's address either: requests there
        // would then expect its key, and the task at that address would be cut off.
        if configuration.secured, let task,
            let holder = membership.workers.values.first(where: {
                $0.address == body.address && $0.device != DeviceName(job: body.job, task: task)
            })
        {
            throw WeftError(
                .permissionDenied,
                "\(body.address) is the address of \(holder.device); a worker registers only its own address"
            )
        }
        let registration = try membership.register(
            job: body.job,
            task: task,
            address: body.address,
            incarnation: body.incarnation,
            now: now
        )
        if pacing.cluster(of: membership.workers.count) { membership.heartbeatTimeout = pacing.timeout }
        let device = registration.device
        var directives: [Directive] = []
        let renewed = adopt(body, device: device, now: now, directives: &directives)
        guard case .restarted = registration else { return (registration, renewed, directives) }
        var broken: [String] = []
        for handle in sessions.keys.sorted() where sessions[handle]?.broken == nil {
            if sessions[handle]?.breakIfRestarted(device, incarnation: body.incarnation) != nil {
                broken.append(handle)
            }
        }
        if !broken.isEmpty { directives.append(.sessionsBroken(broken, by: device)) }
        // The process that ran their partitions is gone: its replies will never come.
        let error = WeftError(.aborted, "worker \(device) restarted while the step ran on it")
        directives += drive(steps(on: device), .workerDied(device, error))
        return (registration, renewed, directives)
    }

    /// What a heartbeat gets back.
    struct HeartbeatAnswer: Sendable {
        /// Whether the worker is registered as the process that sent it; if not, it registers again.
        var known: Bool
        /// How long the worker was silent before it.
        var silence: Duration?
        /// The sessions the worker holds that this coordinator keeps there: their leases are renewed.
        var renewed: [String] = []
        /// Newer records of those sessions than the worker holds (an extension since).
        var records: [String: Weft_SessionRecord] = [:]
        /// The direct steps it reported of sessions it holds, to list with the recent steps.
        var directSteps: [Weft_DirectStep] = []
    }

    /// A worker's heartbeat: it is alive, renews the sessions it holds that are still open,
    /// and gets the records of those extended since it last got one.
    mutating func heartbeat(_ body: Weft_Heartbeat, now: ContinuousClock.Instant) -> HeartbeatAnswer {
        let device = DeviceName(job: body.job, task: Int(body.task))
        let silence = membership[device].map { now - $0.lastSeen }
        let known = membership.heartbeat(
            device: device,
            incarnation: body.incarnation,
            sessions: body.sessions,
            residentBytes: body.residentBytes,
            rates: body.hasRates ? CostModel.Rates(body.rates) : nil,
            memory: .init(tensorBytes: body.tensorBytes, limitBytes: body.memoryLimitBytes),
            now: now
        )
        guard known else { return HeartbeatAnswer(known: false, silence: silence) }
        var answer = HeartbeatAnswer(known: true, silence: silence)
        answer.renewed = body.held.filter { keeps($0, on: device) }
        answer.records = recordsBehind(on: device, holding: answer.renewed, versions: body.recordVersions)
        answer.directSteps = countDirectSteps(body, on: device)
        return answer
    }

    /// Adds the direct steps `device` reports to its sessions' counts; returns those to list.
    /// Only a session the worker holds takes its report, so a worker cannot touch another's.
    private mutating func countDirectSteps(_ body: Weft_Heartbeat, on device: DeviceName) -> [Weft_DirectStep] {
        var counted: Set<String> = []
        for (handle, count) in body.directStepCounts where keeps(handle, on: device) {
            guard let steps = sessions[handle]?.steps else { continue }
            let (sum, overflow) = steps.addingReportingOverflow(count)
            sessions[handle]?.steps = overflow ? .max : sum
            counted.insert(handle)
        }
        // No more than the list keeps, however many a worker sends.
        return Array(body.directSteps.filter { counted.contains($0.session) }.suffix(RecentSteps.capacity))
    }

    /// A worker shutting down says so: it is gone at once, and the steps that need it fail now.
    /// A message from an older process of the task changes nothing.
    mutating func leave(_ device: DeviceName, incarnation: UInt64) -> (worker: Membership.Worker?, [Directive]) {
        guard let worker = membership[device], worker.incarnation == incarnation else { return (nil, []) }
        membership.markUnreachable(device)
        return (
            worker,
            drive(steps(on: device), .workerDied(device, Self.unavailable(worker, reason: "it left the cluster")))
        )
    }

    /// Time passed: silent workers are declared dead and fail the steps that need them, steps
    /// check their deadlines, and sessions whose lease ran out are closed.
    mutating func tick(now: ContinuousClock.Instant) -> [Directive] {
        var directives: [Directive] = []
        for device in membership.expire(now: now) {
            guard let worker = membership[device] else { continue }
            directives.append(.workerDeclaredDead(worker))
            let reason = "it sent no heartbeat for \(pacing.timeout)"
            directives += drive(steps(on: device), .workerDied(device, Self.unavailable(worker, reason: reason)))
        }
        directives += drive(inFlight.keys.sorted(), .deadline)
        for (handle, session) in sessions.sorted(by: { $0.key < $1.key }) where session.leaseExpiry < now {
            directives.append(.leaseExpired(handle))
            directives += end(handle, WeftError(.cancelled, "session \(handle)'s lease ran out"), now: now)
        }
        closed = closed.filter { $0.value > now }
        return directives
    }

    /// The links between workers were measured: one measurement per pair of hosts, and what
    /// placement prices every pair of workers by.
    mutating func linksMeasured(_ measured: [LinkMeasurement], hosts: CostModel.HostLinks) {
        links = measured
        hostLinks = hosts
    }

    /// What placement believes the cluster costs: each worker's measured rates and the links
    /// last measured between workers; the default model's figures where nothing was measured.
    var costModel: CostModel {
        var model = CostModel.default
        for worker in membership.workers.values {
            if let rates = worker.rates { model.setRates(rates, for: worker.device) }
        }
        model.hosts = hostLinks
        return model
    }

    /// The error of a step or request that needs a worker that is gone.
    static func unavailable(_ worker: Membership.Worker, reason: String) -> WeftError {
        WeftError(.unavailable, "worker \(worker.device) at \(worker.address) is unavailable: \(reason)")
    }

    // MARK: Sessions

    /// Opens a placed session; `false` when its handle is taken (the shell draws another).
    mutating func open(_ session: CoordinatorSession) -> Bool {
        guard sessions[session.handle] == nil, closed[session.handle] == nil else { return false }
        sessions[session.handle] = session
        return true
    }

    /// Opens a placed session using the shared container `sharing` names (see
    /// `SharedContainers`); `nil` when its handle is taken (the shell draws another). A refused
    /// admission opens nothing.
    mutating func open(
        _ session: CoordinatorSession,
        sharing request: SharedContainers.Request
    ) throws(WeftError) -> SharedContainers.Admission? {
        guard sessions[session.handle] == nil, closed[session.handle] == nil else { return nil }
        let admission = try containers.admit(session.handle, request)
        var session = session
        session.sharedContainer = admission.id
        session.sharedGrant = containers.grant(of: session.handle)
        sessions[session.handle] = session
        return admission
    }

    /// The open, unbroken session `handle` when `caller` (or without keys `client`) owns it.
    func session(_ handle: String, caller: CurveKey?, client: String) throws(WeftError) -> CoordinatorSession {
        guard let session = sessions[handle] else { throw Self.notFound(handle) }
        try Self.checkOwner(session, caller: caller, client: client)
        if let broken = session.broken { throw broken }
        return session
    }

    /// What an extension is placed from, outside the state: the session's graph as it is now,
    /// the healthy devices and the cost model.
    func extensionBase(
        _ handle: String,
        caller: CurveKey?,
        client: String
    ) throws(WeftError) -> (base: CoordinatorSession.Base, devices: [DeviceName], costModel: CostModel) {
        (try session(handle, caller: caller, client: client).base, membership.healthyDevices, costModel)
    }

    /// Applies a placed extension; `nil`, changing nothing, when the graph changed since its
    /// base was read (the shell places again). Steps running keep the plans they started with.
    /// Workers holding the session get the new record with their next heartbeat's answer.
    mutating func applyExtension(
        _ change: CoordinatorSession.Extension,
        to handle: String,
        caller: CurveKey?,
        client: String
    ) throws(WeftError) -> [String: DeviceName]? {
        var session = try session(handle, caller: caller, client: client)
        guard session.apply(change) else { return nil }
        sessions[handle] = session
        return session.placement
    }

    /// The owner closes a session: its steps in flight are cancelled and workers free it.
    mutating func close(
        _ handle: String,
        caller: CurveKey?,
        client: String,
        now: ContinuousClock.Instant
    ) throws(WeftError) -> [Directive] {
        guard let session = sessions[handle] else { throw Self.notFound(handle) }
        try Self.checkOwner(session, caller: caller, client: client)
        return end(handle, WeftError(.cancelled, "session \(handle) was closed while the step ran"), now: now)
    }

    /// A client's keep-alive renews the leases of every session it owns.
    mutating func keepAlive(client: String, caller: CurveKey?, now: ContinuousClock.Instant) {
        for (handle, session) in sessions where session.client == client && session.owner == caller {
            sessions[handle]?.leaseExpiry = now + session.lease
        }
    }

    /// Removes a session for good: its steps are cancelled, every worker that may hold its
    /// state (healthy or not: one that only seems silent still holds it) is asked to free it,
    /// and it is never adopted again while a worker's lease on it may last.
    private mutating func end(_ handle: String, _ error: WeftError, now: ContinuousClock.Instant) -> [Directive] {
        guard let session = sessions.removeValue(forKey: handle) else { return [] }
        let ended = containers.leave(handle)
        closed[handle] = now + Self.workerLease(session, heartbeatTimeout: pacing.timeout)
        var directives = drive(inFlight.filter { $0.value.session == handle }.keys.sorted(), .cancelled(error))
        let addresses = session.contacted.union(session.hosts.keys).sorted().compactMap { membership[$0]?.address }
        if !addresses.isEmpty {
            directives.append(.release(session: handle, client: session.client, addresses: addresses))
        }
        if let ended {
            let hosts = ended.hosts.union(session.contacted).union(session.hosts.keys)
            directives.append(.releaseContainer(ended.id, addresses: hosts.sorted().compactMap { membership[$0]?.address }))
        }
        return directives
    }

    /// How long a worker holds a session's state without renewal: the client's lease, but at
    /// least two heartbeat timeouts, so renewals that come late (or a coordinator restart) do
    /// not free a session the coordinator keeps.
    static func workerLease(_ session: CoordinatorSession, heartbeatTimeout: Duration) -> Duration {
        max(session.lease, heartbeatTimeout * 2)
    }

    private static func notFound(_ handle: String) -> WeftError {
        WeftError(.notFound, "session \(handle) does not exist (closed, or its lease ran out)")
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

    /// A step starts: its session's lease is renewed, its signature planned (once), and every
    /// worker it needs must be registered, healthy and the process that holds the session's
    /// state. It enters the steps in flight, so a worker's death reaches it from now on.
    mutating func startStep(
        _ handle: String,
        signature: RunSignature,
        caller: CurveKey?,
        client: String,
        clientStep: UInt64 = 0,
        now: ContinuousClock.Instant
    ) throws(WeftError) -> StepSetup {
        guard !draining else {
            throw WeftError(.unavailable, "the coordinator is shutting down; run the step once it is back")
        }
        var session = try session(handle, caller: caller, client: client)
        // Written back whatever happens: the lease is renewed, a restart breaks it for good.
        defer { sessions[handle] = session }
        session.leaseExpiry = now + session.lease
        let plan = try session.plan(for: signature)
        var workers: [DeviceName: Membership.Worker] = [:]
        for device in plan.partitions.keys.sorted() {
            guard let worker = membership[device] else {
                throw WeftError(.unavailable, "worker \(device) is not registered with the coordinator")
            }
            guard worker.healthy else { throw Self.unavailable(worker, reason: "it stopped sending heartbeats") }
            if let broken = session.breakIfRestarted(device, incarnation: worker.incarnation) { throw broken }
            workers[device] = worker
        }
        let step = session.nextStep
        session.nextStep += 1
        session.steps += 1
        let token = nextToken
        nextToken += 1
        inFlight[token] = StepInFlight(session: handle, participants: Set(workers.keys), clientStep: clientStep)
        return StepSetup(
            session: handle,
            client: session.client,
            owner: session.owner,
            signature: signature,
            graph: session.graph,
            plan: plan,
            step: step,
            workers: workers,
            toRegister: workers.filter { plan.registered[$0.key] != $0.value.incarnation }.map(\.key).sorted(),
            peers: workers.values.sorted { $0.device < $1.device }.map { worker in
                Weft_PeerAddress.with {
                    $0.device = worker.device.description
                    $0.address = worker.address
                }
            },
            token: token,
            clientStep: clientStep,
            sharedContainer: session.sharedContainer
        )
    }

    /// The session's client cancels the step it numbered `clientStep`: it stopped waiting. A
    /// step that already ended, or was never seen, is left alone, so a cancel that crosses the
    /// step's reply changes nothing.
    func cancelStep(
        _ clientStep: UInt64,
        of handle: String,
        caller: CurveKey?,
        client: String
    ) throws(WeftError) -> [Directive] {
        _ = try session(handle, caller: caller, client: client)
        guard clientStep != 0 else { return [] }
        let steps = inFlight.filter { $0.value.session == handle && $0.value.clientStep == clientStep }.keys.sorted()
        let error = WeftError(.cancelled, "the client of session \(handle) cancelled the step")
        return drive(steps, .cancelled(error))
    }

    /// A partition registration is about to be sent to `device`: whatever it answers, it may
    /// hold state of the session from now on. Returns the worker's lease on the session and,
    /// when its copy is older, the record to send with it; `nil` when the session was closed
    /// meanwhile, so nothing is left on the worker that no release would free.
    mutating func contacting(
        _ device: DeviceName,
        for handle: String
    ) -> (leaseMs: UInt64, record: Weft_SessionRecord?)? {
        guard let session = sessions[handle] else { return nil }
        sessions[handle]?.contacted.insert(device)
        containers.hosted(handle, on: device)
        let lease = Self.workerLease(session, heartbeatTimeout: pacing.timeout)
        return (lease.millisecondsRoundedUp, session.recorded[device] == session.version ? nil : session.record)
    }

    /// `device` accepted a partition registration carrying record `version`.
    mutating func recordDelivered(_ version: UInt64, to device: DeviceName, for handle: String) {
        let held = sessions[handle]?.recorded[device] ?? 0
        sessions[handle]?.recorded[device] = max(held, version)
    }

    /// Every partition of a step that lacked one is registered, with the incarnations given:
    /// the next steps of the plan skip the registration, and those workers hold the session.
    mutating func partitionsRegistered(_ setup: StepSetup, on devices: [DeviceName]) {
        guard sessions[setup.session] != nil else { return }
        for device in devices {
            guard let incarnation = setup.workers[device]?.incarnation else { continue }
            sessions[setup.session]?.hosts[device] = incarnation
            // A plan replaced meanwhile (an extension) is planned and registered anew.
            if sessions[setup.session]?.plans[setup.signature]?.id == setup.plan.id {
                sessions[setup.session]?.plans[setup.signature]?.registered[device] = incarnation
            }
        }
    }

    /// A step answered its client.
    mutating func stepEnded(_ token: UInt64) {
        inFlight[token] = nil
    }

    /// The coordinator shuts down: steps that have not started are refused from now on.
    mutating func beginDrain() {
        draining = true
    }

    /// The steps in flight that need `device`.
    private func steps(on device: DeviceName) -> [UInt64] {
        inFlight.filter { $0.value.participants.contains(device) }.keys.sorted()
    }

    private func drive(_ steps: [UInt64], _ event: StepMachine.Event) -> [Directive] {
        steps.isEmpty ? [] : [.driveSteps(steps, event)]
    }
}

/// Sessions outlive the coordinator process, and no session state outlives the coordinator's
/// interest in it.
///
/// Every worker holding state of a session keeps a `Weft_SessionRecord` of it (client, owner,
/// strategy, lease, the whole graph and its placement; a version that grows with extensions).
/// A registration carries it whenever the worker's copy is older; after an extension, the
/// answer to each holder's next heartbeat does (a heartbeat names the version each session's
/// record has there), so a record reaches every holder within a heartbeat interval of the
/// extension, whether or not a step uses it. A restarted coordinator knows nothing; workers
/// re-register naming the sessions they hold with their records, and the coordinator adopts
/// each session from the newest record, so any step signature can run again: its partitions
/// are registered anew and find the variables where they were. Workers also hold their own
/// lease on each session (`SessionLeases`): the heartbeat names the sessions a worker holds and
/// the reply names those the coordinator keeps, renewing them; the others (closed while the
/// worker was unreachable, or not adopted) are freed, and a lease nobody renews runs out.
extension ClusterState {
    /// Takes in the sessions a registering worker holds; returns those this coordinator keeps.
    /// A worker that last registered with another coordinator process brings sessions this one
    /// adopts (from the newest record any worker brings), unless this one closed them; one that
    /// registered with this process keeps only the sessions it still has open.
    mutating func adopt(
        _ body: Weft_RegisterWorker,
        device: DeviceName,
        now: ContinuousClock.Instant,
        directives: inout [Directive]
    ) -> [String] {
        let fromEarlierCoordinator = body.coordinatorIncarnation != configuration.incarnation
        var renewed: [String] = []
        for held in body.sessions {
            if sessions[held.handle] != nil {
                if fromEarlierCoordinator && sessions[held.handle]?.adopted == true {
                    join(held, device: device, incarnation: body.incarnation, directives: &directives)
                }
                if keeps(held.handle, on: device) { renewed.append(held.handle) }
                continue
            }
            guard fromEarlierCoordinator, held.hasRecord, closed[held.handle] == nil else { continue }
            do throws(WeftError) {
                let session = try CoordinatorSession(adopting: held.record, handle: held.handle, now: now)
                sessions[held.handle] = session
                if let grant = session.sharedGrant { containers.adopt(held.handle, grant) }
                join(held, device: device, incarnation: body.incarnation, directives: &directives)
                renewed.append(held.handle)
                directives.append(.sessionAdopted(held.handle, from: device))
            } catch {
                directives.append(.recordUnusable(held.handle, from: device, error))
            }
        }
        return renewed
    }

    /// Records that `device` holds state of an adopted session, and takes its record when newer.
    private mutating func join(
        _ held: Weft_HeldSession,
        device: DeviceName,
        incarnation: UInt64,
        directives: inout [Directive]
    ) {
        guard var session = sessions[held.handle] else { return }
        containers.hosted(held.handle, on: device)
        session.hosts[device] = incarnation
        session.contacted.insert(device)
        // The record reached this worker, and so did every step id up to `lastStep`.
        session.recorded[device] = held.record.version
        session.nextStep = max(session.nextStep, held.lastStep &+ 1)
        if held.hasRecord, held.record.version > session.version {
            do throws(WeftError) {
                try session.restore(held.record)
            } catch {
                directives.append(.recordUnusable(held.handle, from: device, error))
            }
        }
        sessions[held.handle] = session
    }

    /// Whether the session `handle` is open and may have state on `device`.
    func keeps(_ handle: String, on device: DeviceName) -> Bool {
        guard let session = sessions[handle] else { return false }
        return session.contacted.contains(device) || session.hosts[device] != nil
    }

    /// The records of the sessions `handles` newer than the versions `device` says it holds;
    /// notes those versions as what the worker has.
    mutating func recordsBehind(
        on device: DeviceName,
        holding handles: [String],
        versions: [String: UInt64]
    ) -> [String: Weft_SessionRecord] {
        var records: [String: Weft_SessionRecord] = [:]
        for handle in handles {
            guard let session = sessions[handle] else { continue }
            let held = versions[handle] ?? 0
            sessions[handle]?.recorded[device] = held
            if held < session.version { records[handle] = session.record }
        }
        return records
    }

    /// Whether a request for `handle` may go on: the session is known and, when it was adopted,
    /// every worker its nodes are placed on has registered again.
    func recovered(_ handle: String) -> Bool {
        guard let session = sessions[handle] else { return false }
        return !session.adopted || Set(session.placement.values).allSatisfy { membership[$0] != nil }
    }
}
