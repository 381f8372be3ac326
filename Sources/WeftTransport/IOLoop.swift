import CZeroMQ
import Foundation
import Logging
import Metrics
import Synchronization
import WeftProto
import WeftRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `MessagingNode`'s I/O thread: it owns every socket of the node and is the only thread that
/// touches them. It blocks in `epoll_wait` on the sockets' descriptors until one signals, a
/// caller wakes it through the `inproc://` pair, or the nearest request deadline passes. The
/// descriptors stay registered between waits, so a wait costs one system call whatever the
/// number of peers (`poll` registers and unregisters every descriptor on every call).
///
/// libzmq's descriptors are edge-triggered and a send or receive may consume their signal, so
/// a socket the loop used, or whose descriptor signalled, is *dirty*: the loop receives from it
/// until it would block before it waits again. Only dirty sockets are asked for their state,
/// which `zmq_poll` would do for every socket twice per call.
final class IOLoop {
    /// What the loop keeps per pending request.
    struct Waiting {
        let timeout: Duration
        let completion: MessagingNode.Completion
        /// A thread blocks until the completion runs (`requestAndWait`).
        let callerBlocks: Bool
        /// The tensors the request lends its peer (`PayloadLending`), held until it is answered.
        let lent: [Tensor]
    }

    /// A message waiting for a DEALER to accept it.
    struct Queued {
        let frames: [OutgoingFrame]
        /// The request it carries; `nil` for a message sent with `send`.
        let requestID: UInt64?
        /// When a `send` message is dropped (a request's own deadline governs it otherwise).
        let deadline: ContinuousClock.Instant
    }

    /// The connection to one remote address.
    final class Peer {
        enum Link: Equatable {
            /// Connecting for the first time, or reconnecting after the connection was lost.
            case connecting
            /// A connection is up.
            case connected
            /// The last connection attempt failed, for the reason given; libzmq keeps retrying in
            /// the background.
            case unreachable(WeftError)
        }

        let address: String
        let dealer: Socket
        let monitor: Socket
        let dealerDescriptor: Int32
        let monitorDescriptor: Int32
        /// The DEALER may hold replies or writability the loop has not seen (see `IOLoop`).
        var dealerDirty = true
        /// The monitor may hold events the loop has not seen.
        var monitorDirty = true
        var outbox: [Queued] = []
        var link = Link.connecting
        /// libzmq reports the reconnection it schedules after a lost connection as a retry
        /// (`ZMQ_EVENT_CONNECT_RETRIED`); that one is not a failed attempt.
        var reconnectScheduled = false
        /// The connection was lost and libzmq has not reconnected yet: a message sent now may go
        /// into the old connection's queue before libzmq discards it (see `dispatch`).
        var connectionLost = false
        var lastUsed: ContinuousClock.Instant

        init(address: String, dealer: Socket, monitor: Socket, now: ContinuousClock.Instant) throws(WeftError) {
            self.address = address
            self.dealer = dealer
            self.monitor = monitor
            self.dealerDescriptor = try dealer.fileDescriptor()
            self.monitorDescriptor = try monitor.fileDescriptor()
            self.lastUsed = now
        }

        var isUnreachable: Bool {
            if case .unreachable = link { return true }
            return false
        }

        func close() {
            dealer.close()  // stops the monitor before the reader below goes
            monitor.close()
        }
    }

    /// The most messages read from one socket before the others get a turn.
    private static let batch = 256

    /// A request whose envelope has this many bytes is read off this thread. Parsing that much
    /// protobuf takes in the order of a millisecond, hundreds of times the hop to another thread;
    /// a partition's GraphDef (megabytes for 100,000 nodes) would otherwise stop heartbeats and
    /// every other peer for the whole parse. Steps and tensors stay inline and pay no hop: their
    /// envelopes are small, and tensors travel in frames of their own, wrapped without a copy.
    static let asideEnvelopeBytes = 256 << 10
    /// A request that lends more than this many bytes is read off this thread too: copying a
    /// 3 GiB tensor here held heartbeats up for over a second. Below it a copy takes about a
    /// millisecond, and reading in place saves the hop.
    static let asideLentBytes = 16 << 20
    /// Requests of one connection that may wait behind one read aside; later ones are refused.
    static let mostHeldRequests = 1024

    private let core: NodeCore
    private let logger: Logger
    private let configuration: MessagingNode.Configuration
    private let router: Socket
    private let wakeReceiver: Socket
    private let routerDescriptor: Int32
    private let wakeDescriptor: Int32
    private let boundAddress: String
    private var peers: [String: Peer] = [:]
    private var pending = PendingRequests<Waiting>()
    private var routerDirty = true
    private var wakeDirty = true
    /// The epoll instance every socket's descriptor is registered with.
    private let poller: Int32
    /// The socket each registered descriptor belongs to.
    private var pollTargets: [Int32: PollTarget] = [:]
    /// Where `epoll_wait` reports ready descriptors.
    private var readyEvents = [epoll_event](repeating: epoll_event(), count: 64)
    private var reapCandidates: Set<String> = []
    /// When every peer is next looked at for idleness: a connection nobody used for
    /// `idlePeerTimeout` closes, and its ZMTP heartbeats stop with it, so a process keeps only
    /// the links in use alive (an idle cluster does not ping every pair of workers forever).
    private var nextIdleSweep: ContinuousClock.Instant = .now
    /// The command queue's other buffer, swapped with the shared one so taking commands
    /// allocates nothing.
    private var spareCommands: [Command] = []
    /// A reply woke a thread blocked in `requestAndWait` since the loop last waited.
    private var wokeBlockedCaller = false
    /// The ZAP domain the ROUTER authenticates peers in, with keys only.
    private var zapDomain: (service: ZAPService, name: String)?
    /// Senders' public keys by their Z85 `User-Id`, decoded once per peer.
    private var peerKeys: [String: CurveKey] = [:]
    /// By routing identity, the connections with a request being read aside, and the requests
    /// each sent since, which wait for it.
    private var heldRequests: [[UInt8]: [[ReceivedFrame]]] = [:]
    /// Tensors lent by requests that ended unanswered after they left, held for one more of
    /// their timeouts: their peer may still be reading them.
    private var abandonedLent: [(until: ContinuousClock.Instant, tensors: [Tensor])] = []

