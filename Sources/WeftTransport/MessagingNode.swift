import Dispatch
import Foundation
import Logging
import Synchronization
import WeftProto
import WeftRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A process's endpoint on the Weft network: one ROUTER socket that serves requests, DEALER
/// sockets that reach peers, and one dedicated I/O thread that owns all of them.
///
/// Every method may be called from any thread. Calls only queue work for the I/O thread and
/// wake it through an `inproc://` pair (whose sending half is used only under its own lock);
/// the ROUTER and DEALERs are touched by the I/O thread alone, for their whole life. The one
/// exception is `requestAndWait`, whose thread sends and receives on a DEALER of its own once
/// it has one (see `DirectDealers`). The I/O
/// thread runs the handler and request completions, so both must return quickly: hand anything
/// slow (a step, a lock that may be held long) to another queue or task.
///
/// Each peer costs a DEALER and a monitor pair (about four file descriptors); a DEALER nobody
/// used for `Configuration.idlePeerTimeout` is closed, so only links in use carry heartbeats.
///
/// ```swift
/// let node = try MessagingNode(listen: "tcp://127.0.0.1:0", logger: logger)
/// node.setHandler { [weak node] incoming in node?.reply(to: incoming, WireMessage(envelope: Weft_Envelope())) }
/// let reply = try await client.request(message, to: node.boundAddress, timeout: .seconds(5))
/// ```
public final class MessagingNode: Sendable {
    /// Called on the I/O thread with each well-formed message that arrives on the ROUTER.
    public typealias Handler = @Sendable (IncomingMessage) -> Void
    /// Called once with a request's reply or the reason there is none.
    public typealias Completion = @Sendable (Result<WireMessage, WeftError>) -> Void

    /// Tuning of a node's sockets. The defaults suit a cluster on one local network.
    public struct Configuration: Sendable {
        /// The largest frame, in bytes, a peer may send this node. libzmq drops the connection of a
        /// peer that sends a larger one. Default: `MessageSizeLimit.bytes` when the node is made.
        public var maxMessageSize: Int = MessageSizeLimit.bytes
        /// How many messages may queue per peer, in each direction.
        public var highWaterMark: Int = 10_000
        /// How long after losing a peer libzmq first tries to reconnect.
        public var reconnectInterval: Duration = .milliseconds(100)
        /// The longest wait between reconnection attempts (the wait doubles up to it).
        public var maxReconnectInterval: Duration = .milliseconds(1000)
        /// How long one TCP connection attempt may take before it counts as failed.
        public var connectTimeout: Duration = .seconds(2)
        /// How often ZMTP heartbeats are sent on an idle connection. Every worker pings the
        /// coordinator at this pace, so it sets an idle cluster's floor: every 2 s keeps 2.5
        /// pings inside the default timeout.
        public var heartbeatInterval: Duration = .seconds(2)
        /// How long a connection may stay silent (no heartbeat answered) before it is dropped and
        /// the requests waiting on it fail with `unavailable`. A heartbeat cannot overtake a frame
        /// in flight, so keep this above the time the largest tensor takes to cross the network.
        public var heartbeatTimeout: Duration = .seconds(5)
        /// How long a message given to `send(_:to:)` may wait for a connection before it is dropped.
        public var sendTimeout: Duration = .seconds(10)
        /// How long a DEALER to a peer that cannot be reached stays open once unused.
        public var idlePeerTimeout: Duration = .seconds(60)
        /// The largest frame this node takes a tensor of a reply in: each request asks the peer
        /// to send larger ones as several frames, which this node joins (one copy of the tensor,
        /// on the thread that receives the reply). `nil` (the default) takes any size.
        ///
        /// libzmq's heartbeat counts a connection silent until a whole frame has arrived, so a
        /// frame that takes longer to cross than `heartbeatTimeout` drops the connection: a
        /// client (2 s) fetching a 3 GiB tensor in one frame lost it. Workers and coordinators
        /// take any size, so their I/O threads never spend seconds joining a tensor.
        public var replyFrameBytes: Int?
        /// With CURVE, a tensor larger than this leaves as several frames of at most this size;
        /// `nil` (the default) sends each tensor as one frame.
        ///
        /// libzmq encrypts, sends and decrypts each frame whole, on one I/O thread per side, so a
        /// large tensor in one frame is encrypted, then crosses, then is decrypted; in parts these
        /// can overlap when each side has a core to itself. The receiver then joins the parts into
        /// a fresh buffer, one more copy of the tensor: measured on a loaded 2-core machine (16 MiB,
        /// 256 KiB or 1 MiB parts) that cost about 20% more CPU per transfer and no time, so it is
        /// off unless a deployment with idle cores measures a gain. Every node joins split
        /// tensors whatever this says.
        public var encryptedTensorFrameBytes: Int?
        /// Whether requests to processes on this host lend their large tensors rather than send
        /// them through TCP, and this node reads what such processes lend it (`PayloadLending`):
        /// one copy instead of two and no work for libzmq's I/O threads. A process that cannot
        /// prove it is on this host, and a receiver that has this off, get frames as before.
        public var lendsPayloads = true
        /// For tests: runs the reading of each request too large to read on the I/O thread (see
        /// `IOLoop.asideEnvelopeBytes`) in place of the node's own serial queue, so a test sees
        /// the request leave the I/O thread and can hold it there.
        var readAside: (@Sendable (_ work: @escaping @Sendable () -> Void) -> Void)?

