import Dispatch
import Foundation
import Logging
import Synchronization
import Weft
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// Options of a session on a cluster.
public struct RemoteSessionOptions: Sendable {
    /// The placement strategy's name; the coordinator's default when `nil`.
    public var strategy: String?
    /// How long to wait for workers the graph names to register.
    public var waitForWorkers: Duration = .seconds(10)
    /// How long one step may take.
    public var stepTimeout: Duration = .seconds(60)
    /// How long the coordinator keeps the session after this process stops sending keep-alives.
    public var lease: Duration = .seconds(30)
    /// How long closing keeps asking the coordinator until it acknowledges; past it, the
    /// workers free the session's state when their lease on it runs out.
    public var closeTimeout: Duration = .seconds(5)
    /// Seeds the placement strategy's random choices: the same seed places the same way.
    public var placementSeed: UInt64 = 0
    /// Bytes of variables and constants each worker may hold for this session; placement fails
    /// with `resourceExhausted` when the graph cannot fit.
    public var memoryLimit: Int?
    /// How long each node took in earlier steps, by node name (`CostModel.medianDurations(of:)`
    /// over `RunMetadata`): the `profile` strategy places with these in place of estimates.
    public var measuredCosts: [String: Duration] = [:]
    /// The shared variable container the session's variables live in, for between-graph
    /// replication; `nil` (the default) keeps them the session's own.
    public var sharedVariables: SharedVariables?
    /// Whether placement may split while loops and conds across workers, which then exchange
    /// tensors every iteration. By default (`false`) each loop and cond stays on one worker,
    /// which costs no message per iteration, unless the graph's own device requests split it.
    public var splitControlFlow = false
    /// Whether steps go straight to the workers that run their partitions once the coordinator
    /// has named them (the default): a request to each worker, answered directly, which saves
    /// the coordinator's hop both ways. Off, every step goes through the coordinator, which
    /// then also fails a step in flight when it declares one of its workers dead; on, the step
    /// fails when this process loses its connection to the worker, or at its deadline.
    public var directRoutes = true

    /// The client's key and the coordinator's, for a cluster with keys; `nil` for one without.
    public var security: ClientSecurity?
    /// The endpoint the session reaches the cluster through (an `InProcessNetwork`'s, in
    /// tests); the process's shared ZeroMQ node when `nil`.
    public var transport: (any MessageTransport)?

    /// Default options.
    public init(strategy: String? = nil) { self.strategy = strategy }
}

/// A shared variable container: sessions of several clients, each with its own graph, that
/// use one container read and update the same variables on every worker (between-graph
/// replication). The first session creates it and is given its token (`RemoteSession.
/// sharedVariablesToken`); other sessions join with the name and that token. A container that
/// exists, or a wrong token, is refused with `permissionDenied`. It lives while a session using
/// it is open.
public struct SharedVariables: Sendable, Hashable {
    /// The container's name.
    public var container: String
    /// The container's token, to join it; `nil` to create it.
    public var token: String?

    /// Creates the container `name`; the session is given its token.
    public static func create(_ name: String) -> SharedVariables { SharedVariables(container: name, token: nil) }

    /// Joins the container `name` with the token its creator was given.
    public static func join(_ name: String, token: String) -> SharedVariables {
        SharedVariables(container: name, token: token)
    }
}

/// A client's CURVE keys: its own pair, which the cluster file lists under `clients`, and the
/// coordinator's public key. Workers' keys come from the coordinator when a step may go to a
/// worker directly.
public struct ClientSecurity: Sendable, Hashable {
    /// This client's keys.
    public var keyPair: CurveKeyPair
    /// The coordinator's public key.
    public var coordinatorKey: CurveKey

    /// Makes a client's security settings.
    public init(keyPair: CurveKeyPair, coordinatorKey: CurveKey) {
        self.keyPair = keyPair
        self.coordinatorKey = coordinatorKey
    }

    /// Reads the client's secret key file (mode 0600) and takes the coordinator's key from a
    /// cluster file's security section.
    public init(secretKeyFile: String, cluster: ClusterSecurity) throws(WeftError) {
        self.init(keyPair: try CurveKeyFile.readSecret(secretKeyFile), coordinatorKey: cluster.coordinator.publicKey)
    }
}