    private enum PollTarget {
        case wake
        case router
        case dealer(Peer)
        case monitor(Peer)
    }

    // MARK: Start and stop

    /// The body of the I/O thread: binds, reports the outcome to `startup`, and serves until the
    /// node closes.
    static func run(core: NodeCore, listen: String, startup: Startup) {
        let loop: IOLoop
        do {
            loop = try IOLoop(core: core, listen: listen)
        } catch {
            core.state.withLock { $0.closing = true }
            return startup.report(.failure(error))
        }
        startup.report(.success(loop.boundAddress))
        loop.serve()
        loop.shutdown()
    }

    private init(core: NodeCore, listen: String) throws(WeftError) {
        self.core = core
        self.logger = core.logger
        self.configuration = core.configuration

        router = try Socket(context: core.context, type: ZMQ_ROUTER, role: "ROUTER on \(listen)")
        try router.set(ZMQ_ROUTER_MANDATORY, 1 as Int32)  // an unroutable reply is an error, not silence
        try Self.configureCommon(
            router,
            configuration,
            ipv6: listen.contains("["),
            pings: false,
            secured: core.security != nil
        )
        var domain: (service: ZAPService, name: String)?
        do {
            if let security = core.security { domain = try Self.secure(router, security, core: core) }
            try router.bind(listen)
        } catch let error as ZMQFailure {
            router.close()
            if let domain { domain.service.unregister(domain.name) }
            throw Self.bindError(error, listen: listen)
        } catch {
            router.close()
            if let domain { domain.service.unregister(domain.name) }
            throw WeftError.wrapping(error)
        }
        zapDomain = domain
        boundAddress = Self.connectableAddress(router.lastEndpoint)
        do {
            routerDescriptor = try router.fileDescriptor()
        } catch {
            router.close()
            throw error
        }

        poller = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard poller >= 0 else {
            router.close()
            throw WeftError(.resourceExhausted, "cannot create an epoll instance: \(String(cString: strerror(errno)))")
        }
        let wakeEndpoint = "inproc://weft.wake.\(core.serial)"
        do {
            wakeReceiver = try Socket(context: core.context, type: ZMQ_PAIR, role: "wake-up receiver")
            try wakeReceiver.bind(wakeEndpoint)
            let sender = try Socket(context: core.context, type: ZMQ_PAIR, role: "wake-up sender")
            try sender.connect(wakeEndpoint)
            wakeDescriptor = try wakeReceiver.fileDescriptor()
            let waker = Waker(socket: sender)
            core.state.withLock { state in
                state.waker = waker
                state.ioThread = pthread_self()
                state.activity = .busy
            }
        } catch let error as ZMQFailure {
            router.close()
            close(poller)
            throw error.error(.internal)
        } catch {
            router.close()
            close(poller)
            throw WeftError.wrapping(error)
        }
        do {
            try register(wakeDescriptor, .wake)
            try register(routerDescriptor, .router)
        } catch {
            router.close()
            wakeReceiver.close()
            close(poller)
            throw error
        }
    }

    /// Options every socket of a node gets. Only the connecting side of a connection `pings`:
    /// its PINGs carry a TTL, so the accepting ROUTER drops a connection that goes silent just as
    /// well without pinging back, and a coordinator with many workers connected does not wake
    /// for its own heartbeat on each of them every interval (the answers to theirs are enough).
    static func configureCommon(
        _ socket: Socket,
        _ configuration: MessagingNode.Configuration,
        ipv6: Bool,
        pings: Bool,
        secured: Bool
    )
        throws(WeftError)
    {
        socket.tensorFrameBytes = secured ? configuration.encryptedTensorFrameBytes : nil
        try socket.set(ZMQ_MAXMSGSIZE, Int64(configuration.maxMessageSize))
        try socket.set(ZMQ_SNDHWM, Int32(clamping: configuration.highWaterMark))
        try socket.set(ZMQ_RCVHWM, Int32(clamping: configuration.highWaterMark))
        let interval = pings ? Int32(clamping: configuration.heartbeatInterval.millisecondsRoundedUp) : 0
        try socket.set(ZMQ_HEARTBEAT_IVL, interval)
        try socket.set(ZMQ_HEARTBEAT_TIMEOUT, Int32(clamping: configuration.heartbeatTimeout.millisecondsRoundedUp))
        try socket.set(ZMQ_HEARTBEAT_TTL, Int32(clamping: configuration.heartbeatTimeout.millisecondsRoundedUp))
        if ipv6 { try socket.set(ZMQ_IPV6, 1 as Int32) }
    }

