import Dispatch
import Synchronization

/// The one serial executor of a process's role (coordinator, worker, client session): its
/// control events (requests, answers to its own requests, timers) run here one at a time, as
/// tasks that prefer this executor, and its timers are tasks sleeping on `sleep(for:)`.
///
/// Its thread is not one of Swift's cooperative pool: a process whose user code blocks every
/// pool thread in a synchronous `Session.run` (`LocalCluster`, scripts) still renews leases
/// and sends heartbeats. For the same reason `sleep(for:)` waits on this executor's own clock
/// rather than the pool's, whose wake-ups need a free pool thread.
///
/// The data path stays off it: a step's requests and replies are handled on the transport's
/// I/O thread, so a step gains no thread hand-off (see `Coordinator` and `Worker`).
final class RoleExecutor: SerialExecutor, TaskExecutor {
    private let queue: DispatchQueue
    /// The timers sleeping now, woken with `false` by `cancelTimers`.
    private let sleepers = Mutex<(next: UInt64, waiting: [UInt64: Promise<Bool>], cancelled: Bool)>((0, [:], false))

    /// Makes the executor of the role named `label` (for debuggers and logs).
    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async {
            job.runSynchronously(isolatedTo: self.asUnownedSerialExecutor(), taskExecutor: self.asUnownedTaskExecutor())
        }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Runs `body` on this executor as a new task: how events from other threads (the I/O
    /// thread's callbacks) reach the role's state machine.
    @discardableResult
    func task(_ body: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        Task(executorPreference: self, operation: body)
    }

    /// Runs `body` after `delay` unless the timers were cancelled first (the role stopped).
    @discardableResult
    func after(_ delay: Duration, _ body: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        task {
            guard (try? await self.sleep(for: delay)) != nil else { return }
            await body()
        }
    }

    /// Waits `duration` on this executor's clock. Throws `CancellationError` when the calling
    /// task is cancelled or `cancelTimers` runs meanwhile, so a stopped role's timers end at once.
    func sleep(for duration: Duration) async throws(CancellationError) {
        let fired = Promise<Bool>()
        let id: UInt64? = sleepers.withLock { state in
            guard !state.cancelled else { return nil }
            state.next += 1
            state.waiting[state.next] = fired
            return state.next
        }
        guard let id else { throw CancellationError() }
        queue.asyncAfter(deadline: .now() + duration.dispatchInterval) { fired.complete(true) }
        let slept = await withTaskCancellationHandler {
            await fired.value
        } onCancel: {
            fired.complete(false)
        }
        _ = sleepers.withLock { $0.waiting.removeValue(forKey: id) }
        guard slept else { throw CancellationError() }
    }

    /// Ends every timer sleeping now and refuses new ones: called when the role stops.
    func cancelTimers() {
        let waiting = sleepers.withLock { state in
            state.cancelled = true
            defer { state.waiting.removeAll() }
            return Array(state.waiting.values)
        }
        for timer in waiting { timer.complete(false) }
    }
}
