import Synchronization
import WeftRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a thread blocked in `MessagingNode.requestAndWait` sleeps until its reply arrives.
///
/// A pipe, not a semaphore: a pipe's writer wakes the reader with the kernel's synchronous hint,
/// so the scheduler may run the caller on the CPU of the I/O thread that is about to go idle. A
/// futex wakes it wherever it last ran, which on a virtual machine means an inter-processor
/// interrupt and the resumption of an idle vCPU, about 10 µs of every remote step (`weft bench step`).
/// Waiters are reused, so a request costs one `write` and one `read`.
final class ReplyWaiter: Sendable {
    private let readEnd: Int32
    private let writeEnd: Int32
    private let result = Mutex<Result<WireMessage, WeftError>?>(nil)

    /// Waiters not in use; there are never more than threads that blocked at once.
    private static let spares = Mutex<[ReplyWaiter]>([])

    private init() throws(WeftError) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw WeftError(
                .resourceExhausted,
                "cannot wait for a reply: no pipe could be made (\(String(cString: strerror(errno)))); "
                    + "raise the limit on open files (ulimit -n)"
            )
        }
        readEnd = ends[0]
        writeEnd = ends[1]
        // Not inherited by the processes Weft starts.
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    /// A waiter for one reply, reused when one is free.
    static func make() throws(WeftError) -> ReplyWaiter {
        if let spare = spares.withLock({ $0.popLast() }) { return spare }
        return try ReplyWaiter()
    }

    /// Hands the outcome to the waiting thread and wakes it; called once per `wait`.
    func deliver(_ outcome: Result<WireMessage, WeftError>) {
        result.withLock { $0 = outcome }
        var byte: UInt8 = 1
        while write(writeEnd, &byte, 1) < 0, errno == EINTR {}
    }

    /// Blocks until `deliver` has run, returns its outcome and puts the waiter back for reuse.
    func wait() -> Result<WireMessage, WeftError> {
        var byte: UInt8 = 0
        while read(readEnd, &byte, 1) < 0, errno == EINTR {}
        let outcome = result.withLock { result in
            defer { result = nil }
            return result!  // set before the byte was written
        }
        Self.spares.withLock { $0.append(self) }
        return outcome
    }
}