/// This process's connection to coordinators: one messaging node (one I/O thread) for all
/// remote sessions with the same keys, and the client id they are opened with.
final class ClientConnection: Sendable {
    /// The connections with keys, by key pair, made on first use.
    private static let secured = Mutex<[CurveKeyPair: ClientConnection]>([:])

    /// The connection for `security`: the plain shared one, or one speaking CURVE with that
    /// key pair, which expects the coordinator's key at `coordinator`.
    static func connection(
        _ security: ClientSecurity?,
        coordinator: String
    ) throws(WeftError) -> ClientConnection {
        guard let security else { return try shared.get() }
        let connection = try secured.withLock { (table) throws(WeftError) -> ClientConnection in
            if let existing = table[security.keyPair] { return existing }
            let made = ClientConnection(
                node: try MessagingNode(
                    listen: "tcp://127.0.0.1:0",
                    configuration: clientConfiguration,
                    security: MessagingNode.Security(keyPair: security.keyPair, admitted: []),
                    logger: Logger(label: "weft.client")
                )
            )
            table[security.keyPair] = made
            return made
        }
        connection.node.trust(security.coordinatorKey, at: coordinator)
        return connection
    }

    private static var clientConfiguration: MessagingNode.Configuration {
        // Direct steps wait on a worker with no coordinator watching its heartbeats: a connection
        // that goes silent must fail them well within the 3 s a dead worker may take.
        var configuration = MessagingNode.Configuration()
        configuration.heartbeatInterval = .milliseconds(500)
        configuration.heartbeatTimeout = .seconds(2)
        // So a fetched tensor crosses in frames that each arrive well within that timeout,
        // on any link faster than 32 MB/s.
        configuration.replyFrameBytes = 64 << 20
        return configuration
    }

    /// The process's connection without keys, started on first use; an error when its socket
    /// cannot be made.
    static let shared: Result<ClientConnection, WeftError> = {
        // The client's own ROUTER is bound on loopback only: nothing connects to it.
        Result { () throws(WeftError) in
            ClientConnection(
                node: try MessagingNode(
                    listen: "tcp://127.0.0.1:0",
                    configuration: clientConfiguration,
                    logger: Logger(label: "weft.client")
                )
            )
        }
    }()

    let node: any MessageTransport
    let id = UUID().uuidString

    init(node: any MessageTransport) { self.node = node }

    /// Sends one request and waits for its reply.
    func request(
        _ message: consuming WireMessage,
        to address: String,
        timeout: Duration
    ) throws(WeftError) -> WireMessage {
        try node.requestAndWait(consume message, to: address, timeout: timeout)
    }

    /// What an awaiting task that was cancelled gets.
    static let cancelled = WeftError(.cancelled, "the task awaiting the step was cancelled")
}

/// Runs a session's steps on a cluster through its coordinator. Its lifecycle and lease follow
/// `ClientSessionMachine`; this class does the I/O and the waiting the machine asks for.
public final class RemoteSessionBackend: SessionBackend {
    private struct State {
        var sentNodes: Int
        var placement: [String: String]
        /// The session's lifecycle and lease: this class only carries out what it decides.
        var lifecycle: ClientSessionMachine
        /// Signatures whose steps go straight to the workers of their partitions (see
        /// `Weft_DirectRoute`), one route per partition.
        var routes: [RunSignature: [Weft_DirectRoute]] = [:]
        /// Numbers this client's steps: a direct step's id on the worker, a coordinator step's
        /// name when the client cancels it.
        var nextStepID: UInt64 = 0
        /// How often the coordinator samples a step for its dashboard, when it does; one step
        /// that often goes through it rather than a direct route, so it has one to sample.
        var sampleInterval: Duration?
        /// When the coordinator last answered a step, or one last left to be sampled there.
        var lastCoordinatorStep = ContinuousClock.now
    }

    private let connection: ClientConnection
    private let coordinator: String
    private let graph: Graph
    private let options: RemoteSessionOptions
    /// The coordinator's and direct-route workers' clocks against this process's, for timelines.
    private let clockOffsets = ClockOffsetFilter()
    private let handle: String
    private let state: Mutex<State>

