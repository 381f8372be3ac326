import CZeroMQ
import WeftRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One ZeroMQ socket, owned by the thread that created it for its whole life.
///
/// Not `Sendable` (libzmq sockets are not thread-safe): it is made, used and closed by one
/// thread, normally a `MessagingNode`'s I/O thread.
final class Socket {
    /// The libzmq socket; `nil` once closed.
    private(set) var handle: UnsafeMutableRawPointer?
    /// What the socket is, for log and error messages (`ROUTER`, `DEALER to tcp://…`).
    let role: String
    /// An empty frame a receive that found nothing left behind, for the next receive: the
    /// loop ends every burst with such a receive, which would otherwise allocate one.
    private var spareFrame: ReceivedFrame?
    /// A monitor publishes this socket's events (`monitor(_:events:)`).
    private var monitored = false
    /// When set, a tensor payload larger than this leaves as several frames of at most this
    /// size, each pointing into the tensor's buffer (see `MessagingNode.Configuration`).
    var tensorFrameBytes: Int?

    /// Makes a socket of `type` (`ZMQ_ROUTER`, …) with linger 0, so closing never blocks.
    init(context: ZMQContext, type: Int32, role: String) throws(WeftError) {
        guard let handle = zmq_socket(context.handle, type) else {
            throw ZMQFailure.current("cannot create a ZeroMQ \(role) socket").error(.resourceExhausted)
        }
        self.handle = handle
        self.role = role
        try set(ZMQ_LINGER, 0 as Int32)
    }

    deinit {
        // Backstop only: owners close explicitly, on the owning thread.
        close()
    }

    /// Closes the socket; unsent messages are dropped (linger is 0). Idempotent.
    func close() {
        guard let handle else { return }
        // libzmq's I/O thread sends monitor events with a blocking send: an event for a socket
        // whose monitor reader is gone (or never connected) would stop that thread, and with it
        // every connection of the context, for good (libzmq issue 3575). Stop the monitor first.
        if monitored { zmq_socket_monitor(handle, nil, 0) }
        zmq_close(handle)
        self.handle = nil
    }

    /// Sets an `int` option.
    func set(_ option: Int32, _ value: Int32) throws(WeftError) {
        var value = value
        try setRaw(option, &value, MemoryLayout<Int32>.size)
    }

    /// Sets an `int64_t` option.
    func set(_ option: Int32, _ value: Int64) throws(WeftError) {
        var value = value
        try setRaw(option, &value, MemoryLayout<Int64>.size)
    }

    /// Sets a binary option (a CURVE key's 32 bytes, a ZAP domain).
    func set(_ option: Int32, bytes: [UInt8]) throws(WeftError) {
        let result = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        guard result == 0 else {
            throw ZMQFailure.current("cannot set option \(option) on the \(role) socket").error(.internal)
        }
    }

    private func setRaw(_ option: Int32, _ value: UnsafeRawPointer, _ size: Int) throws(WeftError) {
        guard zmq_setsockopt(handle, option, value, size) == 0 else {
            throw ZMQFailure.current("cannot set option \(option) on the \(role) socket").error(.internal)
        }
    }

