import Dispatch
import Synchronization
import WeftProto
import WeftRuntime

/// A network in memory: endpoints that carry messages between coordinator, workers and clients
/// of one process without sockets, and faults injected by rule, so a test decides exactly which
/// message is lost, late or doubled, or which two endpoints cannot reach each other.
///
/// Each endpoint has one serial queue that plays the part of a `MessagingNode`'s I/O thread: its
/// handler and its requests' completions run there, one at a time. Requests time out as on the
/// network, with `unavailable`, and a reply that arrives after its request ended is dropped.
///
/// ```swift
/// let network = InProcessNetwork()
/// network.inject(.drop, on: .reply(to: .runPartition))
/// network.cut("worker0", "coordinator")
/// ```
public final class InProcessNetwork: Sendable {
    /// What a fault does to a message it matches.
    public enum Fault: Sendable, Hashable {
        /// The message is lost.
        case drop
        /// The message arrives this much later.
        case delay(Duration)
        /// The message arrives twice.
        case duplicate
    }

    /// The messages a fault applies to.
    public enum Leg: Sendable, Hashable {
        /// A request, or a message sent without waiting, with this kind of body.
        case request(MessageKind)
        /// The reply to a request with this kind of body.
        case reply(to: MessageKind)
    }

    private struct Rule {
        var fault: Fault
        var leg: Leg
        var from: String?
        var to: String?
        var remaining: Int
    }

    private struct State {
        var endpoints: [String: InProcessTransport] = [:]
        var rules: [Rule] = []
        var cuts: Set<[String]> = []
    }

    private let state = Mutex(State())

    /// Makes an empty network.
    public init() {}

    /// An endpoint at `address`, which other endpoints of this network send to; `alreadyExists`
    /// when one is there.
    public func endpoint(_ address: String) throws(WeftError) -> InProcessTransport {
        try state.withLock { (state) throws(WeftError) -> InProcessTransport in
            guard state.endpoints[address] == nil else {
                throw WeftError(.alreadyExists, "an in-process endpoint already listens at \(address)")
            }
            let endpoint = InProcessTransport(address: address, network: self)
            state.endpoints[address] = endpoint
            return endpoint
        }
    }

    /// Applies `fault` to the next `times` messages on `leg` (from and to the given addresses,
    /// any when `nil`); `times` `nil` applies it to every one from now on.
    public func inject(_ fault: Fault, on leg: Leg, from: String? = nil, to: String? = nil, times: Int? = 1) {
        state.withLock { $0.rules.append(Rule(fault: fault, leg: leg, from: from, to: to, remaining: times ?? .max)) }
    }

    /// Removes every fault not yet used up.
    public func clearFaults() {
        state.withLock { $0.rules.removeAll() }
    }

    /// Loses every message between `a` and `b`, both ways, until `heal`.
    public func cut(_ a: String, _ b: String) {
        state.withLock { _ = $0.cuts.insert([a, b].sorted()) }
    }

    /// Carries messages between `a` and `b` again.
    public func heal(_ a: String, _ b: String) {
        state.withLock { _ = $0.cuts.remove([a, b].sorted()) }
    }

    func remove(_ address: String) {
        state.withLock { _ = $0.endpoints.removeValue(forKey: address) }
    }

    /// The endpoint at `to` and when to hand it each copy of a message on `leg`: none when the
    /// message is lost.
    func route(_ leg: Leg, from: String, to: String) -> (InProcessTransport, [Duration])? {
        state.withLock { state -> (InProcessTransport, [Duration])? in
            guard let endpoint = state.endpoints[to], !state.cuts.contains([from, to].sorted()) else { return nil }
            guard
                let index = state.rules.firstIndex(where: {
                    $0.leg == leg && ($0.from ?? from) == from && ($0.to ?? to) == to
                })
            else { return (endpoint, [.zero]) }
            let fault = state.rules[index].fault
            state.rules[index].remaining -= 1
            if state.rules[index].remaining == 0 { state.rules.remove(at: index) }
            switch fault {
            case .drop: return nil
            case .delay(let delay): return (endpoint, [delay])
            case .duplicate: return (endpoint, [.zero, .zero])
            }
        }
    }

    /// The endpoint at `address`, if one listens there.
    func endpoint(at address: String) -> InProcessTransport? {
        state.withLock { $0.endpoints[address] }
    }
}

/// One endpoint of an `InProcessNetwork`: a `MessageTransport` without sockets.
public final class InProcessTransport: MessageTransport {
    private struct Pending {
        var kind: MessageKind
        var completion: MessagingNode.Completion
    }

    private struct State {
        var handler: MessagingNode.Handler?
        var pending: [UInt64: Pending] = [:]
        var nextID: UInt64 = 1
        var closed = false
    }

    /// The address other endpoints send to.
    public let boundAddress: String
    private let network: InProcessNetwork
    private let state = Mutex(State())
    /// Where this endpoint's handler and completions run, one at a time.
    private let queue: DispatchQueue