        /// The default configuration.
        public init() {}
    }

    /// CURVE keys of a node: every connection is authenticated and encrypted (libsodium's
    /// Curve25519 boxes), and its ROUTER admits only the listed public keys.
    public struct Security: Sendable {
        /// This node's keys: its ROUTER serves CURVE with them, its DEALERs present them.
        public var keyPair: CurveKeyPair
        /// The public keys the ROUTER admits; a peer with any other key is refused during its
        /// handshake (logged, and counted in `refusedPeers`).
        public var admitted: Set<CurveKey>
        /// The public key of the process at each address this node sends to; more can be added
        /// with `trust(_:at:)`. Sending to an address without one fails with `unauthenticated`.
        public var serverKeys: [String: CurveKey]

        /// Makes a node's security settings.
        public init(keyPair: CurveKeyPair, admitted: Set<CurveKey>, serverKeys: [String: CurveKey] = [:]) {
            self.keyPair = keyPair
            self.admitted = admitted
            self.serverKeys = serverKeys
        }
    }

    private let core: NodeCore

    /// The address peers can connect to: the listen address with the port the system chose for
    /// `:0`, and with a wildcard host (`*`, `0.0.0.0`) replaced by this host's name.
    public let boundAddress: String

    /// Binds a ROUTER socket to `listen` (`tcp://127.0.0.1:0` picks a free port) and starts the
    /// I/O thread. With `security`, every socket of the node speaks CURVE.
    ///
    /// - Throws: `invalidArgument` when `listen` is not an address this host can bind;
    ///   `unavailable` when the address is in use; `unimplemented` for `security` when libzmq
    ///   lacks CURVE.
    public init(
        listen: String,
        context: ZMQContext = .shared,
        configuration: Configuration = .init(),
        security: Security? = nil,
        logger: Logger
    ) throws(WeftError) {
        if security != nil, !CurveKey.isAvailable {
            throw WeftError(.unimplemented, "this libzmq has no CURVE support (build it with libsodium)")
        }
        let core = NodeCore(context: context, configuration: configuration, security: security, logger: logger)
        let startup = Startup()
        core.finished.enter()
        let thread = Thread { [core] in
            IOLoop.run(core: core, listen: listen, startup: startup)
            core.finished.leave()
        }
        thread.name = "weft.io"
        thread.start()
        switch startup.wait() {
        case .success(let address):
            self.core = core
            self.boundAddress = address
            logger.info("listening", metadata: ["transport.address": "\(address)"])
        case .failure(let error):
            core.finished.wait()
            throw error
        }
    }