    /// Binds to `endpoint`, or throws the errno that libzmq reported.
    func bind(_ endpoint: String) throws(ZMQFailure) {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQFailure.current("cannot listen on \(endpoint)") }
    }

    /// Connects to `endpoint` (libzmq connects in the background and reconnects on its own).
    func connect(_ endpoint: String) throws(ZMQFailure) {
        guard zmq_connect(handle, endpoint) == 0 else { throw ZMQFailure.current("cannot connect to \(endpoint)") }
    }

    /// The endpoint the socket last bound to, with the port libzmq chose for `:0` or `:*`.
    var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 1024)
        var size = buffer.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The descriptor libzmq makes readable when the socket may have become readable or
    /// writable. It is edge-triggered and consumed by sends and receives too, so after one the
    /// owner keeps using the socket until it would block before it waits on the descriptor.
    func fileDescriptor() throws(WeftError) -> Int32 {
        var descriptor: Int32 = -1
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(handle, ZMQ_FD, &descriptor, &size) == 0 else {
            throw ZMQFailure.current("cannot get the descriptor of the \(role) socket").error(.internal)
        }
        return descriptor
    }

    /// Starts a monitor that publishes `events` on the inproc endpoint `endpoint`.
    func monitor(_ endpoint: String, events: Int32) throws(WeftError) {
        guard zmq_socket_monitor(handle, endpoint, events) == 0 else {
            throw ZMQFailure.current("cannot monitor the \(role) socket").error(.internal)
        }
        monitored = true
    }

    // MARK: Sending

    /// The result of trying to send one multipart message without blocking.
    enum SendOutcome: Equatable {
        /// libzmq took the whole message.
        case sent
        /// Nothing was sent: no connected peer or its queue is full (`EAGAIN`). Retry on `POLLOUT`.
        case wouldBlock
        /// The message could not be sent; the errno says why.
        case failed(Int32)
    }

    /// Sends `frames` as one multipart message, without blocking unless `blocking` (then up to
    /// the socket's `ZMQ_SNDTIMEO`). Tensor frames are not copied: libzmq reads the tensor's
    /// buffer, which stays retained until libzmq has sent it. A tensor larger than
    /// `tensorFrameBytes` or `frameBytes` leaves as several frames over consecutive parts of its buffer.
    func send(
        _ frames: [OutgoingFrame],
        identity: [UInt8]? = nil,
        blocking: Bool = false,
        frameBytes: Int? = nil
    ) -> SendOutcome {
        let part = [tensorFrameBytes, frameBytes].compactMap { $0 }.filter { $0 > 0 }.min()
        let flags = blocking ? 0 : ZMQ_DONTWAIT
        precondition(!frames.isEmpty || identity != nil, "a ZeroMQ message has at least one frame")
        return withUnsafeTemporaryAllocation(of: zmq_msg_t.self, capacity: 1) { storage in
            let message = storage.baseAddress!
            var sentAny = false
            func sendOne(last: Bool, _ initialize: (UnsafeMutablePointer<zmq_msg_t>) -> Int32) -> SendOutcome? {
                guard initialize(message) == 0 else { return .failed(zmq_errno()) }
                defer { zmq_msg_close(message) }  // a sent message is empty, so closing it is a no-op
                let first = !sentAny
                sentAny = true
                if zmq_msg_send(message, handle, flags | (last ? 0 : ZMQ_SNDMORE)) >= 0 { return nil }
                let error = zmq_errno()
                // Only the first frame can meet a full queue: libzmq admits the rest of a message
                // once its first frame is in.
                return error == EAGAIN && first ? .wouldBlock : .failed(error)
            }
            if let identity, let outcome = sendOne(last: frames.isEmpty, { Self.initialize($0, copying: identity) }) {
                return outcome
            }
            for (index, frame) in frames.enumerated() {
                let last = index == frames.count - 1
                let outcome: SendOutcome?
                switch frame {
                case .bytes(let bytes):
                    outcome = sendOne(last: last) { Self.initialize($0, copying: bytes) }
                case .tensor(let tensor):
                    outcome = sendParts(of: tensor, part: part, last: last, sendOne)
                }
                if let outcome { return outcome }
            }
            return .sent
        }
    }

    /// Sends a tensor's payload as one frame, or as frames of at most `tensorFrameBytes`.
    private func sendParts(
        of tensor: Tensor,
        part: Int?,
        last: Bool,
        _ sendOne: (_ last: Bool, _ initialize: (UnsafeMutablePointer<zmq_msg_t>) -> Int32) -> SendOutcome?
    ) -> SendOutcome? {
        let count = tensor.byteCount
        guard let part, count > part else {
            return sendOne(last) { Self.initialize($0, sharing: tensor, bytes: 0..<count) }
        }
        var offset = 0
        while offset < count {
            let end = offset + Swift.min(part, count - offset)
            let range = offset..<end
            if let outcome = sendOne(last && end == count, { Self.initialize($0, sharing: tensor, bytes: range) }) {
                return outcome
            }
            offset = end
        }
        return nil
    }

    private static func initialize(_ message: UnsafeMutablePointer<zmq_msg_t>, copying bytes: [UInt8]) -> Int32 {
        guard zmq_msg_init_size(message, bytes.count) == 0 else { return -1 }
        if !bytes.isEmpty {
            bytes.withUnsafeBytes { zmq_msg_data(message).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
        return 0
    }

    /// Points the message at `bytes` of the tensor's own buffer; libzmq calls `releaseSentBuffer`
    /// when done.
    private static func initialize(
        _ message: UnsafeMutablePointer<zmq_msg_t>,
        sharing tensor: Tensor,
        bytes: Range<Int>
    ) -> Int32 {
        guard !bytes.isEmpty else { return zmq_msg_init(message) }
        let retained = Unmanaged.passRetained(tensor.buffer)
        let rc = zmq_msg_init_data(
            message,
            tensor.buffer.base + bytes.lowerBound,
            bytes.count,
            releaseSentBuffer,
            retained.toOpaque()
        )
        if rc != 0 { retained.release() }
        return rc
    }

    // MARK: Receiving

    /// The most frames a received message may have; larger ones are cut at `maxFrames + 1`.
    static let maxFrames = 1 << 16

    /// The result of trying to receive one multipart message without blocking.
    enum ReceiveOutcome {
        /// A whole message.
        case message([ReceivedFrame])
        /// No message is waiting.
        case wouldBlock
        /// Receiving failed; the errno says why.
        case failed(Int32)
    }

    /// Receives one multipart message, without blocking unless `blocking` (then up to the
    /// socket's `ZMQ_RCVTIMEO`). Frames beyond `maxFrames` are read and dropped, and the result
    /// then has `maxFrames + 1` frames so callers can reject it.
    func receive(maxFrames: Int = Socket.maxFrames, blocking: Bool = false) -> ReceiveOutcome {
        var frames: [ReceivedFrame] = []
        while true {
            let frame = spareFrame ?? ReceivedFrame()
            spareFrame = nil
            if zmq_msg_recv(frame.message, handle, frames.isEmpty && blocking ? 0 : ZMQ_DONTWAIT) < 0 {
                spareFrame = frame  // libzmq leaves it empty
                let error = zmq_errno()
                // A multipart message arrives whole, so only the first frame can be missing.
                return frames.isEmpty && error == EAGAIN ? .wouldBlock : .failed(error)
            }
            let more = zmq_msg_more(frame.message) != 0
            if frames.count <= maxFrames { frames.append(frame) }
            if !more { return .message(frames) }
        }
    }
}

@available(*, unavailable)
extension Socket: Sendable {}

/// libzmq's free callback for tensor frames: drops the retain taken for the send.
private func releaseSentBuffer(_ data: UnsafeMutableRawPointer?, _ hint: UnsafeMutableRawPointer?) {
    guard let hint else { return }
    Unmanaged<TensorBuffer>.fromOpaque(hint).release()
}

/// One frame of an outgoing message.
public enum OutgoingFrame: Sendable {
    /// Bytes copied into the frame (the envelope, identities, small control data).
    case bytes([UInt8])
    /// A tensor's payload, sent from its buffer without a copy.
    case tensor(Tensor)
}

/// One received frame: a heap-allocated `zmq_msg_t` this object closes, unless its bytes were
/// handed to a `TensorBuffer`, which then closes it when the last tensor using it is gone.
public final class ReceivedFrame {
    /// The libzmq message.
    let message: UnsafeMutablePointer<zmq_msg_t>
    private var owned = true

    init() {
        message = .allocate(capacity: 1)
        zmq_msg_init(message)
    }

    deinit {
        if owned { Self.free(message) }
    }

    /// The number of bytes.
    public var count: Int { zmq_msg_size(message) }

    /// Calls `body` with the bytes, which stay valid for the call only.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(bytes)
    }

    /// The bytes, valid while this frame (or the buffer it became) lives.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: zmq_msg_data(message), count: count) }

    /// The bytes copied into an array.
    public var array: [UInt8] { Array(bytes) }

    /// A metadata property libzmq attached to the message (`User-Id`, which the ZAP handler
    /// set to the sender's public key), or `nil` when it has none.
    func property(_ name: String) -> String? {
        guard let value = zmq_msg_gets(message, name) else { return nil }
        return String(cString: value)
    }

    /// A tensor buffer over this frame's bytes. The bytes are adopted without a copy when they
    /// are aligned to `alignment`; otherwise (a small frame libzmq placed at an odd offset inside
    /// its receive batch) they are copied into a fresh, aligned buffer.
    func makeBuffer(alignment: Int) -> (buffer: TensorBuffer, copied: Bool) {
        let count = self.count
        guard count > 0, let data = zmq_msg_data(message) else { return (TensorBuffer(byteCount: 0), false) }
        if Int(bitPattern: data) % max(alignment, 1) != 0 {
            let buffer = TensorBuffer(byteCount: count)
            buffer.base.copyMemory(from: data, byteCount: count)
            return (buffer, true)
        }
        owned = false
        let handle = OwnedMessage(pointer: message)
        return (TensorBuffer(adopting: data, count: count) { _ in ReceivedFrame.free(handle.pointer) }, false)
    }

    fileprivate static func free(_ message: UnsafeMutablePointer<zmq_msg_t>) {
        zmq_msg_close(message)
        message.deallocate()
    }
}

@available(*, unavailable)
extension ReceivedFrame: Sendable {}

/// A received message that exactly one `TensorBuffer` owns.
private struct OwnedMessage: @unchecked Sendable {
    // Sendable: only the adopting buffer's release touches it, once; libzmq messages (unlike
    // sockets) may be closed on any thread.
    let pointer: UnsafeMutablePointer<zmq_msg_t>
}

/// An errno reported by libzmq, with the context it happened in.
struct ZMQFailure: Error {
    /// The errno.
    var errno: Int32
    /// What was being done, `cannot listen on tcp://…`.
    var context: String

    /// The error libzmq reported for the last call on this thread.
    static func current(_ context: String) -> ZMQFailure {
        ZMQFailure(errno: zmq_errno(), context: context)
    }

    /// libzmq's text for the errno, `Address already in use`.
    var reason: String { Self.text(errno) }

    /// libzmq's text for an errno.
    static func text(_ errno: Int32) -> String { String(cString: zmq_strerror(errno)) }

    /// This failure as a `WeftError` with `code`.
    func error(_ code: WeftError.Code) -> WeftError { WeftError(code, "\(context): \(reason)") }
}
