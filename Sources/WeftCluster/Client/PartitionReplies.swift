import Dispatch
import Synchronization
import WeftRuntime
import WeftTransport

/// The replies to one step's partition requests, sent straight to the workers of a direct route.
/// The first failure calls `failed`, which aborts the partitions still running: they may wait
/// for tensors the failed one will never send, until their deadline.
final class PartitionReplies: Sendable {
    typealias Reply = Result<WireMessage, WeftError>

    private struct State {
        var replies: [Reply?]
        var remaining: Int
        var firstFailure: Int?
    }

    private let state: Mutex<State>
    private let failed: @Sendable (_ partition: Int) -> Void
    private let arrived = DispatchSemaphore(value: 0)
    private let all = Promise<Void>()

    /// Waits for `count` replies; `failed` is called once, with the partition that failed first.
    init(count: Int, failed: @escaping @Sendable (_ partition: Int) -> Void) {
        state = Mutex(State(replies: Array(repeating: nil, count: count), remaining: count))
        self.failed = failed
    }

    /// Records partition `partition`'s reply; the first of a partition counts.
    func record(_ partition: Int, _ reply: Reply) {
        let (isFirstFailure, isLast) = state.withLock { state -> (Bool, Bool) in
            guard state.replies[partition] == nil else { return (false, false) }
            state.replies[partition] = reply
            state.remaining -= 1
            var isFirstFailure = false
            if case .failure = reply, state.firstFailure == nil {
                state.firstFailure = partition
                isFirstFailure = true
            }
            return (isFirstFailure, state.remaining == 0)
        }
        if isFirstFailure { failed(partition) }
        guard isLast else { return }
        arrived.signal()
        all.complete(())
    }

    /// Fails every partition that has not replied, without calling `failed`: the caller gave
    /// up on the step, and aborts what runs itself.
    func cancel(_ error: WeftError) {
        let ended = state.withLock { state -> Bool in
            guard state.remaining > 0 else { return false }
            for partition in state.replies.indices where state.replies[partition] == nil {
                state.replies[partition] = .failure(error)
                state.firstFailure = state.firstFailure ?? partition
            }
            state.remaining = 0
            return true
        }
        guard ended else { return }
        arrived.signal()
        all.complete(())
    }

    /// Blocks until every partition replied; the replies and the first failure.
    func wait() -> (replies: [Reply], firstFailure: Int?) {
        arrived.wait()
        return outcome
    }

    /// Awaits every partition's reply; the replies and the first failure.
    func value() async -> (replies: [Reply], firstFailure: Int?) {
        await all.value
        return outcome
    }

    private var outcome: (replies: [Reply], firstFailure: Int?) {
        state.withLock { state in
            (state.replies.map { $0 ?? .failure(WeftError(.internal, "a partition's reply was lost")) }, state.firstFailure)
        }
    }
}