    deinit {
        // Backstop only: owners call close().
        close()
    }

    /// Sets the function that serves incoming messages, replacing any earlier one.
    ///
    /// The handler runs on the I/O thread, one message at a time, and must not block: while it
    /// runs, this node neither receives nor sends. Reply with `reply(to:_:)`, now or later, from
    /// any thread. Until a handler is set, requests are answered with `unavailable`. The node
    /// holds the handler until `close()`, so a handler that captures the node keeps it alive
    /// until then.
    public func setHandler(_ handler: @escaping Handler) {
        core.state.withLock { $0.handler = handler }
    }

    /// Answers a request: sends `message` back to the requester carrying its request id, with
    /// an `ack` body unless it has a reply body. Set `message.envelope.status` to report an
    /// error. Does nothing for messages sent with `send(_:to:)`, whose sender waits for no reply.
    public func reply(to incoming: IncomingMessage, _ message: consuming WireMessage) {
        reply(to: incoming.replyToken, consume message)
    }

    /// Answers the request `token` came from; see `reply(to:_:)`.
    public func reply(to token: IncomingMessage.ReplyToken, _ message: consuming WireMessage) {
        guard token.expectsReply else {
            return core.logger.trace("no reply sent: the message was sent without waiting for one")
        }
        // A reply is told apart by its body: one without a reply body becomes an acknowledgement.
        if !message.envelope.isReply { message.envelope.ack = Weft_Ack() }
        message.envelope.requestID = token.requestID
        do throws(WeftError) {
            let frames = try WireCodec.frames(for: consume message)
            core.submit(.reply(identity: token.identity, frames: frames, frameBytes: token.frameBytes))
        } catch {
            // The reply cannot be encoded; tell the requester rather than let it time out.
            let failure = NodeCore.errorReply(requestID: token.requestID, error)
            core.submit(.reply(identity: token.identity, frames: failure, frameBytes: nil))
        }
    }

    /// Sends a request to the node listening at `address` and calls `completion` once with its
    /// reply: on the I/O thread, or on a global dispatch queue when the request fails before it
    /// reaches that thread (the node is closed, the message cannot be encoded).
    ///
    /// A reply whose status is not OK completes with that error, code and message unchanged.
    /// When no reply comes within `timeout`, or the peer cannot be reached or drops the
    /// connection first, the request fails with `unavailable` naming `address`. Closing the node
    /// fails it with `cancelled`. The transport sets the envelope's `requestID`,
    /// `protocolVersion`, `tensors` and, when it is 0, `deadlineMs`.
    public func request(
        _ message: consuming WireMessage,
        to address: String,
        timeout: Duration,
        completion: @escaping Completion
    ) {
        _ = startRequest(consume message, to: address, timeout: timeout, completion: completion)
    }

    /// Sends a request and waits for its reply; see `request(_:to:timeout:completion:)`.
    /// Cancelling the task fails the request with `cancelled`.
    public func request(
        _ message: WireMessage,
        to address: String,
        timeout: Duration
    ) async throws(WeftError) -> WireMessage {
        try await awaitReply { completion in
            startRequest(message, to: address, timeout: timeout, completion: completion)
        }
    }