    /// Makes the ROUTER a CURVE server that admits only `security.admitted`, through a ZAP
    /// domain of its own in the context's handler; refused peers are logged and counted.
    private static func secure(
        _ router: Socket,
        _ security: MessagingNode.Security,
        core: NodeCore
    ) throws(WeftError) -> (service: ZAPService, name: String) {
        let name = "weft.node.\(core.serial)"
        try router.set(ZMQ_CURVE_SERVER, 1 as Int32)
        try router.set(ZMQ_CURVE_SECRETKEY, bytes: security.keyPair.secretKey.bytes)
        try router.set(ZMQ_ZAP_DOMAIN, bytes: Array(name.utf8))
        let service = try core.context.zapService()
        let logger = core.logger
        // A refused peer retries every reconnect interval: warn once per key, count every time.
        let warned = Mutex<Set<String>>([])
        service.register(
            name,
            ZAPService.Domain(admitted: security.admitted) { [weak core] address, key in
                core?.refusedPeers.wrappingAdd(1, ordering: .relaxed)
                let text = key.map(\.z85) ?? "none"
                let first = warned.withLock { warned in
                    if warned.count >= 1024 { warned.removeAll() }
                    return warned.insert(text).inserted
                }
                let metadata: Logger.Metadata = ["peer.address": "\(address)", "peer.key": "\(text)"]
                if first {
                    logger.warning("peer refused: its public key is not listed", metadata: metadata)
                } else {
                    logger.debug("peer refused again", metadata: metadata)
                }
            }
        )
        return (service, name)
    }

    private static func bindError(_ failure: ZMQFailure, listen: String) -> WeftError {
        switch failure.errno {
        case EADDRINUSE:
            return WeftError(
                .unavailable,
                "cannot listen on \(listen): \(failure.reason); another process holds that port"
            )
        case EINVAL, EPROTONOSUPPORT, ENOCOMPATPROTO, EADDRNOTAVAIL, ENODEV, ENOENT:
            return WeftError(
                .invalidArgument,
                "cannot listen on '\(listen)': \(failure.reason); write tcp://HOST:PORT with an address of this "
                    + "host, or port 0 for any free port"
            )
        default:
            return WeftError(.unavailable, "cannot listen on \(listen): \(failure.reason)")
        }
    }

    /// `tcp://0.0.0.0:5555` becomes `tcp://HOSTNAME:5555` (or loopback when the host name does
    /// not resolve): a wildcard is where to listen, not where to connect.
    static func connectableAddress(_ endpoint: String) -> String {
        let prefix = "tcp://"
        guard endpoint.hasPrefix(prefix), let colon = endpoint.lastIndex(of: ":") else { return endpoint }
        let host = endpoint[endpoint.index(endpoint.startIndex, offsetBy: prefix.count)..<colon]
        let port = endpoint[colon...]
        switch host {
        case "0.0.0.0", "*": return prefix + (resolvableHostName() ?? "127.0.0.1") + port
        case "[::]": return prefix + (resolvableHostName() ?? "[::1]") + port
        default: return endpoint
        }
    }

