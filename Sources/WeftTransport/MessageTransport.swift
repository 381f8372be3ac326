import Synchronization
import WeftRuntime

/// How a coordinator, a worker or a client reaches the others: one endpoint that serves
/// requests at `boundAddress` and sends requests and one-way messages to other endpoints'
/// addresses. `MessagingNode` is the ZeroMQ implementation; `InProcessNetwork`'s endpoints
/// carry messages in memory and inject faults, for tests.
///
/// Every method may be called from any thread. Handlers and completions run on the transport's
/// own thread and must return quickly.
public protocol MessageTransport: Sendable {
    /// The address others reach this endpoint at.
    var boundAddress: String { get }
    /// Sets the function that serves incoming messages, replacing any earlier one.
    func setHandler(_ handler: @escaping MessagingNode.Handler)
    /// Answers the request `token` came from; does nothing for a message sent without waiting.
    func reply(to token: IncomingMessage.ReplyToken, _ message: consuming WireMessage)
    /// Answers `incoming`.
    func reply(to incoming: IncomingMessage, _ message: consuming WireMessage)
    /// Sends a request and calls `completion` once with its reply (an error status becomes a
    /// failure) or with `unavailable` when no reply comes within `timeout`.
    func request(
        _ message: consuming WireMessage,
        to address: String,
        timeout: Duration,
        completion: @escaping MessagingNode.Completion
    )
    /// Sends a request and waits for its reply; see `request(_:to:timeout:completion:)`.
    func request(_ message: WireMessage, to address: String, timeout: Duration) async throws(WeftError) -> WireMessage
    /// Sends a request and blocks the calling thread (never the transport's own, nor the
    /// cooperative pool) until its reply, error or timeout.
    func requestAndWait(
        _ message: consuming WireMessage,
        to address: String,
        timeout: Duration
    ) throws(WeftError)
        -> WireMessage
    /// Sends a message that needs no reply; it may be lost.
    func send(_ message: consuming WireMessage, to address: String)
    /// Expects the process at `address` to hold `key` (CURVE); a transport without keys ignores it.
    func trust(_ key: CurveKey, at address: String)
    /// Stops the endpoint: pending requests fail with `cancelled`. Idempotent.
    func close()
}

extension MessageTransport {
    /// Answers `incoming` through its token.
    public func reply(to incoming: IncomingMessage, _ message: consuming WireMessage) {
        reply(to: incoming.replyToken, consume message)
    }

    /// Waits for the reply of a callback request.
    public func request(
        _ message: WireMessage,
        to address: String,
        timeout: Duration
    ) async throws(WeftError)
        -> WireMessage
    {
        let result = await withCheckedContinuation { continuation in
            request(message, to: address, timeout: timeout) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Blocks on a callback request through a reusable waiter.
    public func requestAndWait(
        _ message: consuming WireMessage,
        to address: String,
        timeout: Duration
    ) throws(WeftError)
        -> WireMessage
    {
        let waiter = try ReplyWaiter.make()
        request(consume message, to: address, timeout: timeout, completion: waiter.deliver)
        return try waiter.wait().get()
    }
}

extension MessagingNode: MessageTransport {}