    /// Sends a request and blocks the calling thread until its reply, error or timeout; see
    /// `request(_:to:timeout:completion:)`. For threads that may block (not the cooperative
    /// pool); on the node's I/O thread, which would have to answer it, it fails at once.
    public func requestAndWait(
        _ message: consuming WireMessage,
        to address: String,
        timeout: Duration
    ) throws(WeftError) -> WireMessage {
        guard !core.isIOThread else {
            throw WeftError(
                .failedPrecondition,
                "a request to \(address) cannot wait on the messaging node's own I/O thread, which answers it; "
                    + "use request(_:to:timeout:completion:) from handlers and completions"
            )
        }
        let lender = lender(for: message, to: address)
        let (id, frames, lent) = try encodeRequest(consume message, timeout: timeout, lender: lender)
        let taken = core.direct.take(address)
        if case .ready(let dealer) = taken {
            switch core.direct.request(on: dealer, frames, id: id, timeout: timeout, core: core) {
            case .answered(let result):
                core.direct.put(dealer)
                if case .failure(let error) = result { abandon(lent, to: address, error, timeout: timeout) }
                return try result.get()
            case .ended(let error):
                core.direct.discard(dealer)
                abandon(lent, to: address, error, timeout: timeout)
                // The connection was lost: the peer may come back as another process.
                core.lending.forget(address)
                throw error
            case .notSent:
                core.direct.discard(dealer)
            }
        }
        let waiter = try ReplyWaiter.make()
        submitRequest(
            id: id,
            frames: frames,
            to: address,
            timeout: timeout,
            callerBlocks: true,
            lent: lent,
            completion: lent.isEmpty ? waiter.deliver : forgettingUnknownLender(address, waiter.deliver)
        )
        let result = waiter.wait()
        if case .absent = taken { core.direct.open(address, core: core) }
        return try result.get()
    }

    /// Sends a message that needs no reply (a heartbeat, a tensor pushed to a peer). If no
    /// connection to `address` takes it within `configuration.sendTimeout`, it is dropped and
    /// logged: callers that must know use `request` instead.
    public func send(_ message: consuming WireMessage, to address: String) {
        message.envelope.requestID = 0
        do throws(WeftError) {
            let frames = try WireCodec.frames(for: consume message)
            core.submit(.send(address: address, frames: frames, deadline: .now + core.configuration.sendTimeout))
        } catch {
            core.logger.debug("message not sent", metadata: ["peer.address": "\(address)", "error": "\(error)"])
        }
    }

    /// Stops the I/O thread: pending requests fail with `cancelled`, the sockets close at once
    /// (unsent messages are dropped), and the handler is released. Returns when the thread has
    /// stopped, except when called on the I/O thread itself (from a handler or completion), where
    /// it returns at once and the thread stops after the current callback. Idempotent.
    public func close() {
        let onIOThread = core.requestClose()
        if !onIOThread { core.finished.wait() }
    }

    /// Whether this node speaks CURVE.
    public var isSecured: Bool { core.security != nil }

    /// How many peers this node's ROUTER refused because their public key is not admitted.
    public var refusedPeers: Int { core.refusedPeers.load(ordering: .relaxed) }

    /// How many peers this node holds a connection to now: those it sent to within
    /// `Configuration.idlePeerTimeout`, and those still being reached.
    public var openPeers: Int { core.openPeers.load(ordering: .relaxed) }

    /// How many DEALERs threads blocked in `requestAndWait` hold now, idle or in use: after
    /// its first blocking request to an address, a thread sends and receives on one of its own.
    public var openDirectConnections: Int { core.direct.count.load(ordering: .relaxed) }

    /// Sets the public key of the process at `address`, for connections this node makes from now
    /// on; a connection up with another key is dropped. Does nothing on a node without keys.
    public func trust(_ key: CurveKey, at address: String) {
        guard core.security != nil else { return }
        let changed = core.state.withLock { state -> Bool in
            defer { state.serverKeys[address] = key }
            return state.serverKeys[address].map { $0 != key } ?? false
        }
        guard changed else { return }
        core.direct.forget(address)
        core.submit(.forget(address: address))
    }

    // MARK: Support for tests and tools

    /// For tests and diagnostic tools: sends `frames` verbatim, as one multipart message, to the
    /// node at `address`, bypassing all framing and validation. Weft code never needs this.
    public func sendRawFrames(_ frames: [[UInt8]], to address: String) {
        guard !frames.isEmpty else { return }
        core.submit(
            .send(
                address: address,
                frames: frames.map(OutgoingFrame.bytes),
                deadline: .now + core.configuration.sendTimeout
            )
        )
    }

