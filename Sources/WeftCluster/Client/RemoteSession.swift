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
    /// Seeds the placement strategy's random choices: the same seed places the same way.
    public var placementSeed: UInt64 = 0
    /// Bytes of variables and constants each worker may hold for this session; placement fails
    /// with `resourceExhausted` when the graph cannot fit.
    public var memoryLimit: Int?
    /// How long each node took in earlier steps, by node name (`CostModel.medianDurations(of:)`
    /// over `RunMetadata`): the `profile` strategy places with these in place of estimates.
    public var measuredCosts: [String: Duration] = [:]

    /// The client's key and the coordinator's, for a cluster with keys; `nil` for one without.
    public var security: ClientSecurity?
    /// The endpoint the session reaches the cluster through (an `InProcessNetwork`'s, in
    /// tests); the process's shared ZeroMQ node when `nil`.
    public var transport: (any MessageTransport)?

    /// Default options.
    public init(strategy: String? = nil) { self.strategy = strategy }
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
/// remote sessions with the same keys, and keep-alives that hold their leases while the
/// process lives.
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
        return configuration
    }

    /// The process's connection without keys, started on first use; an error when its socket
    /// cannot be made.
    static let shared: Result<ClientConnection, WeftError> = {
        // The client's own ROUTER is bound on loopback only: nothing connects to it.
        return Result { () throws(WeftError) in
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
    private let coordinators = Mutex<[String: Int]>([:])
    private let timers = DispatchQueue(label: "weft.client.keepalive")

    init(node: any MessageTransport) { self.node = node }

    /// Sends one request and waits for its reply.
    func request(_ message: WireMessage, to address: String, timeout: Duration) throws(WeftError) -> WireMessage {
        try node.requestAndWait(message, to: address, timeout: timeout)
    }

    /// Keeps leases alive at `address` while sessions there are open.
    func retain(_ address: String, lease: Duration) {
        let first = coordinators.withLock { table -> Bool in
            table[address, default: 0] += 1
            return table[address] == 1
        }
        if first { scheduleKeepAlive(address, every: lease / 3) }
    }

    func release(_ address: String) {
        coordinators.withLock { table in
            table[address, default: 1] -= 1
            if table[address] == 0 { table[address] = nil }
        }
    }

    private func scheduleKeepAlive(_ address: String, every interval: Duration) {
        timers.asyncAfter(deadline: .now() + interval.dispatchInterval) { [self] in
            guard coordinators.withLock({ $0[address] != nil }) else { return }
            let message = WireMessage.make(.keepAlive) { $0.keepAlive = .with { $0.client = id } }
            node.request(message, to: address, timeout: interval) { _ in }
            scheduleKeepAlive(address, every: interval)
        }
    }
}

/// Runs a session's steps on a cluster through its coordinator.
public final class RemoteSessionBackend: SessionBackend {
    private struct State {
        var sentNodes: Int
        var placement: [String: String]
        var closed = false
        /// Signatures that run on one worker, sent there directly (see `Weft_DirectRoute`).
        var routes: [RunSignature: Weft_DirectRoute] = [:]
        var directSteps: UInt64 = 0
    }

    private let connection: ClientConnection
    private let coordinator: String
    private let graph: Graph
    private let options: RemoteSessionOptions
    /// The coordinator's and direct-route workers' clocks against this process's, for timelines.
    private let clockOffsets = ClockOffsetFilter()
    private let handle: String
    private let state: Mutex<State>

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
            }
        }
        let reply = try connection.request(request, to: coordinator, timeout: options.waitForWorkers + .seconds(5))
        handle = reply.envelope.session
        state = Mutex(State(sentNodes: graphDef.node.count, placement: Self.placement(reply)))
        connection.retain(coordinator, lease: options.lease)
    }

    private static func placement(_ reply: WireMessage) -> [String: String] {
        Dictionary(reply.envelope.createSessionReply.placement.map { ($0.node, $0.device) }, uniquingKeysWith: { $1 })
    }

    /// The device of every node, as the coordinator placed them.
    public var placement: [String: String] { state.withLock { $0.placement } }

    /// The coordinator's handle of this session.
    public var sessionHandle: String { handle }

    /// Sends nodes added to the graph since the last step, then runs the step on the cluster:
    /// through the coordinator, or straight to the one worker a signature runs on once the
    /// coordinator has named it.
    public func run(
        feeds: [(TensorName, Tensor)],
        fetches: [TensorName],
        targets: [String],
        collectStatistics: Bool
    ) throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?) {
        try extendIfNeeded()
        let signature = RunSignature(feeds: feeds.map(\.0), fetches: fetches, targets: targets)
        if let route = state.withLock({ $0.routes[signature] }) {
            return try runDirect(
                route,
                signature: signature,
                feeds: feeds.map(\.1),
                collectStatistics: collectStatistics
            )
        }
        let request = WireMessage.make(.runStep, session: handle, tensors: feeds.map(\.1)) { envelope in
            envelope.client = connection.id
            envelope.deadlineMs = options.stepTimeout.millisecondsRoundedUp
            envelope.runStep = .with {
                $0.feeds = signature.feeds.map(\.description)
                $0.fetches = signature.fetches.map(\.description)
                $0.targets = targets
                $0.collectStatistics = collectStatistics
            }
        }
        let sentMicros = WallClock.nowMicros
        let reply = try connection.request(request, to: coordinator, timeout: options.stepTimeout + .seconds(2))
        let receivedMicros = WallClock.nowMicros
        guard reply.tensors.count == fetches.count else {
            throw WeftError(
                .internal,
                "the coordinator returned \(reply.tensors.count) tensors for \(fetches.count) fetches"
            )
        }
        let body = reply.envelope.runStepReply
        if body.hasDirectRoute, Self.answersEveryFetch(body.directRoute, signature), trustRoute(body.directRoute) {
            state.withLock { $0.routes[signature] = body.directRoute }
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
        guard collectStatistics else { return (reply.tensors, nil) }
        var statistics = body.statistics
        if let offset { statistics.align(by: offset) }
        return (reply.tensors, StepStatistics(statistics))
    }

    /// Runs a one-worker step as a `RUN_PARTITION` request to that worker. A failure forgets
    /// every route, so the next step asks the coordinator, which knows the worker's health.
    private func runDirect(
        _ route: Weft_DirectRoute,
        signature: RunSignature,
        feeds: [Tensor],
        collectStatistics: Bool
    ) throws(WeftError) -> (values: [Tensor], statistics: StepStatistics?) {
        let step = state.withLock { state in
            state.directSteps += 1
            return DirectStepID.make(state.directSteps)
        }
        let request = WireMessage.make(
            .runPartition,
            session: handle,
            step: step,
            tensors: route.feedIndices.map { feeds[Int($0)] }
        ) { envelope in
            envelope.client = connection.id
            envelope.deadlineMs = options.stepTimeout.millisecondsRoundedUp
            envelope.runPartition = .with {
                $0.handle = route.handle
                $0.collectStatistics = collectStatistics
            }
        }
        let reply: WireMessage
        let sentMicros = WallClock.nowMicros
        do {
            reply = try connection.request(request, to: route.address, timeout: options.stepTimeout + .seconds(2))
        } catch {
            state.withLock { $0.routes.removeAll() }
            guard error.code == .unavailable || error.code == .deadlineExceeded else { throw error }
            throw WeftError(error.code, "worker \(route.device) at \(route.address): \(error.message)")
        }
        let receivedMicros = WallClock.nowMicros
        guard reply.tensors.count == route.fetchIndices.count else {
            throw WeftError(
                .internal,
                "worker \(route.device) returned \(reply.tensors.count) tensors for \(route.fetchIndices.count) fetches"
            )
        }
        var values = signature.fetches.map { fetch in signature.feeds.firstIndex(of: fetch).map { feeds[$0] } }
        for (position, index) in route.fetchIndices.enumerated() { values[Int(index)] = reply.tensors[position] }
        let fetched = values.map { $0! }  // routes are kept only when they answer every fetch
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
        guard collectStatistics else { return (fetched, nil) }
        var statistics = body.statistics
        if let offset { statistics.align(by: offset) }
        return (fetched, StepStatistics(statistics))  // routes are kept only when they answer every fetch
    }

    /// Whether a direct route can be used: without keys always; with keys when the coordinator
    /// named the worker's key, which is then expected at its address.
    private func trustRoute(_ route: Weft_DirectRoute) -> Bool {
        guard options.security != nil else { return true }
        guard let key = try? CurveKey(z85: route.publicKey) else { return false }
        connection.node.trust(key, at: route.address)
        return true
    }

    /// Whether the worker's fetches and the fed tensors together answer every fetch, with every
    /// index the route names inside the step's feeds and fetches.
    private static func answersEveryFetch(_ route: Weft_DirectRoute, _ signature: RunSignature) -> Bool {
        guard route.feedIndices.allSatisfy({ Int($0) < signature.feeds.count }),
            route.fetchIndices.allSatisfy({ Int($0) < signature.fetches.count })
        else { return false }
        let fromWorker = Set(route.fetchIndices.map(Int.init))
        return signature.fetches.indices.allSatisfy {
            fromWorker.contains($0) || signature.feeds.contains(signature.fetches[$0])
        }
    }

    private func extendIfNeeded() throws(WeftError) {
        let sent = try state.withLock { (state) throws(WeftError) -> Int in
            guard !state.closed else { throw WeftError(.failedPrecondition, "Attempted to use a closed Session.") }
            return state.sentNodes
        }
        guard graph.nodeCount > sent else { return }
        let graphDef = graph.graphDef
        let (added, count) = (Array(graphDef.node.dropFirst(sent)), graphDef.node.count)
        let request = WireMessage.make(.extendSession, session: handle) {
            $0.client = connection.id
            $0.extendSession = .with {
                $0.graph.node = added
                // An imported GraphDef may have brought functions; the coordinator adds the new ones.
                $0.graph.library = graphDef.library
            }
        }
        let reply = try connection.request(request, to: coordinator, timeout: options.waitForWorkers)
        state.withLock { state in
            state.sentNodes = max(state.sentNodes, count)
            state.placement = Self.placement(reply)
            state.routes.removeAll()  // the coordinator planned the steps anew
        }
    }

    /// Closes the session on the cluster, freeing its variables on every worker.
    public func close() {
        let wasOpen = state.withLock { state -> Bool in
            defer { state.closed = true }
            return !state.closed
        }
        guard wasOpen else { return }
        connection.release(coordinator)
        let request = WireMessage.make(.closeSession, session: handle) { $0.client = connection.id }
        connection.node.request(request, to: coordinator, timeout: .seconds(2)) { _ in }
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
}
