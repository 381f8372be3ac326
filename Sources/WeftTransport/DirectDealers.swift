import CZeroMQ
import Logging
import Synchronization
import WeftRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// DEALERs that threads blocked in `MessagingNode.requestAndWait` send on and receive from
/// themselves.
///
/// Through the I/O thread a blocking request costs two thread wake-ups beyond libzmq's own round
/// trip (the caller wakes the I/O thread to send, the I/O thread wakes the caller with the
/// reply), most of what a small remote step costs beyond the raw round trip (`weft bench step`).
///
/// A dealer belongs to one thread at a time: it is taken from the pool and put back under the
/// pool's mutex, whose full memory barrier is what libzmq requires of a socket that moves
/// between threads. The first blocking request to an address goes through the I/O thread and
/// opens a dealer beside it, which later requests use once its handshake has succeeded; so a
/// peer that cannot be reached, or refuses the keys, is reported as the I/O thread reports it.
/// A dealer closes when its connection is lost, when nobody used it for `idlePeerTimeout`, when
/// the peer's key changes, and when the node closes.
///
/// A connected dealer put back is parked in a slot outside the mutex when one is free, so the
/// next request to its address takes it with one atomic exchange: with eight threads stepping
/// at once, the mutex was where they queued (13% of a client's time in `weft bench throughput`).
/// The exchanges are sequentially consistent, the barrier libzmq asks for; a dealer parked before
/// a key change or the closing is never taken from its slot again (see `generation`).
final class DirectDealers: Sendable {
    /// What the pool has for an address.
    enum Taken {
        /// A connected dealer, now the caller's until it puts it back.
        case ready(DirectDealer)
        /// None to spare, one is connecting, or the address has its share: send through the I/O thread.
        case none
        /// None to spare and room for another: send through the I/O thread, then `open` one.
        case absent
    }

    private struct State {
        var idle: [String: [DirectDealer]] = [:]
        /// Dealers open per address, idle or taken.
        var open: [String: Int] = [:]
        /// Counts each address's key changes: a dealer made with an older key closes when put back.
        var keyChanges: [String: Int] = [:]
        var closed = false
    }

    /// The most dealers per address: one per thread that blocks on it at once, up to this.
    private static let perAddress = 16

    private let state = Mutex(State())
    /// Where connected dealers wait outside the mutex; see the type's comment.
    private let parked: [ParkingSlot] = (0..<perAddress).map { _ in ParkingSlot() }
    /// Counts key changes of any address, under the mutex: a dealer made or last checked under an
    /// older count goes back through the mutex, which checks its address's key.
    private let generation = Atomic<Int>(0)
    private let isClosed = Atomic<Bool>(false)
    /// A pipe whose reading end is readable once the node closes, so that callers blocked on
    /// their dealers stop waiting; -1 when no pipe could be made, and then no dealer is opened.
    private let closing: Int32
    private let closed: Int32
    /// Dealers open now, so the I/O thread knows whether to sweep idle ones.
    let count = Atomic<Int>(0)

