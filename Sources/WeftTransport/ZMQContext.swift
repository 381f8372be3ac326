import CZeroMQ
import Synchronization
import WeftRuntime

/// One libzmq context: the I/O threads that move bytes for every socket created in it.
///
/// A process normally needs exactly one, `ZMQContext.shared`. Every `MessagingNode` keeps its
/// context alive until its sockets are closed, so a context outlives the sockets made in it.
public final class ZMQContext: @unchecked Sendable {
    // Sendable: libzmq documents contexts as thread-safe, and `handle` never changes.

    /// The context shared by the whole process, with one libzmq I/O thread (enough for about a
    /// gigabyte per second) and room for 8192 sockets.
    public static let shared = ZMQContext(ioThreads: 1, maxSockets: 8192)

    /// The libzmq context. Never leaves this module.
    let handle: UnsafeMutableRawPointer
    /// The context's ZAP handler, started by the first node that has keys.
    private let zap = Mutex<ZAPService?>(nil)

    /// Makes a context with `ioThreads` libzmq I/O threads that allows `maxSockets` open sockets.
    public init(ioThreads: Int = 1, maxSockets: Int = 8192) {
        // zmq_ctx_new only allocates (libzmq starts its threads lazily), so it fails only when
        // the process is out of memory, which nothing here could recover from.
        guard let handle = zmq_ctx_new() else { preconditionFailure("zmq_ctx_new failed: out of memory") }
        self.handle = handle
        zmq_ctx_set(handle, ZMQ_IO_THREADS, Int32(clamping: max(1, ioThreads)))
        zmq_ctx_set(handle, ZMQ_MAX_SOCKETS, Int32(clamping: max(16, maxSockets)))
    }

    /// Makes blocking calls on every socket of this context fail with `ETERM`, from any thread:
    /// how a thread blocked in `RawSocket.receive()` is told to stop.
    public func shutdown() {
        zmq_ctx_shutdown(handle)
    }

    /// The context's ZAP handler, started on first use.
    func zapService() throws(WeftError) -> ZAPService {
        try zap.withLock { (zap) throws(WeftError) -> ZAPService in
            if let zap { return zap }
            let started = try ZAPService.start(context: handle)
            zap = started
            return started
        }
    }

    deinit {
        // The ZAP handler's thread blocks in a receive until the context shuts down; then it
        // closes its socket, which the termination below waits for.
        if zap.withLock({ $0 != nil }) { zmq_ctx_shutdown(handle) }
        // Returns once every socket made in this context is closed; each socket's owner holds
        // the context, so by now they all are.
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    /// The version of the libzmq library this process runs with, `4.3.4`.
    public static var libraryVersion: String {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
}
