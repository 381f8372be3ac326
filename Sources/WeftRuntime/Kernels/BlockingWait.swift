import Dispatch
import Synchronization

/// The kernels that wait for another step (a queue's dequeue, an accumulator's take) park a
/// completion with their resource, keeping no thread blocked, and end it from whichever comes
/// first: the resource serving it, the step's cancellation (an abort, the session's close) or
/// the step's deadline.
struct PendingWaits<Request: Sendable, Output: Sendable>: Sendable {
    /// One parked caller.
    struct Waiter: Sendable {
        let id: Int
        let request: Request
        let done: @Sendable (Result<Output, WeftError>) -> Void
    }

    private(set) var waiters: [Waiter] = []
    private var nextID = 0

    /// Parks a caller; returns its id, which `remove` takes.
    mutating func park(_ request: Request, done: @escaping @Sendable (Result<Output, WeftError>) -> Void) -> Int {
        nextID += 1
        waiters.append(Waiter(id: nextID, request: request, done: done))
        return nextID
    }

    /// Takes the caller `id` out, when it still waits.
    mutating func remove(_ id: Int) -> Waiter? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index)
    }

    /// Takes the longest-waiting caller out.
    mutating func removeFirst() -> Waiter? {
        waiters.isEmpty ? nil : waiters.removeFirst()
    }

    /// Takes every caller out.
    mutating func removeAll() -> [Waiter] {
        defer { waiters.removeAll() }
        return waiters
    }

    /// The longest-waiting caller, left parked.
    var first: Waiter? { waiters.first }
    /// Whether nobody waits.
    var isEmpty: Bool { waiters.isEmpty }
}

/// What a completion does when run outside the resource's lock.
typealias Completion = @Sendable () -> Void

/// How a waiting kernel's wait ends when its step does: the step's cancellation and a timer at
/// its deadline end it, and both are dropped once the wait ended otherwise, so a long run of
/// waiting steps (synchronous replicas' token dequeues) leaves no timers behind.
final class BlockingWait: Sendable {
    /// A deadline timer. Sendable: libdispatch's work items may be cancelled from any thread.
    private final class Timer: @unchecked Sendable {
        let item: DispatchWorkItem
        init(_ body: @escaping @Sendable () -> Void) { item = DispatchWorkItem(block: body) }
    }

    private struct State {
        var finished = false
        var timer: Timer?
        var handler: Int?
    }
    private let state = Mutex(State())
    private let cancellation: StepCancellation

    /// A wait of the step `context` runs.
    init(_ context: OpKernelContext) {
        cancellation = context.step.cancellation
    }

    /// `done`, dropping the watch first: what the resource calls when it serves the caller.
    func finishing<Output>(
        _ done: @escaping @Sendable (Result<Output, WeftError>) -> Void
    ) -> @Sendable (Result<Output, WeftError>) -> Void {
        { [self] result in
            finish()
            done(result)
        }
    }

    /// Ends the parked caller with `cancel` when the step is cancelled or passes its deadline;
    /// `cancel` does nothing for a caller served meanwhile.
    func watch(_ context: OpKernelContext, what: String, cancel: @escaping @Sendable (WeftError) -> Void) {
        // Registered outside the lock: a step cancelled already calls `cancel` at once, which
        // ends the wait through `finish`.
        let handler = cancellation.onCancel(cancel)
        var timer: Timer?
        var delay = DispatchTimeInterval.never
        if let deadline = cancellation.deadline {
            let node = context.node
            timer = Timer {
                cancel(
                    WeftError(.deadlineExceeded, "\(what) passed the step's deadline while it waited (node '\(node)')")
                )
            }
            let (seconds, attoseconds) = max(deadline - .now, .zero).components
            delay = .nanoseconds(Int(clamping: seconds) &* 1_000_000_000 &+ Int(attoseconds / 1_000_000_000))
        }
        let armed = state.withLock { state -> Bool in
            guard !state.finished else { return false }
            state.timer = timer
            state.handler = handler
            return true
        }
        guard armed else {
            timer?.item.cancel()
            cancellation.removeHandler(handler)
            return
        }
        if let timer { DispatchQueue.global().asyncAfter(deadline: .now() + delay, execute: timer.item) }
    }

    /// Drops the timer and the cancellation handler: the wait ended.
    private func finish() {
        let (timer, handler) = state.withLock { state in
            state.finished = true
            defer { (state.timer, state.handler) = (nil, nil) }
            return (state.timer, state.handler)
        }
        timer?.item.cancel()
        if let handler { cancellation.removeHandler(handler) }
    }
}