    private static func resolvableHostName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard !name.isEmpty else { return nil }
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, nil, &result) == 0 else { return nil }
        freeaddrinfo(result)
        return name
    }

    /// Fails everything still waiting and closes every socket.
    private func shutdown() {
        let leftovers = core.state.withLock { state -> [Command] in
            state.closing = true
            state.waker?.close()
            state.waker = nil
            state.handler = nil
            defer { state.commands.removeAll() }
            return state.commands
        }
        for entry in pending.removeAll() {
            entry.context.completion(.failure(NodeCore.closedError(entry.address)))
        }
        for case .request(let request) in leftovers {
            request.completion(.failure(NodeCore.closedError(request.address)))
        }
        for peer in peers.values { peer.close() }
        core.openPeers.subtract(peers.count, ordering: .relaxed)
        peers.removeAll()
        router.close()
        if let zapDomain { zapDomain.service.unregister(zapDomain.name) }
        wakeReceiver.close()
        close(poller)
        logger.debug("messaging node closed", metadata: ["transport.address": "\(boundAddress)"])
    }

    // MARK: The loop

    private func serve() {
        while true {
            // Commands first: a woken thread sends what its caller waits for before it drains
            // the wake socket and looks at the others.
            guard executeCommands() else { return }
            serviceSockets()
            expireRequests()
            reapIdlePeers()
            if hasDirtySockets { continue }
            guard waitForSockets() else { return }
        }
    }

    private var hasDirtySockets: Bool {
        wakeDirty || routerDirty || peers.values.contains { $0.dealerDirty || $0.monitorDirty }
    }

    /// Blocks until a descriptor signals or the nearest deadline passes, and marks the sockets
    /// that signalled dirty. Returns `false` when polling fails for good.
    private func waitForSockets() -> Bool {
        if wokeBlockedCaller {
            // The woken caller usually runs on this CPU (a pipe wakes it there) and sends its
            // next request within microseconds. Letting it run before this thread sleeps means
            // the request finds the thread busy and needs no wake-up, which would start this
            // thread on an idle CPU: about 25 µs of a remote step (`weft bench step`). When the
            // caller runs elsewhere, the yield returns at once.
            wokeBlockedCaller = false
            sched_yield()
        }
        let timeout = Int32(pollTimeout())
        guard markWaiting() else { return true }
        let capacity = Int32(readyEvents.count)
        let ready = readyEvents.withUnsafeMutableBufferPointer { epoll_wait(poller, $0.baseAddress, capacity, timeout) }
        if ready < 0 {
            if errno == EINTR { return true }
            logger.info("I/O loop stopped", metadata: ["error": "\(String(cString: strerror(errno)))"])
            return false
        }
        for event in readyEvents.prefix(Int(ready)) {
            guard let target = pollTargets[event.data.fd] else { continue }
            switch target {
            case .wake: wakeDirty = true
            case .router: routerDirty = true
            case .dealer(let peer): peer.dealerDirty = true
            case .monitor(let peer): peer.monitorDirty = true
            }
        }
        return true
    }

    /// Tells callers that from now on a command they queue must wake this thread; returns
    /// `false`, without waiting, when commands are already queued or the node is closing.
    private func markWaiting() -> Bool {
        core.state.withLock { state in
            guard state.commands.isEmpty, !state.closing else { return false }
            state.activity = .waiting
            return true
        }
    }

    /// Has `epoll_wait` report when `descriptor` becomes readable. libzmq's descriptors are
    /// readable while commands wait for the socket, which the loop consumes by using the socket.
    private func register(_ descriptor: Int32, _ target: PollTarget) throws(WeftError) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = descriptor
        guard epoll_ctl(poller, EPOLL_CTL_ADD, descriptor, &event) == 0 else {
            throw WeftError(
                .resourceExhausted,
                "cannot watch a socket: \(String(cString: strerror(errno))); raise fs.epoll.max_user_watches"
            )
        }
        pollTargets[descriptor] = target
    }

    /// Stops watching `descriptor`; called before its socket closes, while the number is still its.
    private func unregister(_ descriptor: Int32) {
        epoll_ctl(poller, EPOLL_CTL_DEL, descriptor, nil)
        pollTargets[descriptor] = nil
    }

    /// Milliseconds until the nearest deadline, rounded up; -1 (wait for a socket) if none.
    private func pollTimeout() -> Int {
        var nearest = pending.nextDeadline()
        if hasConnections { nearest = min(nearest ?? nextIdleSweep, nextIdleSweep) }
        for peer in peers.values where !peer.outbox.isEmpty {
            for queued in peer.outbox where queued.requestID == nil {
                nearest = min(nearest ?? queued.deadline, queued.deadline)
            }
        }
        guard let nearest else { return -1 }
        let now = ContinuousClock.now
        guard nearest > now else { return 0 }
        return Int(min((nearest - now).millisecondsRoundedUp, UInt64(Int32.max)))
    }

    private func serviceSockets() {
        if wakeDirty { drainWakeUps() }
        if routerDirty { receiveRequests() }
        for peer in peers.values {
            // Replies first: one that arrived just before its connection closed still counts.
            if peer.dealerDirty {
                receiveReplies(peer)
                // A send may take the signal of a reply that arrives meanwhile: look again.
                if !peer.outbox.isEmpty, flush(peer) > 0 { peer.dealerDirty = true }
            }
            if peer.monitorDirty { handleMonitorEvents(peer) }
        }
    }

    private func drainWakeUps() {
        wakeDirty = false
        while case .message = wakeReceiver.receive() {}
    }

    /// Runs queued commands until none is left: callbacks on this thread queue commands without
    /// a wake-up. Returns `false` once the node is closing.
    private func executeCommands() -> Bool {
        while true {
            guard let commands = takeCommands() else { return false }
            if commands.isEmpty { return true }
            for command in commands { execute(command) }
            spareCommands = commands
            spareCommands.removeAll(keepingCapacity: true)
        }
    }

    /// Takes the queued commands, or `nil` when the node is closing. The thread is busy from
    /// here until `markWaiting`, which looks at the queue again, so callers need not wake it.
    private func takeCommands() -> [Command]? {
        var taken = spareCommands
        spareCommands = []
        let open = core.state.withLock { state in
            state.activity = .busy
            // When closing, the commands stay for `shutdown`, which fails the requests among them.
            guard !state.closing else { return false }
            swap(&taken, &state.commands)
            return true
        }
        return open ? taken : nil
    }

    private func execute(_ command: Command) {
        switch command {
        case .request(let request):
            let waiting = Waiting(
                timeout: request.timeout,
                completion: request.completion,
                callerBlocks: request.callerBlocks,
                lent: request.lent
            )
            guard pending.insert(id: request.id, address: request.address, deadline: request.deadline, context: waiting)
            else {
                return request.completion(.failure(WeftError(.internal, "request id \(request.id) is already in use")))
            }
            dispatch(
                Queued(frames: request.frames, requestID: request.id, deadline: request.deadline),
                to: request.address
            )
        case .send(let address, let frames, let deadline):
            dispatch(Queued(frames: frames, requestID: nil, deadline: deadline), to: address)
        case .reply(let identity, let frames, let frameBytes):
            sendReply(frames, identity: identity, frameBytes: frameBytes)
        case .read(let identity, let reading):
            finishReadingAside(reading, from: identity)
        case .readReply(let address, let reading):
            complete(reading, from: address)
        case .cancel(let id):
            if let entry = pending.complete(id) {
                abandon(entry, WeftError(.cancelled, "the request to \(entry.address) was cancelled by its caller"))
            }
        case .hold(let lent, let until):
            abandonedLent.append((until, lent))
        case .forget(let address):
            guard let peer = peers[address] else { return }
            let error = WeftError(.unavailable, "the public key of \(address) changed before it answered")
            for queued in peer.outbox { fail(queued, to: address, error) }
            for entry in pending.removeAll(for: address, sent: true) { abandon(entry, error) }
            remove(peer)
        }
    }

    // MARK: Requests out (DEALERs)

    private func dispatch(_ queued: Queued, to address: String) {
        // libzmq reports a lost connection before it discards that connection's queue, so a
        // message sent in between is lost without a word: a fresh DEALER carries it instead.
        if let stale = peers[address], stale.connectionLost, !stale.isUnreachable, stale.outbox.isEmpty {
            remove(stale)
        }
        let peer: Peer
        do {
            peer = try self.peer(for: address)
        } catch {
            return fail(queued, to: address, error)
        }
        peer.lastUsed = .now
        if case .unreachable(let error) = peer.link {
            // Fail fast, as gRPC does for a channel in TRANSIENT_FAILURE: the caller learns at once
            // that the peer is down and can retry; libzmq keeps reconnecting in the background.
            return fail(queued, to: address, error)
        }
        guard peer.outbox.isEmpty else { return peer.outbox.append(queued) }  // keep the order
        peer.dealerDirty = true
        switch peer.dealer.send(queued.frames) {
        case .sent:
            if let id = queued.requestID { pending.markSent(id) }
        case .wouldBlock:
            // ZMQ_IMMEDIATE: no connection is up yet (or its queue is full). Wait for POLLOUT;
            // a connection failure or the deadline ends the wait.
            peer.outbox.append(queued)
        case .failed(let errno):
            fail(queued, to: address, WeftError(.unavailable, "cannot send to \(address): \(ZMQFailure.text(errno))"))
        }
    }

    /// Sends what waits in a peer's outbox, in order, until the DEALER refuses more; returns
    /// how many messages left the outbox.
    private func flush(_ peer: Peer) -> Int {
        var done = 0
        defer { peer.outbox.removeFirst(done) }
        for queued in peer.outbox {
            if let id = queued.requestID, !pending.contains(id) {
                done += 1  // completed meanwhile (expired or cancelled)
                continue
            }
            switch peer.dealer.send(queued.frames) {
            case .sent:
                if let id = queued.requestID { pending.markSent(id) }
            case .wouldBlock:
                return done
            case .failed(let errno):
                fail(
                    queued,
                    to: peer.address,
                    WeftError(.unavailable, "cannot send to \(peer.address): \(ZMQFailure.text(errno))")
                )
            }
            done += 1
        }
        return done
    }

    private func fail(_ queued: Queued, to address: String, _ error: WeftError) {
        if let id = queued.requestID, let entry = pending.complete(id) {
            entry.context.completion(.failure(error))
        } else if queued.requestID == nil {
            logger.debug("message dropped", metadata: ["peer.address": "\(address)", "error": "\(error)"])
        }
    }

    private func unreachable(_ address: String) -> WeftError {
        WeftError(
            .unavailable,
            "\(address) is unreachable: nothing accepted a connection there (is the process running and listening "
                + "on that address?)"
        )
    }

    /// The DEALER for `address`, made on first use.
    private func peer(for address: String) throws(WeftError) -> Peer {
        if let peer = peers[address] { return peer }
        let (dealer, monitor) = try DealerSockets.open(to: address, core: core)
        let peer: Peer
        do {
            peer = try Peer(address: address, dealer: dealer, monitor: monitor, now: .now)
        } catch {
            monitor.close()
            dealer.close()
            throw error
        }
        do {
            try register(peer.dealerDescriptor, .dealer(peer))
            try register(peer.monitorDescriptor, .monitor(peer))
        } catch {
            unregister(peer.dealerDescriptor)
            peer.close()
            throw error
        }
        peers[address] = peer
        core.openPeers.add(1, ordering: .relaxed)
        if peers.count == 1 { nextIdleSweep = .now + configuration.idlePeerTimeout / 2 }
        return peer
    }

    private func handleMonitorEvents(_ peer: Peer) {
        peer.monitorDirty = false
        for _ in 0..<Self.batch {
            guard case .message(let frames) = peer.monitor.receive() else { return }
            guard let event = DealerSockets.event(frames) else { continue }
            switch event {
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
                // Not on ZMQ_EVENT_CONNECTED: a TCP connection is not yet a ZMTP peer (a listener
                // that is not Weft accepts it, then fails every handshake).
                if peer.link != .connected {
                    logger.debug("connected", metadata: ["peer.address": "\(peer.address)"])
                }
                peer.link = .connected
                peer.reconnectScheduled = false
                peer.connectionLost = false
            case ZMQ_EVENT_CONNECT_RETRIED where peer.reconnectScheduled:
                peer.reconnectScheduled = false  // the first attempt after a lost connection is yet to come
            case ZMQ_EVENT_CONNECT_RETRIED:
                // A connection attempt failed (refused, unresolvable, timed out).
                if !peer.isUnreachable {
                    logger.debug("peer unreachable", metadata: ["peer.address": "\(peer.address)"])
                }
                markUnreachable(peer, unreachable(peer.address))
            case ZMQ_EVENT_DISCONNECTED:
                logger.debug("connection lost", metadata: ["peer.address": "\(peer.address)"])
                // A connection that failed its handshake was never up: the peer stays unreachable.
                if !peer.isUnreachable { peer.link = .connecting }
                peer.reconnectScheduled = true
                peer.connectionLost = true
                receiveReplies(peer)  // those that arrived before the connection closed
                let lost = NodeCore.connectionLost(peer.address)
                for entry in pending.removeAll(for: peer.address, sent: true) { abandon(entry, lost) }
                // The peer may come back as another process, which must see a proof again.
                core.lending.forget(peer.address)
                reapCandidates.insert(peer.address)
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
                if !peer.isUnreachable {
                    logger.warning(
                        "the peer refused this process's public key",
                        metadata: ["peer.address": "\(peer.address)"]
                    )
                }
                markUnreachable(
                    peer,
                    WeftError(
                        .unauthenticated,
                        "\(peer.address) refused this process's public key: it is not listed in that process's "
                            + "cluster file (security section)"
                    )
                )
            // `where` binds to one pattern only, so each carries its own.
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL where core.security != nil,
                ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL where core.security != nil:
                if !peer.isUnreachable {
                    logger.warning("CURVE handshake failed", metadata: ["peer.address": "\(peer.address)"])
                }
                markUnreachable(
                    peer,
                    WeftError(
                        .unauthenticated,
                        "the CURVE handshake with \(peer.address) failed: the process there does not hold the key "
                            + "listed for it, has no keys, or is not a Weft process"
                    )
                )
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                // Once per outage: libzmq retries every reconnect interval.
                if !peer.isUnreachable {
                    logger.info(
                        "ZeroMQ handshake failed: the peer does not speak ZMTP",
                        metadata: ["peer.address": "\(peer.address)"]
                    )
                }
                markUnreachable(
                    peer,
                    WeftError(.unavailable, "\(peer.address) does not speak ZeroMQ's protocol (ZMTP): is it a Weft process?")
                )
            default:
                break
            }
        }
        peer.monitorDirty = true  // more events than one batch
    }

    /// Fails a pending request that may have reached its peer unanswered; what it lent stays
    /// held for another of its timeouts, since the peer may still be reading it.
    private func abandon(_ entry: PendingRequests<Waiting>.Entry, _ error: WeftError) {
        if entry.sent, !entry.context.lent.isEmpty {
            abandonedLent.append((.now + entry.context.timeout, entry.context.lent))
        }
        entry.context.completion(.failure(error))
    }

    /// No connection to `peer` can carry messages now: what is queued fails at once rather than
    /// at its deadline, and the peer is closed once idle, so nothing keeps reconnecting to it.
    private func markUnreachable(_ peer: Peer, _ error: WeftError) {
        peer.link = .unreachable(error)
        let queued = peer.outbox
        peer.outbox.removeAll()
        for item in queued { fail(item, to: peer.address, error) }
        reapCandidates.insert(peer.address)
    }

    private func receiveReplies(_ peer: Peer) {
        peer.dealerDirty = false
        for _ in 0..<Self.batch {
            switch peer.dealer.receive() {
            case .message(let frames): handleReply(frames, from: peer)
            case .wouldBlock: return
            case .failed(let errno):
                logger.debug(
                    "receive failed",
                    metadata: ["peer.address": "\(peer.address)", "error": "\(ZMQFailure.text(errno))"]
                )
                return
            }
        }
        peer.dealerDirty = true  // more replies than one batch
    }

    /// Completes the request a reply answers: read here, or aside when its envelope is large
    /// (a step's statistics with its partition graphs), as requests are.
    private func handleReply(_ frames: [ReceivedFrame], from peer: Peer) {
        guard let header = frames.first, frames.count <= Socket.maxFrames else {
            return logger.debug("reply without an envelope or with too many frames dropped")
        }
        let address = peer.address
        let maxSplitTensorBytes = configuration.maxMessageSize
        guard header.count >= Self.asideEnvelopeBytes else {
            return complete(ReplyReading(frames[...], from: address, maxSplitTensorBytes: maxSplitTensorBytes, logger: logger), from: address)
        }
        let core = core
        core.readAside { [reply = ReceivedRequest(frames: frames)] in
            let reading = ReplyReading(reply.frames[...], from: address, maxSplitTensorBytes: maxSplitTensorBytes, logger: core.logger)
            core.submit(.readReply(address: address, reading))
        }
    }

    private func complete(_ reading: ReplyReading, from address: String) {
        guard case .reply(let requestID, let result) = reading else {
            return logger.debug("unreadable reply dropped", metadata: ["peer.address": "\(address)"])
        }
        guard let entry = pending.complete(requestID, from: address) else {
            return logger.debug(
                "reply to no pending request dropped",
                metadata: ["peer.address": "\(address)", "request.id": "\(requestID)"]
            )
        }
        peers[address]?.lastUsed = .now
        wokeBlockedCaller = wokeBlockedCaller || entry.context.callerBlocks
        entry.context.completion(result)
    }

    // MARK: Requests in (ROUTER)

    private func receiveRequests() {
        for _ in 0..<Self.batch {
            routerDirty = false
            switch router.receive() {
            case .message(let frames):
                handleRequest(frames)
                // Replies the handler queued leave before the next request is read, and the
                // receive after them is the look at the socket that a send calls for.
                _ = executeCommands()
            case .wouldBlock: return
            case .failed(let errno):
                logger.debug("receive failed", metadata: ["error": "\(ZMQFailure.text(errno))"])
                return
            }
        }
        routerDirty = true  // more requests than one batch
    }

    /// Serves one request: reads it here, or aside when its envelope is large (see
    /// `asideEnvelopeBytes`), then hands it to the handler or refuses it.
    private func handleRequest(_ frames: [ReceivedFrame]) {
        guard let identity = frames.first?.array else { return }
        if let held = heldRequests[identity] {
            // An earlier request of this connection is read aside: requests reach the handler in
            // the order their connection sent them (a partition's release must not overtake it).
            guard held.count < Self.mostHeldRequests else { return refuseHeld(frames, identity: identity) }
            return heldRequests[identity, default: []].append(frames)
        }
        guard frames.count >= 2 else {
            return reject(identity, requestID: 0, WeftError(.invalidArgument, "the message has no envelope frame"))
        }
        guard frames.count <= Socket.maxFrames else {
            return reject(
                identity,
                requestID: 0,
                WeftError(.invalidArgument, "the message has more than \(Socket.maxFrames) frames")
            )
        }
        // Looked up here: the keys' cache is this thread's.
        let peerKey = core.security == nil ? nil : senderKey(frames[1])
        if frames[1].count < Self.asideEnvelopeBytes {
            let reading = read(frames.dropFirst(), identity: identity, peerKey: peerKey)
            guard case .lendsTooMuchToReadHere = reading else { return serve(reading, from: identity) }
        }
        readAside(ReceivedRequest(frames: frames), identity: identity, peerKey: peerKey)
    }

    /// Refuses a request of a connection that already has `mostHeldRequests` waiting behind one
    /// read aside, so a peer cannot make this node hold an unbounded queue for it. A large one
    /// is dropped unread (reading it here is what reading aside avoids): its sender times out.
    private func refuseHeld(_ frames: [ReceivedFrame], identity: [UInt8]) {
        guard frames.count >= 2, frames[1].count < Self.asideEnvelopeBytes else { return }
        let peerKey = core.security == nil ? nil : senderKey(frames[1])
        guard case .message(let incoming) = read(frames.dropFirst(), identity: identity, peerKey: peerKey) else { return }
        reject(
            identity,
            requestID: incoming.replyToken.requestID,
            WeftError(.unavailable, "\(boundAddress) is still reading an earlier large request of this connection; retry")
        )
    }

    /// Reads a request on the node's reading queue and sends the outcome back to this thread as
    /// a command; the connection's later requests wait in `heldRequests` meanwhile.
    private func readAside(_ request: ReceivedRequest, identity: [UInt8], peerKey: CurveKey?) {
        heldRequests[identity] = []
        let core = core
        let secured = core.security != nil
        let maxSplitTensorBytes = configuration.maxMessageSize
        core.readAside { [request] in
            let reading = RequestReading(
                request.frames.dropFirst(),
                identity: identity,
                peerKey: peerKey,
                secured: secured,
                maxSplitTensorBytes: maxSplitTensorBytes,
                lending: core.lending,
                logger: core.logger
            )
            core.submit(.read(identity: identity, reading))
        }
    }

    /// Reads a request on this thread.
    private func read(_ frames: ArraySlice<ReceivedFrame>, identity: [UInt8], peerKey: CurveKey?) -> RequestReading {
        RequestReading(
            frames,
            identity: identity,
            peerKey: peerKey,
            secured: core.security != nil,
            maxSplitTensorBytes: configuration.maxMessageSize,
            lending: core.lending,
            inlineLentBytes: Self.asideLentBytes,
            logger: logger
        )
    }

    /// Hands a request read aside to the handler, then serves, in order, what its connection
    /// sent meanwhile, until another of them goes aside.
    private func finishReadingAside(_ reading: RequestReading, from identity: [UInt8]) {
        serve(reading, from: identity)
        guard let held = heldRequests.removeValue(forKey: identity) else { return }
        for (index, frames) in held.enumerated() {
            guard heldRequests[identity] == nil else {
                heldRequests[identity] = Array(held[index...])  // behind the one that went aside
                return
            }
            handleRequest(frames)
        }
    }

    /// Hands a request to the handler, or tells its sender what is wrong with it.
    private func serve(_ reading: RequestReading, from identity: [UInt8]) {
        switch reading {
        case .refused(let requestID, let error):
            reject(identity, requestID: requestID, error)
        case .replyAsRequest(let requestID):
            logger.debug("reply arriving as a request dropped", metadata: ["request.id": "\(requestID)"])
        case .lendsTooMuchToReadHere:
            break  // only the I/O thread leaves a request unread, and it then reads it aside
        case .message(let incoming):
            if answerLending(incoming) { return }
            guard let handler = core.state.withLock({ $0.handler }) else {
                return sendReply(
                    NodeCore.errorReply(
                        requestID: incoming.replyToken.requestID,
                        WeftError(.unavailable, "\(boundAddress) is not serving requests yet; retry shortly")
                    ),
                    identity: identity
                )
            }
            handler(incoming)
        }
    }

    /// Answers the requests of a lender's proof (see `PayloadLending`), which the transport
    /// serves itself; returns whether `incoming` was one.
    private func answerLending(_ incoming: IncomingMessage) -> Bool {
        let token = incoming.replyToken
        switch incoming.envelope.body {
        case .lendChallenge?:
            var answer = core.lending.challenge()
            answer.envelope.requestID = token.requestID
            sendReply((try? WireCodec.frames(for: answer)) ?? [], identity: token.identity)
        case .lendProof(let proof)?:
            do throws(WeftError) {
                try core.lending.verify(proof)
                var envelope = Weft_Envelope()
                envelope.ack = Weft_Ack()
                envelope.requestID = token.requestID
                sendReply((try? WireCodec.frames(for: WireMessage(envelope: envelope))) ?? [], identity: token.identity)
            } catch {
                logger.debug("lender refused", metadata: ["error": "\(error)"])
                sendReply(NodeCore.errorReply(requestID: token.requestID, error), identity: token.identity)
            }
        default:
            return false
        }
        return true
    }

    /// The public key the ZAP handler admitted the sender of `frame` with (its `User-Id`).
    private func senderKey(_ frame: ReceivedFrame) -> CurveKey? {
        guard let userID = frame.property("User-Id") else { return nil }
        if let key = peerKeys[userID] { return key }
        guard let key = try? CurveKey(z85: userID) else { return nil }
        if peerKeys.count >= 4096 { peerKeys.removeAll() }  // bounded: keys are listed, but peers come and go
        peerKeys[userID] = key
        return key
    }

    /// Logs a malformed message and tells its sender what is wrong with it.
    private func reject(_ identity: [UInt8], requestID: UInt64, _ error: WeftError) {
        logger.debug("malformed message rejected", metadata: ["request.id": "\(requestID)", "error": "\(error)"])
        Counter(label: "weft_messages_refused_total", dimensions: [("code", "\(error.code)")]).increment()
        sendReply(NodeCore.errorReply(requestID: requestID, error), identity: identity)
    }

    private func sendReply(_ frames: [OutgoingFrame], identity: [UInt8], frameBytes: Int? = nil) {
        guard !frames.isEmpty else { return }
        routerDirty = true  // a send may take the signal of a request that arrives meanwhile
        switch router.send(frames, identity: identity, frameBytes: frameBytes) {
        case .sent:
            break
        case .wouldBlock:
            logger.debug("reply dropped: the requester's queue is full")
        case .failed(EHOSTUNREACH):
            logger.debug("reply dropped: the requester has disconnected")
        case .failed(let errno):
            logger.debug("reply dropped", metadata: ["error": "\(ZMQFailure.text(errno))"])
        }
    }

    // MARK: Framing

    // MARK: Deadlines and clean-up

    private func expireRequests() {
        let now = ContinuousClock.now
        let expired = pending.expire(now: now)
        for entry in expired {
            abandon(entry, NodeCore.noAnswer(entry.address, within: entry.context.timeout, sent: entry.sent))
        }
        abandonedLent.removeAll { $0.until <= now }
        // Drop what can no longer leave: expired sends, and requests that completed meanwhile.
        for peer in peers.values where !peer.outbox.isEmpty {
            peer.outbox.removeAll { queued in
                if let id = queued.requestID { return !pending.contains(id) }
                guard queued.deadline <= now else { return false }
                logger.debug(
                    "message dropped: no connection came up in time",
                    metadata: ["peer.address": "\(peer.address)"]
                )
                return true
            }
        }
    }

    /// Closes DEALERs nobody has used for `idlePeerTimeout`: at once for peers that went away,
    /// and at each idle sweep for the others, so a long-lived process neither keeps reconnecting
    /// to every peer it ever knew nor heartbeats links no longer in use. The next message to such
    /// a peer opens a new connection.
    private func reapIdlePeers() {
        let now = ContinuousClock.now
        if hasConnections, now >= nextIdleSweep {
            reapCandidates.formUnion(peers.keys)
            core.direct.closeIdle(before: now - configuration.idlePeerTimeout)
            nextIdleSweep = now + configuration.idlePeerTimeout / 2
        }
        guard !reapCandidates.isEmpty else { return }
        let cutoff = now - configuration.idlePeerTimeout
        for address in reapCandidates {
            guard let peer = peers[address], peer.outbox.isEmpty, peer.lastUsed < cutoff,
                !pending.hasRequests(for: address)
            else { continue }
            logger.debug("idle connection closed", metadata: ["peer.address": "\(address)"])
            remove(peer)
        }
        reapCandidates.removeAll()
    }

    /// Whether any DEALER is open, this thread's or blocked callers' (`DirectDealers`).
    private var hasConnections: Bool { !peers.isEmpty || core.direct.count.load(ordering: .relaxed) > 0 }

    /// Closes `peer`'s DEALER and forgets it; the next message to its address opens a new one.
    private func remove(_ peer: Peer) {
        unregister(peer.dealerDescriptor)
        unregister(peer.monitorDescriptor)
        peer.close()
        peers[peer.address] = nil
        core.openPeers.subtract(1, ordering: .relaxed)
    }
}

@available(*, unavailable)
extension IOLoop: Sendable {}