    /// For tests and diagnostic tools: sends `frames` verbatim and waits for the reply that
    /// carries `requestID` (the id the frames' envelope holds, chosen so it cannot collide with
    /// this node's own ids, which count up from 1).
    public func requestRawFrames(
        _ frames: [[UInt8]],
        to address: String,
        requestID: UInt64,
        timeout: Duration
    ) async throws(WeftError) -> WireMessage {
        try await awaitReply { completion in
            submitRequest(
                id: requestID,
                frames: frames.map(OutgoingFrame.bytes),
                to: address,
                timeout: timeout,
                callerBlocks: false,
                completion: completion
            )
            return requestID
        }
    }

    // MARK: Internals

    private func startRequest(
        _ message: consuming WireMessage,
        to address: String,
        timeout: Duration,
        completion: @escaping Completion
    ) -> UInt64 {
        do throws(WeftError) {
            let lender = lender(for: message, to: address)
            let (id, frames, lent) = try encodeRequest(consume message, timeout: timeout, lender: lender)
            submitRequest(
                id: id,
                frames: frames,
                to: address,
                timeout: timeout,
                callerBlocks: false,
                lent: lent,
                completion: lent.isEmpty ? completion : forgettingUnknownLender(address, completion)
            )
            return id
        } catch {
            NodeCore.completeLater(completion, .failure(error))
            return 0
        }
    }

    /// A request's id and frames: the envelope with the id and, when it has none, the deadline;
    /// with `lender`, its large tensors lent, and those tensors.
    private func encodeRequest(
        _ message: consuming WireMessage,
        timeout: Duration,
        lender: Weft_Lender? = nil
    ) throws(WeftError) -> (id: UInt64, frames: [OutgoingFrame], lent: [Tensor]) {
        let id = core.makeRequestID()
        message.envelope.requestID = id
        if message.envelope.deadlineMs == 0 { message.envelope.deadlineMs = timeout.millisecondsRoundedUp }
        message.envelope.maxReplyFrameBytes = UInt64(max(core.configuration.replyFrameBytes ?? 0, 0))
        guard let lender else { return (id, try WireCodec.frames(for: consume message), []) }
        let (frames, lent) = try WireCodec.frames(for: consume message, lender: lender)
        return (id, frames, lent)
    }

    /// This node as the lender of `message`'s large tensors to `address`, when that route lends;
    /// the first such request to an address goes in frames and starts this process's proof.
    private func lender(for message: borrowing WireMessage, to address: String) -> Weft_Lender? {
        guard message.tensors.contains(where: PayloadLending.lends) else { return nil }
        switch core.lending.decide(for: address) {
        case .lend: return core.lending.lender
        case .frames: return nil
        case .prove:
            proveLending(to: address)
            return nil
        }
    }

    /// Proves this process to the node at `address` (see `PayloadLending`): asks for a nonce,
    /// then names where it holds it. The route lends once the proof is taken.
    private func proveLending(to address: String) {
        let (lending, logger) = (core.lending, core.logger)
        var challenge = Weft_Envelope()
        challenge.lendChallenge = Weft_LendChallenge()
        request(WireMessage(envelope: challenge), to: address, timeout: Self.proofTimeout) { [weak self] result in
            guard let self, case .success(let reply) = result, case .lendChallengeReply(let answer)? = reply.envelope.body
            else { return lending.settle(address, .frames) }
            let (proof, held) = lending.proof(of: answer.nonce)
            request(proof, to: address, timeout: Self.proofTimeout) { result in
                withExtendedLifetime(held) {}
                if case .failure(let error) = result {
                    logger.debug("tensors to this peer travel in frames", metadata: ["peer.address": "\(address)", "error": "\(error)"])
                    return lending.settle(address, .frames)
                }
                lending.settle(address, .lending)
            }
        }
    }

