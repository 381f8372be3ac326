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

/// How a waiting kernel's wait ends when its step does.
enum BlockingWait {
    /// Ends the wait of a parked caller with `cancel` when the step is cancelled or passes its
    /// deadline; `cancel` does nothing for a caller already served.
    static func watch(
        _ context: OpKernelContext,
        what: String,
        cancel: @escaping @Sendable (WeftError) -> Void
    ) {
        let cancellation = context.step.cancellation
        cancellation.onCancel(cancel)
        guard let deadline = cancellation.deadline else { return }
        let remaining = max(deadline - .now, .zero)
        let (seconds, attoseconds) = remaining.components
        let nanoseconds = Int(clamping: seconds) &* 1_000_000_000 &+ Int(attoseconds / 1_000_000_000)
        let node = context.node
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(max(nanoseconds, 0))) {
            cancel(WeftError(.deadlineExceeded, "\(what) passed the step's deadline while it waited (node '\(node)')"))
        }
    }
}
