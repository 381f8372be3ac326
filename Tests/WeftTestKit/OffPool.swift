import Foundation

/// Runs blocking test code (child processes, `waitpid`, sessions' synchronous `run`) on a
/// thread of its own, in the calling task, and awaits it.
///
/// Swift Testing runs tests on the cooperative pool, which has one thread per core: a test
/// that blocks for seconds there starves the async tests beside it (on two cores, a 300 ms
/// timeout was seen to fire after 1.3 s). Running in the same task (a task-executor
/// preference, not a detached thread) keeps the test's task-locals, so `#expect` failures
/// inside are still reported against the test.
public func offTheCooperativePool<T: Sendable>(_ body: () throws -> T) async throws -> T {
    try await withTaskExecutorPreference(ThreadPerJobExecutor.shared) { try body() }
}

/// Runs every job on a new thread: jobs here block for seconds, so they share no threads.
final class ThreadPerJobExecutor: TaskExecutor {
    static let shared = ThreadPerJobExecutor()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        Thread.detachNewThread { job.runSynchronously(on: executor) }
    }
}