    /// How long a step of a lender's proof may take before the route stays on frames.
    private static let proofTimeout = Duration.seconds(10)

    /// `completion`, after forgetting the route to `address` when its process did not know this
    /// one as a lender (it restarted there): the next large request proves this process again.
    private func forgettingUnknownLender(_ address: String, _ completion: @escaping Completion) -> Completion {
        let lending = core.lending
        return { result in
            if case .failure(let error) = result { lending.forget(address, ifUnknownLender: error) }
            completion(result)
        }
    }

    /// What a blocking request lent, once it failed on its caller's own dealer: the I/O thread
    /// holds it for another `timeout`, since the peer may still be reading it.
    private func abandon(_ lent: [Tensor], to address: String, _ error: WeftError, timeout: Duration) {
        guard !lent.isEmpty else { return }
        core.lending.forget(address, ifUnknownLender: error)
        core.submit(.hold(lent, until: .now + timeout))
    }

    private func submitRequest(
        id: UInt64,
        frames: [OutgoingFrame],
        to address: String,
        timeout: Duration,
        callerBlocks: Bool,
        lent: [Tensor] = [],
        completion: @escaping Completion
    ) {
        core.submit(
            .request(
                OutgoingRequest(
                    id: id,
                    address: address,
                    frames: frames,
                    deadline: .now + timeout,
                    timeout: timeout,
                    callerBlocks: callerBlocks,
                    lent: lent,
                    completion: completion
                )
            )
        )
    }

    /// Bridges a callback request to async/await, cancelling the request with the task.
    private func awaitReply(_ start: (@escaping Completion) -> UInt64) async throws(WeftError) -> WireMessage {
        enum Progress {
            case starting
            case started(UInt64)
            case cancelled
        }
        let progress = Mutex(Progress.starting)
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation {
                (continuation: CheckedContinuation<Result<WireMessage, WeftError>, Never>) in
                let id = start { continuation.resume(returning: $0) }
                let cancelled = progress.withLock { progress in
                    if case .cancelled = progress { return true }
                    progress = .started(id)
                    return false
                }
                if cancelled { core.submit(.cancel(id: id)) }
            }
        } onCancel: {
            let id = progress.withLock { progress -> UInt64? in
                if case .started(let id) = progress { return id }
                progress = .cancelled
                return nil
            }
            if let id { core.submit(.cancel(id: id)) }
        }
        return try result.get()
    }
}

/// A request on its way to the I/O thread.
struct OutgoingRequest: Sendable {
    let id: UInt64
    let address: String
    let frames: [OutgoingFrame]
    let deadline: ContinuousClock.Instant
    let timeout: Duration
    /// A thread blocks until the completion runs.
    let callerBlocks: Bool
    /// The tensors the request lends its peer, held until it is answered.
    let lent: [Tensor]
    let completion: MessagingNode.Completion
}

/// Work handed to the I/O thread.
enum Command: Sendable {
    /// Send a request and wait for its reply.
    case request(OutgoingRequest)
    /// Send a message nobody answers; drop it after `deadline` if it cannot leave.
    case send(address: String, frames: [OutgoingFrame], deadline: ContinuousClock.Instant)
    /// Send a reply through the ROUTER to the connection `identity` names, its tensors in frames
    /// of at most `frameBytes` when set.
    case reply(identity: [UInt8], frames: [OutgoingFrame], frameBytes: Int?)
    /// Stop waiting for a request; it completes with `cancelled`.
    case cancel(id: UInt64)
    /// Close the connection to `address`: the key it was made with is no longer the peer's.
    case forget(address: String)
    /// Keep tensors a request lent until `until`: it ended unanswered, and its peer may still be
    /// reading them.
    case hold([Tensor], until: ContinuousClock.Instant)
    /// Serve a request from the connection `identity` names, read off the I/O thread.
    case read(identity: [UInt8], RequestReading)
    /// Complete the request a reply from `address`, read off the I/O thread, answers.
    case readReply(address: String, ReplyReading)
}

