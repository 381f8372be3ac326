import CZeroMQ
import Dispatch
import Foundation
import Synchronization
import WeftRuntime

/// ZeroMQ's authentication handler (ZAP, RFC 27) for one context: libzmq asks it, over
/// `inproc://zeromq.zap.01`, whether to admit each peer that completes a CURVE handshake with a
/// server socket of the context.
///
/// One thread owns the handler's REP socket for its whole life. Each secured ROUTER registers
/// a ZAP domain with the public keys it admits; the handler answers 200 with the peer's public
/// key (Z85) as its User-Id, which every message from that peer then carries as metadata, or
/// 400 for a key the domain does not list, which libzmq turns into a refused handshake.
final class ZAPService: Sendable {
    /// What one ROUTER admits, and whom it tells about a refused peer.
    struct Domain: Sendable {
        var admitted: Set<CurveKey>
        /// Called on the handler's thread with the refused peer's address and key.
        var refused: @Sendable (_ address: String, _ key: CurveKey?) -> Void
    }

    /// The endpoint libzmq sends ZAP requests to (fixed by RFC 27).
    static let endpoint = "inproc://zeromq.zap.01"

    private let domains = Mutex<[String: Domain]>([:])

    private init() {}

    /// Starts the handler thread for `context` and waits until its socket is bound.
    static func start(context: UnsafeMutableRawPointer) throws(WeftError) -> ZAPService {
        let service = ZAPService()
        let failure = Mutex<WeftError?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let handle = ContextHandle(pointer: context)
        let thread = Thread {
            let socket: UnsafeMutableRawPointer
            do throws(WeftError) {
                socket = try Self.bind(handle.pointer)
            } catch {
                failure.withLock { $0 = error }
                ready.signal()
                return
            }
            ready.signal()
            service.serve(socket)
        }
        thread.name = "weft.zap"
        thread.start()
        ready.wait()
        if let error = failure.withLock({ $0 }) { throw error }
        return service
    }

    /// Admits `domain.admitted` on ROUTERs whose ZAP domain is `name`.
    func register(_ name: String, _ domain: Domain) {
        domains.withLock { $0[name] = domain }
    }

    /// Forgets a domain: its ROUTER is closed.
    func unregister(_ name: String) {
        domains.withLock { _ = $0.removeValue(forKey: name) }
    }

    private static func bind(_ context: UnsafeMutableRawPointer) throws(WeftError) -> UnsafeMutableRawPointer {
        guard let socket = zmq_socket(context, ZMQ_REP) else {
            throw ZMQFailure.current("cannot create the ZAP handler's socket").error(.resourceExhausted)
        }
        var linger: Int32 = 0
        zmq_setsockopt(socket, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        guard zmq_bind(socket, endpoint) == 0 else {
            let failure = ZMQFailure.current("cannot bind the ZAP handler to \(endpoint)")
            zmq_close(socket)
            throw failure.error(.internal)
        }
        return socket
    }

    /// Answers requests until the context shuts down, then closes the socket.
    private func serve(_ socket: UnsafeMutableRawPointer) {
        defer { zmq_close(socket) }
        while true {
            guard let request = receive(socket) else { return }
            // A REP socket must answer every request it read before it reads the next.
            guard send(answer(request), on: socket) else { return }
        }
    }

    /// Version, request id, domain, address, routing id, mechanism, then the credentials.
    private func answer(_ frames: [[UInt8]]) -> [[UInt8]] {
        guard frames.count >= 6, frames[0] == Array("1.0".utf8) else {
            return reply(frames.count > 1 ? frames[1] : [], code: "500", text: "malformed ZAP request")
        }
        let domainName = String(decoding: frames[2], as: UTF8.self)
        let address = String(decoding: frames[3], as: UTF8.self)
        let mechanism = String(decoding: frames[5], as: UTF8.self)
        let key = frames.count == 7 ? try? CurveKey(bytes: frames[6]) : nil
        guard let domain = domains.withLock({ $0[domainName] }) else {
            return reply(frames[1], code: "400", text: "no such ZAP domain")
        }
        guard mechanism == "CURVE", let key, domain.admitted.contains(key) else {
            domain.refused(address, key)
            return reply(frames[1], code: "400", text: "public key not listed")
        }
        return reply(frames[1], code: "200", text: "OK", userID: Array(key.z85.utf8))
    }

    private func reply(_ requestID: [UInt8], code: String, text: String, userID: [UInt8] = []) -> [[UInt8]] {
        [Array("1.0".utf8), requestID, Array(code.utf8), Array(text.utf8), userID, []]
    }

    /// One whole request, or `nil` once the context is shutting down.
    private func receive(_ socket: UnsafeMutableRawPointer) -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        while true {
            if zmq_msg_recv(&message, socket, 0) < 0 {
                if zmq_errno() == EINTR { continue }
                return nil
            }
            let count = zmq_msg_size(&message)
            frames.append(count == 0 ? [] : Array(UnsafeRawBufferPointer(start: zmq_msg_data(&message), count: count)))
            if zmq_msg_more(&message) == 0 { return frames }
        }
    }

    private func send(_ frames: [[UInt8]], on socket: UnsafeMutableRawPointer) -> Bool {
        for (index, frame) in frames.enumerated() {
            let flags = index + 1 < frames.count ? ZMQ_SNDMORE : 0
            while frame.withUnsafeBytes({ zmq_send(socket, $0.baseAddress, $0.count, flags) }) < 0 {
                guard zmq_errno() == EINTR else { return false }
            }
        }
        return true
    }
}

/// A libzmq context pointer handed to the ZAP thread.
private struct ContextHandle: @unchecked Sendable {
    // Sendable: libzmq contexts are thread-safe; the pointer itself never changes.
    let pointer: UnsafeMutableRawPointer
}