    /// The token of the shared variable container the session uses (the one it was given when
    /// it created the container, or the one it joined with); `nil` without one. Hand it only
    /// to clients that may read and change the container's variables.
    public let sharedVariablesToken: String?

    /// Opens a session for `graph` on the cluster whose coordinator is at `coordinator`.
    public init(coordinator: String, graph: Graph, options: RemoteSessionOptions = .init()) throws(WeftError) {
        if let error = graph.buildError { throw error }
        let connection: ClientConnection
        if let transport = options.transport {
            connection = ClientConnection(node: transport)
        } else {
            connection = try ClientConnection.connection(options.security, coordinator: coordinator)
        }
        self.connection = connection
        self.coordinator = coordinator
        self.graph = graph
        self.options = options
        let graphDef = graph.graphDef
        let request = WireMessage.make(.createSession) { envelope in
            envelope.createSession = .with {
                $0.graph = graphDef
                $0.strategy = options.strategy ?? ""
                $0.client = connection.id
                $0.waitForWorkersMs = options.waitForWorkers.millisecondsRoundedUp
                $0.leaseMs = options.lease.millisecondsRoundedUp
                $0.placementSeed = options.placementSeed
                $0.memoryLimitBytes = UInt64(max(options.memoryLimit ?? 0, 0))
                $0.measuredNodeSeconds = options.measuredCosts.mapValues { $0 / .seconds(1) }
                $0.sharedContainer = options.sharedVariables?.container ?? ""
                $0.sharedContainerToken = options.sharedVariables?.token ?? ""
                $0.splitControlFlow = options.splitControlFlow
            }
        }
        let reply = try connection.request(request, to: coordinator, timeout: options.waitForWorkers + .seconds(5))
        handle = reply.envelope.session
        let created = reply.envelope.createSessionReply.sharedContainerToken
        sharedVariablesToken = created.isEmpty ? options.sharedVariables?.token : created
        let lifecycle = ClientSessionMachine(
            handle: handle,
            coordinator: coordinator,
            lease: options.lease,
            closeTimeout: options.closeTimeout,
            openedAt: .now
        )
        state = Mutex(State(sentNodes: graphDef.node.count, placement: Self.placement(reply), lifecycle: lifecycle))
        perform(lifecycle.start)
    }

    /// Feeds the lifecycle machine one event and returns what it asks for.
    private func lifecycle(
        _ event: (inout ClientSessionMachine) -> [ClientSessionMachine.Directive]
    ) -> [ClientSessionMachine.Directive] {
        state.withLock { event(&$0.lifecycle) }
    }

    /// Carries out the lease's directives on the clients' executor: wake-ups are tasks sleeping
    /// there, and answers to keep-alives are handed to it. Not the cooperative pool: the user's
    /// code may hold every thread of it (a synchronous `run` called from `async` code does), and
    /// the lease must not run out because of it. Closing's directives are carried out by
    /// `closeAndWait`.
    private func perform(_ directives: [ClientSessionMachine.Directive]) {
        for directive in directives {
            switch directive {
            case .wakeForRenewal(let instant):
                let delay = max(instant - .now, .zero)
                Self.executor.after(delay) { [weak self] in
                    guard let self else { return }
                    perform(lifecycle { $0.renewalDue(at: .now) })
                }
            case .sendKeepAlive(let timeout):
                let message = WireMessage.make(.keepAlive) { $0.keepAlive = .with { $0.client = connection.id } }
                connection.node.request(message, to: coordinator, timeout: timeout) { [weak self] result in
                    guard case .success = result else { return }
                    Self.executor.task { [weak self] in
                        guard let self else { return }
                        perform(lifecycle { $0.replied(at: .now) })
                    }
                }
            case .sendClose, .wakeForCloseRetry, .closed, .closeFailed:
                break  // only closing produces these, and closeAndWait carries them out
            }
        }
    }

    private static func placement(_ reply: WireMessage) -> [String: String] {
        Dictionary(reply.envelope.createSessionReply.placement.map { ($0.node, $0.device) }, uniquingKeysWith: { $1 })
    }