/// What the callers' threads and the I/O thread share.
final class NodeCore: Sendable {
    /// Whether a caller that queues a command must wake the I/O thread.
    enum Activity {
        /// The I/O thread looks at the queue again before it waits: no wake-up is needed.
        case busy
        /// The I/O thread waits, or is about to, in `poll`: the next command must wake it.
        case waiting
        /// A wake-up is in flight: the I/O thread has not yet taken the queue since it was sent.
        case woken
    }

    struct State {
        var commands: [Command] = []
        var activity = Activity.busy
        /// The sending half of the wake-up pair; `nil` before the loop starts and after it stops.
        var waker: Waker?
        var handler: MessagingNode.Handler?
        var closing = false
        var ioThread: pthread_t?
        /// The public key of the process at each address (with `security` only).
        var serverKeys: [String: CurveKey] = [:]
    }

    let state = Mutex(State())
    let context: ZMQContext
    let configuration: MessagingNode.Configuration
    /// The node's CURVE keys; `nil` for a node whose sockets are plain.
    let security: MessagingNode.Security?
    /// Peers the ZAP handler refused.
    let refusedPeers = Atomic<Int>(0)
    /// DEALERs open now, one per peer this node sent to recently.
    let openPeers = Atomic<Int>(0)
    let logger: Logger
    /// Distinguishes this node's inproc endpoints from other nodes' in the same context.
    let serial: Int
    /// Left when the I/O thread has stopped.
    let finished = DispatchGroup()
    /// The DEALERs blocked callers send on themselves.
    let direct = DirectDealers()
    /// Which peers this node lends tensors to, and which lenders it reads from.
    let lending: PayloadLending
    /// Where large requests are read, off the I/O thread: one at a time, so reading takes one
    /// core at most, whatever the number of peers sending.
    private let readingQueue = DispatchQueue(label: "weft.io.read")
    private let nextRequestID = Atomic<UInt64>(1)
    private let nextSocketSerial = Atomic<Int>(0)
    private static let serials = Atomic<Int>(0)

    init(
        context: ZMQContext,
        configuration: MessagingNode.Configuration,
        security: MessagingNode.Security?,
        logger: Logger
    ) {
        self.context = context
        self.configuration = configuration
        self.security = security
        if let security { state.withLock { $0.serverKeys = security.serverKeys } }
        self.logger = logger
        self.lending = PayloadLending(enabled: configuration.lendsPayloads)
        self.serial = Self.serials.wrappingAdd(1, ordering: .relaxed).newValue
    }