    init() {
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) == 0 {
            for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        }
        closing = ends[0]
        closed = ends[1]
    }

    deinit {
        if closing >= 0 { Glibc.close(closing) }
        if closed >= 0 { Glibc.close(closed) }
    }

    /// Takes a connected dealer to `address` for the caller's request: a parked one if there is
    /// one, else from the pool. A dealer known to be connected leaves the pool under the mutex
    /// and has its events read outside it, once it is this thread's, so callers of one address
    /// do not queue behind each other's socket calls. One still connecting is read under the
    /// mutex and stays in the pool meanwhile: others see it and do not open one more.
    func take(_ address: String) -> Taken {
        if let dealer = unpark(address) { return .ready(dealer) }
        while true {
            switch state.withLock({ state in pick(address, &state) }) {
            case .decided(let taken):
                return taken
            case .connected(let dealer):
                dealer.readEvents()
                guard dealer.link == .broken else { return .ready(dealer) }
                discard(dealer)
            }
        }
    }

    /// What `pick` found in the pool.
    private enum Pick {
        case decided(Taken)
        /// A dealer that was connected when last seen, now the caller's; its events are unread.
        case connected(DirectDealer)
    }

    private func pick(_ address: String, _ state: inout State) -> Pick {
        guard !state.closed, closing >= 0 else { return .decided(.none) }
        var connecting = false
        var index = state.idle[address]?.count ?? 0
        while index > 0 {
            index -= 1
            guard let dealer = state.idle[address]?[index] else { break }
            if dealer.link == .ready {
                state.idle[address]?.remove(at: index)
                return .connected(dealer)
            }
            dealer.readEvents()
            switch dealer.link {
            case .connecting:
                connecting = true
            case .ready:
                state.idle[address]?.remove(at: index)
                return .decided(.ready(dealer))
            case .broken:
                state.idle[address]?.remove(at: index)
                discard(dealer, &state)
            }
        }
        return .decided(!connecting && state.open[address, default: 0] < Self.perAddress ? .absent : .none)
    }

    /// Opens a dealer to `address` for later requests, unless the pool is closed or has its
    /// share of them already. A dealer that cannot be made is no loss: requests go through the
    /// I/O thread, which reports why.
    func open(_ address: String, core: NodeCore) {
        let checked = state.withLock { state -> (keyChanges: Int, generation: Int)? in
            guard !state.closed, closing >= 0, state.open[address, default: 0] < Self.perAddress else { return nil }
            state.open[address, default: 0] += 1
            return (state.keyChanges[address, default: 0], generation.load(ordering: .sequentiallyConsistent))
        }
        guard let checked else { return }
        let sockets: (dealer: Socket, monitor: Socket)
        do {
            sockets = try DealerSockets.open(to: address, core: core)
            try sockets.dealer.set(ZMQ_RCVTIMEO, DirectDealer.checkIntervalMs)
        } catch {
            core.logger.debug(
                "no DEALER of its own for a blocked caller",
                metadata: ["peer.address": "\(address)", "error": "\(error)"]
            )
            return state.withLock { state in state.open[address, default: 1] -= 1 }
        }
        let dealer = DirectDealer(
            address: address,
            dealer: sockets.dealer,
            monitor: sockets.monitor,
            keyChanges: checked.keyChanges,
            generation: checked.generation
        )
        count.add(1, ordering: .relaxed)
        put(dealer)
    }

    /// Gives a dealer back after a request that left its connection usable.
    func put(_ dealer: DirectDealer) {
        dealer.lastUsed = .now
        if dealer.link == .ready, dealer.generation == generation.load(ordering: .sequentiallyConsistent), park(dealer)
        {
            return
        }
        state.withLock { state in pool(dealer, &state) }
    }

    /// Parks `dealer` in a free slot; `false` when none is free or the pool is closed.
    private func park(_ dealer: DirectDealer) -> Bool {
        guard !isClosed.load(ordering: .sequentiallyConsistent) else { return false }
        let unmanaged = Unmanaged.passRetained(dealer)
        guard let slot = parked.first(where: { slot in slot.take(unmanaged) }) else {
            unmanaged.release()
            return false
        }
        // Closing may have swept the slots before the dealer was parked: sweep its slot again.
        if isClosed.load(ordering: .sequentiallyConsistent), let swept = slot.empty() { discard(swept) }
        return true
    }

    /// A parked connected dealer to `address` that no key change has made stale, now the caller's.
    private func unpark(_ address: String) -> DirectDealer? {
        for slot in parked where slot.isOccupied {
            guard let dealer = slot.empty() else { continue }
            if dealer.address == address, dealer.generation == generation.load(ordering: .sequentiallyConsistent) {
                // One put back a moment ago has no news; reading them costs two system calls.
                if ContinuousClock.now - dealer.lastUsed > .milliseconds(1) { dealer.readEvents() }
                guard dealer.link == .broken else { return dealer }
                discard(dealer)
            } else if dealer.generation != generation.load(ordering: .sequentiallyConsistent) || !park(dealer) {
                state.withLock { state in pool(dealer, &state) }
            }
        }
        return nil
    }

    /// Moves every parked dealer into the mutex's pool, which checks each.
    private func unparkAll(_ state: inout State) {
        for slot in parked {
            if let dealer = slot.empty() { pool(dealer, &state) }
        }
    }

    /// Keeps `dealer` in the pool, checked against its address's key, or closes it.
    private func pool(_ dealer: DirectDealer, _ state: inout State) {
        guard !state.closed, dealer.keyChanges == state.keyChanges[dealer.address, default: 0] else {
            return discard(dealer, &state)
        }
        dealer.generation = generation.load(ordering: .sequentiallyConsistent)
        state.idle[dealer.address, default: []].append(dealer)
    }

    /// Closes a dealer whose connection is gone or whose request ended the caller's use of it.
    func discard(_ dealer: DirectDealer) {
        state.withLock { state in discard(dealer, &state) }
    }

    /// Closes the dealers to `address`: its key changed. Those in use close when put back.
    func forget(_ address: String) {
        state.withLock { state in
            state.keyChanges[address, default: 0] += 1
            generation.add(1, ordering: .sequentiallyConsistent)
            unparkAll(&state)
            for dealer in state.idle.removeValue(forKey: address) ?? [] { discard(dealer, &state) }
        }
    }

    /// Closes the dealers nobody used since `cutoff`.
    func closeIdle(before cutoff: ContinuousClock.Instant) {
        state.withLock { state in
            unparkAll(&state)
            for (address, idle) in state.idle {
                let unused = idle.filter { $0.lastUsed < cutoff }
                guard !unused.isEmpty else { continue }
                state.idle[address] = idle.filter { $0.lastUsed >= cutoff }
                for dealer in unused { discard(dealer, &state) }
            }
        }
    }

    /// Closes every idle dealer and wakes the callers blocked on the others, which close theirs.
    func close() {
        isClosed.store(true, ordering: .sequentiallyConsistent)
        state.withLock { state in
            state.closed = true
            unparkAll(&state)
            for dealer in state.idle.values.joined() { discard(dealer, &state) }
            state.idle.removeAll()
        }
        guard closed >= 0 else { return }
        var byte: UInt8 = 1
        while write(closed, &byte, 1) < 0, errno == EINTR {}
    }

    /// Sends a request on `dealer` and waits for its reply, the loss of the connection, the
    /// deadline or the node's closing.
    func request(
        on dealer: DirectDealer,
        _ frames: [OutgoingFrame],
        id: UInt64,
        timeout: Duration,
        core: NodeCore
    ) -> DirectDealer.Outcome {
        dealer.request(frames, id: id, deadline: .now + timeout, timeout: timeout, closing: closing, core: core)
    }

    private func discard(_ dealer: DirectDealer, _ state: inout State) {
        dealer.close()
        state.open[dealer.address, default: 1] -= 1
        count.subtract(1, ordering: .relaxed)
    }
}