    /// The device of every node, as the coordinator placed them.
    public var placement: [String: String] { state.withLock { $0.placement } }

    /// The coordinator's handle of this session.
    public var sessionHandle: String { handle }

    /// Sends nodes added to the graph since the last step, then runs the step on the cluster:
    /// through the coordinator, or straight to the workers a signature runs on once the
    /// coordinator has named them.
    public func run(
        feeds: [(TensorName, Tensor)],
        fetches: [TensorName],
        targets: [String],
        collectStatistics: Bool
    ) throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?) {
        if let request = try extensionRequest() {
            applyExtension(try connection.request(request.message, to: coordinator, timeout: request.timeout), request)
        }
        var (messages, step) = outgoingStep(
            feeds: feeds,
            fetches: fetches,
            targets: targets,
            collectStatistics: collectStatistics
        )
        let sentMicros = WallClock.nowMicros
        guard step.routes.count > 1 else {
            let reply: Result<WireMessage, WeftError>
            do {
                // Handed over, so setting its request id does not copy the envelope's storage.
                reply = .success(try connection.request(messages.removeLast(), to: step.address(of: 0), timeout: step.timeout))
            } catch {
                reply = .failure(error)
            }
            return try finish(step, replies: [reply], firstFailure: 0, sentMicros: sentMicros)
        }
        let replies = partitionReplies(step)
        // The last partition's request waits on this thread, with no hand-off; the others go ahead.
        let last = messages.count - 1
        startRequests(messages.dropLast(), step: step, replies: replies)
        do {
            let reply = try connection.request(messages.removeLast(), to: step.address(of: last), timeout: step.timeout)
            replies.record(last, .success(reply))
        } catch {
            replies.record(last, .failure(error))
        }
        let (all, firstFailure) = replies.wait()
        return try finish(step, replies: all, firstFailure: firstFailure, sentMicros: sentMicros)
    }


    /// Runs the step like the synchronous form, awaiting each reply without holding a thread.
    /// Cancelling the awaiting task ends the wait with `cancelled` at once and asks whoever runs
    /// the step to end it: the coordinator, or for a step sent straight to workers those workers;
    /// late replies are dropped.
    public func run(
        feeds: [(TensorName, Tensor)],
        fetches: [TensorName],
        targets: [String],
        collectStatistics: Bool
    ) async throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?) {
        if let request = try extensionRequest() {
            // Not cancellable: an extension the coordinator applied but this side did not record
            // would be sent again, and refused.
            applyExtension(
                try await connection.node.request(request.message, to: coordinator, timeout: request.timeout),
                request
            )
        }
        guard !Task.isCancelled else { throw ClientConnection.cancelled }
        let (messages, step) = outgoingStep(
            feeds: feeds,
            fetches: fetches,
            targets: targets,
            collectStatistics: collectStatistics
        )
        let sentMicros = WallClock.nowMicros
        let replies = partitionReplies(step)
        let outcome = await withTaskCancellationHandler {
            startRequests(messages[...], step: step, replies: replies)
            return await replies.value()
        } onCancel: {
            if step.routes.isEmpty { cancelOnCoordinator(step) }
            for route in step.routes { abortOnWorker(step, route: route, ClientConnection.cancelled) }
            replies.cancel(ClientConnection.cancelled)
        }
        return try finish(step, replies: outcome.replies, firstFailure: outcome.firstFailure, sentMicros: sentMicros)
    }

    /// What collects a step's replies: one per partition of a direct route (the first failure
    /// aborts the partitions still running), or the coordinator's one.
    private func partitionReplies(_ step: OutgoingStep) -> PartitionReplies {
        PartitionReplies(count: max(step.routes.count, 1)) { [weak self] failed in
            guard let self, step.routes.indices.contains(failed) else { return }
            let reason = WeftError(.aborted, "the step's partition on \(step.routes[failed].device) failed")
            for (partition, route) in step.routes.enumerated() where partition != failed {
                abortOnWorker(step, route: route, reason)
            }
        }
    }

    /// Sends `messages`, the requests of `step` at their positions, without waiting.
    private func startRequests(_ messages: ArraySlice<WireMessage>, step: OutgoingStep, replies: PartitionReplies) {
        for (partition, message) in zip(messages.indices, messages) {
            connection.node.request(message, to: step.address(of: partition), timeout: step.timeout) {
                replies.record(partition, $0)
            }
        }
    }

    /// Where a step's requests go and what their replies are read with.
    private struct OutgoingStep: Sendable {
        /// The step's id in the requests' envelopes.
        var id: UInt64
        /// The coordinator's address, for a step that goes through it.
        var address: String
        var timeout: Duration
        var signature: RunSignature
        var feeds: [Tensor]
        var collectStatistics: Bool
        /// The partitions' workers the step goes to directly, in the order of its requests;
        /// empty for the coordinator.
        var routes: [Weft_DirectRoute]
        /// When its requests left, for a direct step's deadline.
        var sent = ContinuousClock.now

        /// Where request `request` goes.
        func address(of request: Int) -> String {
            routes.isEmpty ? address : routes[request].address
        }
    }

    /// The step's requests: one per partition of its direct route, or one to the coordinator.
    private func outgoingStep(
        feeds: [(TensorName, Tensor)],
        fetches: [TensorName],
        targets: [String],
        collectStatistics: Bool
    ) -> (messages: [WireMessage], step: OutgoingStep) {
        let signature = RunSignature(feeds: feeds.map(\.0), fetches: fetches, targets: targets)
        let tensors = feeds.map(\.1)
        let (routes, cancelID) = state.withLock { state in
            state.nextStepID += 1
            return (Self.route(signature, &state), state.nextStepID)
        }
        // The coordinator ends its steps at their deadline, and its answer may take a moment
        // more; a direct step has only this side to end it, a grace as long as the coordinator's
        // after its deadline.
        let timeout = options.stepTimeout + (routes.isEmpty ? .seconds(2) : Coordinator.stepGrace)
        let id = routes.isEmpty ? cancelID : DirectStepID.make(cancelID)
        let step = OutgoingStep(
            id: id,
            address: coordinator,
            timeout: timeout,
            signature: signature,
            feeds: tensors,
            collectStatistics: collectStatistics,
            routes: routes
        )
        guard routes.isEmpty else {
            // Every partition runs under the same id, which their pushes to each other carry.
            let messages = routes.enumerated().map { partition, route in
                WireMessage.make(
                    .runPartition,
                    session: handle,
                    step: id,
                    tensors: route.feedIndices.map { tensors[Int($0)] }
                ) { envelope in
                    envelope.client = connection.id
                    envelope.deadlineMs = options.stepTimeout.millisecondsRoundedUp
                    envelope.runPartition = .with {
                        $0.handle = route.handle
                        $0.collectStatistics = collectStatistics
                        $0.countsStep = partition == 0
                    }
                }
            }
            return (messages, step)
        }
        let message = WireMessage.make(.runStep, session: handle, step: id, tensors: tensors) { envelope in
            envelope.client = connection.id
            envelope.deadlineMs = options.stepTimeout.millisecondsRoundedUp
            envelope.runStep = .with {
                $0.feeds = signature.feeds.map(\.description)
                $0.fetches = signature.fetches.map(\.description)
                $0.targets = targets
                $0.collectStatistics = collectStatistics
            }
        }
        return ([message], step)
    }

    /// The direct route of a step of `signature`, or none when it goes through the coordinator:
    /// it has no route, or the coordinator samples steps and has not seen one for its interval.
    private static func route(_ signature: RunSignature, _ state: inout State) -> [Weft_DirectRoute] {
        let routes = state.routes[signature] ?? []
        guard !routes.isEmpty, let interval = state.sampleInterval else { return routes }
        let now = ContinuousClock.now
        guard now - state.lastCoordinatorStep >= interval else { return routes }
        state.lastCoordinatorStep = now
        return []
    }

    /// Reads a step's replies: the fetched values, the direct routes the coordinator offers,
    /// and the statistics aligned to this process's clock.
    private func finish(
        _ step: OutgoingStep,
        replies: [Result<WireMessage, WeftError>],
        firstFailure: Int?,
        sentMicros: Int64
    ) throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?) {
        let receivedMicros = WallClock.nowMicros
        guard step.routes.isEmpty else {
            return try finishDirect(
                step,
                replies: replies,
                firstFailure: firstFailure,
                sentMicros: sentMicros,
                receivedMicros: receivedMicros
            )
        }
        let reply = try replies[0].get()
        perform(lifecycle { $0.replied(at: .now) })
        let fetches = step.signature.fetches
        guard reply.tensors.count == fetches.count else {
            throw WeftError(
                .internal,
                "the coordinator returned \(reply.tensors.count) tensors for \(fetches.count) fetches"
            )
        }
        let body = reply.envelope.runStepReply
        let routes = body.directRoutes
        if options.directRoutes, !routes.isEmpty, Self.answerEveryFetch(routes, step.signature),
            routes.allSatisfy(trustRoute)
        {
            let interval = body.sampleIntervalMs
            state.withLock { state in
                state.routes[step.signature] = routes
                state.sampleInterval = interval == 0 ? nil : Duration(wireMilliseconds: UInt64(interval))
                state.lastCoordinatorStep = .now
            }
        }
        let offset = clockOffsets.update(
            coordinator,
            with: ClockOffset(
                sent: sentMicros,
                received: receivedMicros,
                peerReceived: body.receivedUnixMicros,
                peerReplied: body.repliedUnixMicros
            )
        )
        guard step.collectStatistics else { return (reply.tensors, nil) }
        var statistics = body.statistics
        if let offset { statistics.align(by: offset) }
        return (reply.tensors, StepStatistics(statistics))
    }

    /// Reads the replies of a step sent as `RUN_PARTITION` requests straight to its partitions'
    /// workers. A failure (the first, which aborted the others) forgets every route, so the
    /// next step asks the coordinator, which knows the workers' health.
    private func finishDirect(
        _ step: OutgoingStep,
        replies: [Result<WireMessage, WeftError>],
        firstFailure: Int?,
        sentMicros: Int64,
        receivedMicros: Int64
    ) throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?) {
        if let failed = firstFailure, case .failure(let error) = replies[failed] {
            state.withLock { $0.routes.removeAll() }
            let route = step.routes[failed]
            if error.code == .unavailable, ContinuousClock.now - step.sent >= step.timeout {
                throw WeftError(
                    .deadlineExceeded,
                    "worker \(route.device) at \(route.address) did not answer within the step's deadline of \(options.stepTimeout.millisecondsRoundedUp) ms"
                )
            }
            guard error.code == .unavailable || error.code == .deadlineExceeded else { throw error }
            throw WeftError(error.code, "worker \(route.device) at \(route.address): \(error.message)")
        }
        let signature = step.signature
        var values = signature.fetches.map { fetch in signature.feeds.firstIndex(of: fetch).map { step.feeds[$0] } }
        var statistics = Weft_StepStats()
        for (route, result) in zip(step.routes, replies) {
            let reply = try result.get()
            guard reply.tensors.count == route.fetchIndices.count else {
                throw WeftError(
                    .internal,
                    "worker \(route.device) returned \(reply.tensors.count) tensors for \(route.fetchIndices.count) fetches"
                )
            }
            for (position, index) in route.fetchIndices.enumerated() { values[Int(index)] = reply.tensors[position] }
            let body = reply.envelope.runPartitionReply
            let offset = clockOffsets.update(
                route.device,
                with: ClockOffset(
                    sent: sentMicros,
                    received: receivedMicros,
                    peerReceived: body.receivedUnixMicros,
                    peerReplied: body.repliedUnixMicros
                )
            )
            guard step.collectStatistics else { continue }
            var part = body.statistics
            if let offset { part.align(by: offset) }
            statistics.merge(part)
        }
        // Routes are kept only when they answer every fetch; a reply that does not is the workers' fault.
        let fetched = try values.map { (value) throws(WeftError) -> Tensor in
            guard let value else { throw WeftError(.internal, "the workers left a fetch of the direct route unanswered") }
            return value
        }
        return (fetched, step.collectStatistics ? StepStatistics(statistics) : nil)
    }

    /// Tells the coordinator the client gave up on a step, so it ends the step with `cancelled`
    /// rather than running it to the end; nobody waits for the answer.
    private func cancelOnCoordinator(_ step: OutgoingStep) {
        let message = WireMessage.make(.cancelStep, session: handle, step: step.id) {
            $0.client = connection.id
        }
        connection.node.request(message, to: coordinator, timeout: .seconds(2)) { _ in }
    }

    /// Tells the worker a direct step went to that the client gave up on it, for `reason`, so
    /// the worker aborts the partition (its receives end, its loops at their next iteration)
    /// instead of running it to its deadline; nobody waits for the answer.
    private func abortOnWorker(_ step: OutgoingStep, route: Weft_DirectRoute, _ reason: WeftError) {
        let message = WireMessage.make(.abortStep, session: handle, step: step.id) { envelope in
            envelope.client = connection.id
            envelope.status = .with {
                $0.code = reason.code.rawValue
                $0.message = reason.message
            }
        }
        connection.node.request(message, to: route.address, timeout: .seconds(2)) { _ in }
    }

    /// Whether a direct route can be used: without keys always; with keys when the coordinator
    /// named the worker's key, which is then expected at its address.
    private func trustRoute(_ route: Weft_DirectRoute) -> Bool {
        guard options.security != nil else { return true }
        guard let key = try? CurveKey(z85: route.publicKey) else { return false }
        connection.node.trust(key, at: route.address)
        return true
    }

    /// Whether the workers' fetches and the fed tensors together answer every fetch, with every
    /// index the routes name inside the step's feeds and fetches.
    private static func answerEveryFetch(_ routes: [Weft_DirectRoute], _ signature: RunSignature) -> Bool {
        guard
            routes.allSatisfy({ route in
                route.feedIndices.allSatisfy { Int($0) < signature.feeds.count }
                    && route.fetchIndices.allSatisfy { Int($0) < signature.fetches.count }
            })
        else { return false }
        let fromWorkers = Set(routes.flatMap(\.fetchIndices).map(Int.init))
        return signature.fetches.indices.allSatisfy {
            fromWorkers.contains($0) || signature.feeds.contains(signature.fetches[$0])
        }
    }

    /// An extension to send before the next step: the nodes added since the last one.
    private struct PendingExtension {
        var message: WireMessage
        var timeout: Duration
        var nodeCount: Int
    }

    /// The extension the graph needs, or `nil` when the coordinator has every node; throws
    /// `failedPrecondition` once the session is closed.
    private func extensionRequest() throws(WeftError) -> PendingExtension? {
        let sent = try state.withLock { (state) throws(WeftError) -> Int in
            guard state.lifecycle.isOpen else {
                throw WeftError(.failedPrecondition, "Attempted to use a closed Session.")
            }
            return state.sentNodes
        }
        guard graph.nodeCount > sent else { return nil }
        let graphDef = graph.graphDef
        let added = Array(graphDef.node.dropFirst(sent))
        let message = WireMessage.make(.extendSession, session: handle) {
            $0.client = connection.id
            $0.extendSession = .with {
                $0.graph.node = added
                // An imported GraphDef may have brought functions; the coordinator adds the new ones.
                $0.graph.library = graphDef.library
            }
        }
        return PendingExtension(message: message, timeout: options.waitForWorkers, nodeCount: graphDef.node.count)
    }

    private func applyExtension(_ reply: WireMessage, _ request: PendingExtension) {
        perform(lifecycle { $0.replied(at: .now) })
        state.withLock { state in
            state.sentNodes = max(state.sentNodes, request.nodeCount)
            state.placement = Self.placement(reply)
            state.routes.removeAll()  // the coordinator planned the steps anew
        }
    }

    /// Closes the session on the cluster, freeing its variables on every worker; a failure to
    /// reach the coordinator in time is logged (see `closeAndWait`).
    public func close() {
        do {
            try closeAndWait()
        } catch {
            Self.logger.warning("session not closed", metadata: ["session.id": "\(handle)", "error": "\(error)"])
        }
    }

    private static let logger = Logger(label: "weft.client")
    /// Where the leases of every session of the process are renewed, one event at a time.
    private static let executor = RoleExecutor(label: "weft.client")

    /// Closes the session and waits until the coordinator acknowledges it, asking again with
    /// growing pauses while it cannot be reached (it may be restarting). Throws
    /// `deadlineExceeded` when no answer came within `closeTimeout`: the workers then free the
    /// state when their lease runs out. Closing a closed session does nothing. Blocks the
    /// calling thread; `async` code awaits the other form.
    public func closeAndWait() throws(WeftError) {
        var pending = lifecycle { $0.closeAsked(at: .now) }
        while let action = try nextCloseAction(&pending) {
            switch action {
            case .send(let timeout):
                var failure: WeftError?
                do {
                    _ = try connection.request(closeRequest, to: coordinator, timeout: timeout)
                } catch {
                    failure = error
                }
                pending += lifecycle { [failure] in $0.closeReplied(failure, at: .now) }
            case .wait(let instant):
                Thread.sleep(forTimeInterval: max(instant - .now, .zero) / .seconds(1))
                pending += lifecycle { $0.closeRetryDue(at: .now) }
            }
        }
    }

    /// Closes the session like the synchronous form, awaiting the coordinator's answer and the
    /// pauses between attempts without holding a thread. Cancelling the awaiting task stops
    /// asking with `cancelled`: the workers then free the state when their lease runs out.
    public func closeAndWait() async throws(WeftError) {
        // On the clients' executor, like the lease: answers and wake-ups never wait for a thread
        // of a cooperative pool the caller's other code may hold.
        try await withTaskExecutorPreference(Self.executor) { () async throws(WeftError) in
            try await closeOnThisExecutor()
        }
    }

    private func closeOnThisExecutor() async throws(WeftError) {
        var pending = lifecycle { $0.closeAsked(at: .now) }
        while let action = try nextCloseAction(&pending) {
            guard !Task.isCancelled else { throw WeftError(.cancelled, "closing session \(handle) was cancelled") }
            switch action {
            case .send(let timeout):
                var failure: WeftError?
                do {
                    _ = try await connection.node.request(closeRequest, to: coordinator, timeout: timeout)
                } catch {
                    failure = error
                }
                pending += lifecycle { [failure] in $0.closeReplied(failure, at: .now) }
            case .wait(let instant):
                do {
                    try await Self.executor.sleep(for: max(instant - .now, .zero))
                } catch {
                    throw WeftError(.cancelled, "closing session \(handle) was cancelled")
                }
                pending += lifecycle { $0.closeRetryDue(at: .now) }
            }
        }
    }

    /// What closing waits for next.
    private enum CloseAction {
        /// Ask the coordinator to close, waiting this long for its answer.
        case send(timeout: Duration)
        /// Pause until this instant before asking again.
        case wait(until: ContinuousClock.Instant)
    }

    private var closeRequest: WireMessage {
        WireMessage.make(.closeSession, session: handle) { $0.client = connection.id }
    }

    /// Carries out closing's directives that need no waiting and returns the next that does;
    /// `nil` once the session is closed, and throws when closing gave up.
    private func nextCloseAction(_ pending: inout [ClientSessionMachine.Directive]) throws(WeftError) -> CloseAction? {
        while !pending.isEmpty {
            let directive = pending.removeFirst()
            switch directive {
            case .sendClose(let timeout): return .send(timeout: timeout)
            case .wakeForCloseRetry(let instant): return .wait(until: instant)
            case .closed: return nil
            case .closeFailed(let error): throw error
            case .wakeForRenewal, .sendKeepAlive: perform([directive])
            }
        }
        return nil
    }
}

extension Session {
    /// Opens a session on the cluster whose coordinator is at `target` (`tcp://host:7070`).
    public convenience init(
        target: String,
        graph: Graph = .current,
        options: RemoteSessionOptions = .init()
    ) throws(WeftError) {
        self.init(graph: graph, backend: try RemoteSessionBackend(coordinator: target, graph: graph, options: options))
    }

    /// The token of the shared variable container a cluster session uses (see `SharedVariables`);
    /// `nil` for a local session or one whose variables are its own.
    public var sharedVariablesToken: String? { (backend as? RemoteSessionBackend)?.sharedVariablesToken }
}