    func makeRequestID() -> UInt64 {
        nextRequestID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Runs `work`, the reading of a large request, off the I/O thread.
    func readAside(_ work: @escaping @Sendable () -> Void) {
        if let readAside = configuration.readAside { return readAside(work) }
        readingQueue.async(execute: work)
    }

    /// A number no other socket of this node has, for inproc endpoints.
    func makeSocketSerial() -> Int {
        nextSocketSerial.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Queues a command and wakes the I/O thread if it waits; after close, fails a request with
    /// `cancelled`. The I/O thread itself (a handler, a completion) is busy, so never wakes itself.
    func submit(_ command: Command) {
        let (accepted, waker) = state.withLock { state -> (Bool, Waker?) in
            guard !state.closing else { return (false, nil) }
            state.commands.append(command)
            return (true, Self.claimWakeUp(&state))
        }
        // Sent outside the lock, so the woken I/O thread does not find the queue still locked.
        waker?.wake()
        guard !accepted else { return }
        if case .request(let request) = command {
            Self.completeLater(request.completion, .failure(Self.closedError(request.address)))
        }
    }

    /// Marks the node closing and wakes the I/O thread; returns whether this is the I/O thread.
    func requestClose() -> Bool {
        let (onIOThread, waker) = state.withLock { state in
            state.closing = true
            return (Self.isIOThread(state), Self.claimWakeUp(&state))
        }
        waker?.wake()
        direct.close()
        return onIOThread
    }

    /// Whether the calling thread is this node's I/O thread.
    var isIOThread: Bool { state.withLock { Self.isIOThread($0) } }

    private static func isIOThread(_ state: State) -> Bool {
        guard let ioThread = state.ioThread else { return false }
        return pthread_equal(ioThread, pthread_self()) != 0
    }

    /// The waker to send a wake-up with, when the I/O thread waits and none is due yet. A busy
    /// I/O thread needs none: it marks itself waiting, under the lock, only when it has found the
    /// queue empty, so every queued command is seen after at most one wake-up.
    private static func claimWakeUp(_ state: inout State) -> Waker? {
        guard state.activity == .waiting, let waker = state.waker else { return nil }
        state.activity = .woken
        return waker
    }

    /// Runs a completion off the caller's stack, for requests that fail before reaching the
    /// I/O thread (the caller may hold a lock the completion takes).
    static func completeLater(
        _ completion: @escaping MessagingNode.Completion,
        _ result: Result<WireMessage, WeftError>
    ) {
        DispatchQueue.global().async { completion(result) }
    }

    static func closedError(_ address: String) -> WeftError {
        WeftError(.cancelled, "the request to \(address) was cancelled: this process closed its messaging node")
    }

    /// What a request gets whose connection was lost before the reply came: a reply can only
    /// come back over the connection its request went out on (a new connection gets a new
    /// routing identity at the peer).
    static func connectionLost(_ address: String) -> WeftError {
        WeftError(
            .unavailable,
            "the connection to \(address) was lost before it answered; the peer may have stopped or restarted"
        )
    }

    /// What a request gets that no reply answered within `timeout`: `unavailable`, not
    /// `deadlineExceeded`, since a peer that does not answer within the transport's timeout is
    /// treated as unreachable, as TensorFlow reports dead workers; `deadlineExceeded` stays for a
    /// step that outlives the deadline its caller set.
    static func noAnswer(_ address: String, within timeout: Duration, sent: Bool) -> WeftError {
        let message =
            sent
            ? "\(address) did not answer within \(timeout)"
            : "\(address) could not be reached within \(timeout): no connection to it came up"
        return WeftError(.unavailable, message)
    }

    /// The frames of a reply that reports `error`.
    static func errorReply(requestID: UInt64, _ error: WeftError) -> [OutgoingFrame] {
        var envelope = Weft_Envelope()
        envelope.ack = Weft_Ack()
        envelope.requestID = requestID
        envelope.status.code = error.code.rawValue
        envelope.status.message = error.message
        // An envelope without tensors or a body always serializes.
        return (try? WireCodec.frames(for: WireMessage(envelope: envelope))) ?? []
    }
}

/// The sending half of an I/O thread's `inproc://` wake-up pair.
///
/// Callers' threads share it under its own mutex, whose full memory barrier is what libzmq
/// requires of a socket used by more than one thread; the I/O thread takes it only to close it.
final class Waker: Sendable {
    private let socket: Mutex<Socket?>

    init(socket: sending Socket) { self.socket = Mutex(socket) }

    /// Sends an empty message; never blocks (at most a few are ever in flight).
    func wake() { socket.withLock { _ = $0?.send([.bytes([])]) } }

    func close() {
        socket.withLock { socket in
            socket?.close()
            socket = nil
        }
    }
}

/// The I/O thread's report of whether it bound its socket.
final class Startup: Sendable {
    private let result = Mutex<Result<String, WeftError>?>(nil)
    private let ready = DispatchSemaphore(value: 0)

    func report(_ outcome: Result<String, WeftError>) {
        result.withLock { $0 = outcome }
        ready.signal()
    }

    func wait() -> Result<String, WeftError> {
        ready.wait()
        return result.withLock { $0! }  // set before the signal
    }
}