/// One DEALER (and its monitor) that a blocked caller sends its request on and receives the
/// reply from; see `DirectDealers`.
final class DirectDealer: @unchecked Sendable {
    // Sendable: one thread uses it at a time, handed over only under `DirectDealers`' mutex.

    /// Where the dealer's connection stands.
    enum Link {
        /// No handshake has succeeded yet.
        case connecting
        /// Connected: requests may use it.
        case ready
        /// The connection failed or was lost: close the dealer.
        case broken
    }

    /// How a request on a dealer ended.
    enum Outcome {
        /// The reply, or the error it or its deadline brought; the dealer can be used again.
        case answered(Result<WireMessage, WeftError>)
        /// The request did not leave: send it through the I/O thread. Close the dealer.
        case notSent
        /// The connection was lost or the node closed, with the error for the caller. Close the dealer.
        case ended(WeftError)
    }

    let address: String
    let keyChanges: Int
    /// `DirectDealers.generation` when the pool last checked this dealer's key.
    var generation: Int
    private let dealer: Socket
    private let monitor: Socket
    private(set) var link = Link.connecting
    var lastUsed: ContinuousClock.Instant = .now

    init(address: String, dealer: Socket, monitor: Socket, keyChanges: Int, generation: Int) {
        self.address = address
        self.dealer = dealer
        self.monitor = monitor
        self.keyChanges = keyChanges
        self.generation = generation
    }

    func close() {
        dealer.close()  // stops the monitor before its reader goes
        monitor.close()
    }

    /// Reads the monitor's events without blocking.
    func readEvents() {
        while case .message(let frames) = monitor.receive() {
            switch DealerSockets.event(frames) {
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: if link == .connecting { link = .ready }
            case ZMQ_EVENT_CONNECT_RETRIED, ZMQ_EVENT_DISCONNECTED, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH,
                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                link = .broken
            default: break
            }
        }
    }

