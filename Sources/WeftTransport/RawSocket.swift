import CZeroMQ
import WeftRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bare libzmq socket that blocks its caller: no envelopes, no I/O thread, no validation.
///
/// It exists to measure libzmq itself, the baseline Weft's messaging is compared against (the
/// benchmarks' raw echo server and clients). Like every socket it belongs to the thread that
/// made it, for its whole life; it is not `Sendable`.
public final class RawSocket {
    /// What a blocking receive found.
    public enum Received {
        /// A whole multipart message; a ROUTER's starts with the sender's identity frame.
        case message([ReceivedFrame])
        /// Nothing arrived within the socket's timeout.
        case timedOut
        /// A signal interrupted the wait; receive again.
        case interrupted
        /// The socket or its context is closed (`ZMQContext.shutdown()`): stop receiving.
        case closed
    }

    private let socket: Socket
    /// The address peers connect to: the bound one, with a wildcard host or port made concrete.
    public let address: String

    private init(socket: Socket, address: String) {
        self.socket = socket
        self.address = address
    }

    /// A DEALER connected to `address`, whose sends and receives wait up to `timeout`; a send
    /// waits for the connection instead of queueing (`ZMQ_IMMEDIATE`).
    public static func dealer(
        connectingTo address: String,
        timeout: Duration,
        context: ZMQContext = .shared
    ) throws(WeftError) -> RawSocket {
        let socket = try Socket(context: context, type: ZMQ_DEALER, role: "raw DEALER to \(address)")
        let milliseconds = Int32(clamping: timeout.millisecondsRoundedUp)
        do {
            try socket.set(ZMQ_IMMEDIATE, 1 as Int32)
            try socket.set(ZMQ_SNDTIMEO, milliseconds)
            try socket.set(ZMQ_RCVTIMEO, milliseconds)
            try socket.set(ZMQ_SNDHWM, 64 as Int32)
            try socket.connect(address)
        } catch let error as ZMQFailure {
            socket.close()
            throw error.error(.invalidArgument)
        } catch {
            socket.close()
            throw WeftError.wrapping(error)
        }
        return RawSocket(socket: socket, address: address)
    }

    /// A ROUTER bound to `address` (`tcp://127.0.0.1:0` for any free port) that takes frames up
    /// to `MessageSizeLimit.bytes`; an address in use is `unavailable`.
    public static func router(binding address: String, context: ZMQContext) throws(WeftError) -> RawSocket {
        let socket = try Socket(context: context, type: ZMQ_ROUTER, role: "raw ROUTER on \(address)")
        do {
            try socket.set(ZMQ_MAXMSGSIZE, Int64(MessageSizeLimit.bytes))
            try socket.set(ZMQ_RCVHWM, 64 as Int32)
            try socket.bind(address)
        } catch let error as ZMQFailure {
            socket.close()
            throw error.error(error.errno == EADDRINUSE ? .unavailable : .invalidArgument)
        } catch {
            socket.close()
            throw WeftError.wrapping(error)
        }
        return RawSocket(socket: socket, address: IOLoop.connectableAddress(socket.lastEndpoint))
    }

    /// Sends `frames` as one message (a ROUTER's to the peer `identity`), waiting up to the
    /// socket's timeout; tensor frames are sent without a copy. Returns whether it was sent.
    public func send(_ frames: [OutgoingFrame], to identity: [UInt8]? = nil) -> Bool {
        socket.send(frames, identity: identity, blocking: true) == .sent
    }

    /// Waits for one message, up to the socket's timeout.
    public func receive() -> Received {
        switch socket.receive(blocking: true) {
        case .message(let frames): return .message(frames)
        case .wouldBlock: return .timedOut
        case .failed(let errno): return errno == EINTR ? .interrupted : .closed
        }
    }

    /// Closes the socket; unsent messages are dropped. Idempotent.
    public func close() {
        socket.close()
    }
}

@available(*, unavailable)
extension RawSocket: Sendable {}
