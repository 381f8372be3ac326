import Dispatch
import Foundation
import Synchronization
import Testing

@testable import WeftCluster

/// The serial executor each role's control events and timers run on.
@Suite struct RoleExecutorTests {
    /// Timers fire in the order of their deadlines, one at a time.
    @Test func timersFireInDeadlineOrder() async {
        let executor = RoleExecutor(label: "test.order")
        let fired = Mutex<[Int]>([])
        let done = Promise<Void>()
        for (index, delay) in [30, 10, 20].enumerated() {
            executor.after(.milliseconds(delay)) {
                let count = fired.withLock { order in
                    order.append(index)
                    return order.count
                }
                if count == 3 { done.complete(()) }
            }
        }
        await done.value
        #expect(fired.withLock { $0 } == [1, 2, 0])
    }

    /// A stopped role's timers end at once and new ones never fire.
    @Test func cancelledTimers_neverFire() async throws {
        let executor = RoleExecutor(label: "test.cancel")
        let fired = Atomic<Int>(0)
        let pending = executor.after(.seconds(300)) { fired.add(1, ordering: .relaxed) }
        let started = ContinuousClock.now
        executor.cancelTimers()
        await pending.value
        // Far below the timer's 300 s; the margin is for a 2-core machine whose cooperative
        // pool other suites' synchronous steps hold (seen: 15 s before the await resumed).
        #expect(started.duration(to: .now) < .seconds(60))
        await executor.after(.milliseconds(1)) { fired.add(1, ordering: .relaxed) }.value
        #expect(fired.load(ordering: .relaxed) == 0)
        await #expect(throws: CancellationError.self) { try await executor.sleep(for: .milliseconds(1)) }
    }

    /// The reason the executor has its own thread and clock: with every thread of Swift's
    /// cooperative pool blocked (user code in a synchronous `Session.run`), a role's timer still
    /// fires, so leases are renewed and heartbeats sent.
    @Test func timerFires_whileTheCooperativePoolIsBlocked() async {
        let executor = RoleExecutor(label: "test.blocked")
        let release = DispatchSemaphore(value: 0)
        let poolThreads = ProcessInfo.processInfo.activeProcessorCount + 2
        let blockers = (0..<poolThreads).map { _ in
            Task.detached { release.wait() }
        }
        let fired = DispatchSemaphore(value: 0)
        executor.after(.milliseconds(20)) { fired.signal() }
        let result = fired.wait(timeout: .now() + 10)
        for _ in blockers { release.signal() }
        for blocker in blockers { await blocker.value }
        #expect(result == .success)
    }
}