    fileprivate func request(
        _ frames: [OutgoingFrame],
        id: UInt64,
        deadline: ContinuousClock.Instant,
        timeout: Duration,
        closing: Int32,
        core: NodeCore
    ) -> Outcome {
        guard dealer.send(frames) == .sent else { return .notSent }
        lastUsed = .now
        // A blocking receive, woken every `checkIntervalMs` to look at the connection and the
        // node, rather than `zmq_poll` over the dealer, its monitor and the closing pipe: libzmq
        // checks each socket's mailbox, and the pid, with system calls of their own: the caller's
        // thread made 19 of them per request, and makes 10 this way (strace, `weft bench step`).
        while true {
            let now = ContinuousClock.now
            guard now < deadline else {
                return .answered(.failure(NodeCore.noAnswer(address, within: timeout, sent: true)))
            }
            waitAtMost(Int32(clamping: min((deadline - now).millisecondsRoundedUp, UInt64(Self.checkIntervalMs))))
            switch dealer.receive(blocking: true) {
            case .message(let frames):
                // Replies first: one that arrived just before its connection closed still counts.
                if let reply = reply(frames, to: id, core: core) { return .answered(reply) }
            case .wouldBlock, .failed(EINTR):
                readEvents()
                if link == .broken { return .ended(NodeCore.connectionLost(address)) }
                if Self.isReadable(closing) { return .ended(NodeCore.closedError(address)) }
            case .failed(let errno):
                return .ended(WeftError(.internal, "waiting for \(address): \(ZMQFailure.text(errno))"))
            }
        }
    }

    /// How long a blocked caller's receive waits before it looks at its connection's events and
    /// at the node's closing: how late it may learn that either ended.
    static let checkIntervalMs: Int32 = 10

    /// The dealer's receive timeout now, in milliseconds.
    private var receiveTimeoutMs = checkIntervalMs

    /// Makes the next receive wait at most `milliseconds`: less than `checkIntervalMs` only
    /// near the deadline, so that a request ends at its deadline and not up to 10 ms later.
    private func waitAtMost(_ milliseconds: Int32) {
        guard milliseconds != receiveTimeoutMs, (try? dealer.set(ZMQ_RCVTIMEO, milliseconds)) != nil else { return }
        receiveTimeoutMs = milliseconds
    }

    /// The outcome of `frames` if they are the reply to request `id`; `nil` for a reply to an
    /// earlier request that gave up waiting, which is dropped.
    private func reply(_ frames: [ReceivedFrame], to id: UInt64, core: NodeCore) -> Result<WireMessage, WeftError>? {
        guard let header = frames.first, frames.count <= Socket.maxFrames,
            let envelope = try? WireCodec.envelope(from: header.bytes), envelope.requestID == id
        else {
            core.logger.debug("reply to no waiting request dropped", metadata: ["peer.address": "\(address)"])
            return nil
        }
        return WireCodec.reply(
            envelope,
            payloads: frames.dropFirst(),
            from: address,
            maxSplitTensorBytes: core.configuration.maxMessageSize,
            logger: core.logger
        )
    }

    /// Whether `descriptor` is readable now.
    private static func isReadable(_ descriptor: Int32) -> Bool {
        var item = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return poll(&item, 1, 0) > 0
    }
}

/// A place one idle dealer waits outside `DirectDealers`' mutex.
private final class ParkingSlot: Sendable {
    private let dealer = Atomic<Unmanaged<DirectDealer>?>(nil)

    /// Whether a dealer may be here; read without a barrier, only to skip empty slots.
    var isOccupied: Bool { dealer.load(ordering: .relaxed) != nil }

    /// Puts `unmanaged` (retained) here if the slot is free.
    func take(_ unmanaged: Unmanaged<DirectDealer>) -> Bool {
        dealer.compareExchange(expected: nil, desired: unmanaged, ordering: .sequentiallyConsistent).exchanged
    }

    /// The dealer here, now the caller's, leaving the slot free.
    func empty() -> DirectDealer? {
        dealer.exchange(nil, ordering: .sequentiallyConsistent)?.takeRetainedValue()
    }
}
