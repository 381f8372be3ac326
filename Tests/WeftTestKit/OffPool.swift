import Foundation

/// Runs blocking test code (child processes, `waitpid`, sessions' synchronous `run`) on a
/// thread of its own and awaits it.
///
/// Swift Testing runs tests on the cooperative pool, which has one thread per core: a test
/// that blocks for seconds there starves the async tests beside it (on two cores, a 300 ms
/// timeout was seen to fire after 1.3 s). Multi-second multi-process tests go through this.
public func offTheCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try body() })
        }
    }
}