    init(address: String, network: InProcessNetwork) {
        self.boundAddress = address
        self.network = network
        self.queue = DispatchQueue(label: "weft.inprocess.\(address)")
    }

    /// Sets the function that serves incoming messages.
    public func setHandler(_ handler: @escaping MessagingNode.Handler) {
        state.withLock { $0.handler = handler }
    }

    /// Sends a request; its completion runs on this endpoint's queue.
    public func request(
        _ message: consuming WireMessage,
        to address: String,
        timeout: Duration,
        completion: @escaping MessagingNode.Completion
    ) {
        // The far end refuses what is not a request, as a ROUTER does.
        do throws(WeftError) {
            try message.envelope.validateRequest()
        } catch {
            return queue.async { completion(.failure(error)) }
        }
        guard let kind = message.envelope.messageKind else { return }
        let id = state.withLock { state -> UInt64? in
            guard !state.closed else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.pending[id] = Pending(kind: kind, completion: completion)
            return id
        }
        guard let id else {
            return queue.async { completion(.failure(WeftError(.cancelled, "the endpoint \(self.boundAddress) is closed"))) }
        }
        message.envelope.requestID = id
        message.envelope.protocolVersion = WireProtocol.version
        if message.envelope.deadlineMs == 0 { message.envelope.deadlineMs = timeout.millisecondsRoundedUp }
        queue.asyncAfter(deadline: .now() + timeout.dispatchInterval) { [self] in
            complete(id, .failure(WeftError(.unavailable, "\(address) did not answer within \(timeout)")))
        }
        let token = IncomingMessage.ReplyToken(identity: Array(boundAddress.utf8), requestID: id)
        transmit(message, token: token, leg: .request(kind), to: address)
    }

    /// Sends a message that needs no reply.
    public func send(_ message: consuming WireMessage, to address: String) {
        message.envelope.requestID = 0
        message.envelope.protocolVersion = WireProtocol.version
        guard let kind = message.envelope.messageKind, !kind.isReply else { return }  // refused at the far end
        let token = IncomingMessage.ReplyToken(identity: Array(boundAddress.utf8), requestID: 0)
        transmit(message, token: token, leg: .request(kind), to: address)
    }

    /// Answers the request `token` came from.
    public func reply(to token: IncomingMessage.ReplyToken, _ message: consuming WireMessage) {
        guard token.expectsReply else { return }
        // A reply is told apart by its body: one without a reply body becomes an acknowledgement.
        if !message.envelope.isReply { message.envelope.ack = Weft_Ack() }
        message.envelope.requestID = token.requestID
        message.envelope.protocolVersion = WireProtocol.version
        let result: Result<WireMessage, WeftError> = message.error.map { .failure($0) } ?? .success(message)
        let requester = String(decoding: token.identity, as: UTF8.self)
        // Faults on replies match the kind of request answered; a request that already ended
        // (timed out, or answered by an earlier copy) gets nothing.
        guard let endpoint = network.endpoint(at: requester), let kind = endpoint.pendingKind(token.requestID),
            let (target, delays) = network.route(.reply(to: kind), from: boundAddress, to: requester)
        else { return }
        for delay in delays {
            target.queue.asyncAfter(deadline: .now() + delay.dispatchInterval) {
                target.complete(token.requestID, result)
            }
        }
    }

    /// Does nothing: endpoints in memory need no keys.
    public func trust(_ key: CurveKey, at address: String) {}

    /// Fails pending requests with `cancelled` and leaves the network.
    public func close() {
        let pending = state.withLock { state -> [Pending] in
            guard !state.closed else { return [] }
            state.closed = true
            state.handler = nil
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        network.remove(boundAddress)
        let error = WeftError(.cancelled, "the endpoint \(boundAddress) was closed")
        for entry in pending { queue.async { entry.completion(.failure(error)) } }
    }

    private func transmit(_ message: WireMessage, token: IncomingMessage.ReplyToken, leg: InProcessNetwork.Leg, to address: String) {
        guard let (target, delays) = network.route(leg, from: boundAddress, to: address) else { return }
        let incoming = IncomingMessage(message: message, replyToken: token, peerKey: nil)
        for delay in delays {
            target.queue.asyncAfter(deadline: .now() + delay.dispatchInterval) { target.deliver(incoming) }
        }
    }

    private func deliver(_ incoming: IncomingMessage) {
        guard let handler = state.withLock({ $0.handler }) else {
            return reply(
                to: incoming.replyToken,
                .init(envelope: .with {
                    $0.status.code = WeftError.Code.unavailable.rawValue
                    $0.status.message = "\(boundAddress) is not serving requests yet; retry shortly"
                })
            )
        }
        handler(incoming)
    }

    private func pendingKind(_ id: UInt64) -> MessageKind? {
        state.withLock { $0.pending[id]?.kind }
    }

    private func complete(_ id: UInt64, _ result: Result<WireMessage, WeftError>) {
        guard let entry = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        entry.completion(result)
    }
}
