import Synchronization
import WeftRuntime

/// The rendezvous of one session on one worker. A `_Send` whose receiver is on this worker
/// hands the tensor over in memory; otherwise `push` sends it to the receiving worker, whose
/// transport handler calls `deliver`. Tensors and waiting receives meet here in either order.
///
/// Pushes are acknowledged: a step's partition reports its result only once every tensor it
/// pushed has arrived (`afterPushes`), so a tensor that cannot be delivered fails the step at
/// once instead of leaving the receiver waiting until the step's deadline.
final class SessionRendezvous: Rendezvous {
    /// Carries tensors of one step to another worker, in one message where it can, and reports
    /// through each push whether it arrived.
    typealias Push = @Sendable (_ pushes: [PushOutbox.Push], _ step: UInt64, _ destination: String) -> Void

    private struct Slot: Hashable {
        var step: UInt64
        var key: String
    }

    private enum Entry {
        case arrived(Result<Tensor?, WeftError>)
        case waiting(@Sendable (Result<Tensor?, WeftError>) -> Void)
    }

    /// The pushes of one step still in flight, and what waits for them.
    private struct Pushes {
        var outstanding = 0
        var error: WeftError?
        var settled: (@Sendable (WeftError?) -> Void)?
    }

    private struct State {
        var entries: [Slot: Entry] = [:]
        var pushes: [UInt64: Pushes] = [:]
        /// Failed steps, so tensors arriving late are dropped rather than kept forever.
        var aborted: [UInt64: WeftError] = [:]
        var abortedOrder: [UInt64] = []
    }

    private let device: String
    private let push: Push
    private let state = Mutex(State())

    /// Makes the rendezvous of `device` (`/job:worker/task:0`); `push` carries tensors to others.
    init(device: String, push: @escaping Push) {
        self.device = device
        self.push = push
    }

    func send(_ sends: [RendezvousSend], step: UInt64) throws(WeftError) {
        let arrived: @Sendable (WeftError?) -> Void = { [weak self] error in self?.pushArrived(step: step, error: error) }
        var remote: [(destination: String, pushes: [PushOutbox.Push])] = []
        for send in sends {
            let destination =
                send.key.split(separator: ";", omittingEmptySubsequences: false).dropFirst().first.map(String.init) ?? ""
            guard destination != device else {
                deliver(key: send.key, step: step, .success(send.tensor))
                continue
            }
            let push = PushOutbox.Push(key: send.key, tensor: send.tensor, arrived: arrived)
            if let group = remote.firstIndex(where: { $0.destination == destination }) {
                remote[group].pushes.append(push)
            } else {
                remote.append((destination, [push]))
            }
        }
        guard !remote.isEmpty else { return }
        let count = remote.reduce(0) { $0 + $1.pushes.count }
        state.withLock { $0.pushes[step, default: Pushes()].outstanding += count }
        for group in remote { push(group.pushes, step, group.destination) }
    }

    private func pushArrived(step: UInt64, error: WeftError?) {
        let settled = state.withLock { state -> (@Sendable (WeftError?) -> Void, WeftError?)? in
            guard var pushes = state.pushes[step] else { return nil }
            pushes.outstanding -= 1
            pushes.error = pushes.error ?? error
            guard pushes.outstanding == 0, let settled = pushes.settled else {
                state.pushes[step] = pushes
                return nil
            }
            state.pushes[step] = nil
            return (settled, pushes.error)
        }
        if let (settled, error) = settled { settled(error) }
    }

    /// Calls `body` once every tensor step `step` pushed has arrived or failed, with the first
    /// failure; at once when nothing is in flight.
    func afterPushes(step: UInt64, _ body: @escaping @Sendable (WeftError?) -> Void) {
        let ready = state.withLock { state -> (Bool, WeftError?) in
            guard var pushes = state.pushes[step], pushes.outstanding > 0 else {
                let error = state.pushes.removeValue(forKey: step)?.error
                return (true, error)
            }
            pushes.settled = body
            state.pushes[step] = pushes
            return (false, nil)
        }
        if ready.0 { body(ready.1) }
    }

    func receive(key: String, step: UInt64, done: @escaping @Sendable (Result<Tensor?, WeftError>) -> Void) {
        let slot = Slot(step: step, key: key)
        let ready = state.withLock { state -> Result<Tensor?, WeftError>? in
            if let error = state.aborted[step] { return .failure(error) }
            if case .arrived(let result)? = state.entries.removeValue(forKey: slot) { return result }
            state.entries[slot] = .waiting(done)
            return nil
        }
        if let ready { done(ready) }
    }

    /// A tensor (`nil` when dead, or a sender's error) for `key` has arrived.
    func deliver(key: String, step: UInt64, _ result: Result<Tensor?, WeftError>) {
        let slot = Slot(step: step, key: key)
        let waiter = state.withLock { state -> (@Sendable (Result<Tensor?, WeftError>) -> Void)? in
            guard state.aborted[step] == nil else { return nil }
            if case .waiting(let done)? = state.entries.removeValue(forKey: slot) { return done }
            state.entries[slot] = .arrived(result)
            return nil
        }
        waiter?(result)
    }

    func abort(step: UInt64, error: WeftError) {
        let waiters = state.withLock { state -> [@Sendable (Result<Tensor?, WeftError>) -> Void] in
            guard state.aborted[step] == nil else { return [] }
            state.aborted[step] = error
            state.abortedOrder.append(step)
            if state.abortedOrder.count > 1024 { state.aborted[state.abortedOrder.removeFirst()] = nil }
            var waiters: [@Sendable (Result<Tensor?, WeftError>) -> Void] = []
            for (slot, entry) in state.entries where slot.step == step {
                if case .waiting(let done) = entry { waiters.append(done) }
                state.entries[slot] = nil
            }
            return waiters
        }
        for waiter in waiters { waiter(.failure(error)) }
    }

    /// Drops whatever a finished step left behind.
    func finish(step: UInt64) {
        state.withLock { state in
            guard state.entries.keys.contains(where: { $0.step == step }) else { return }
            state.entries = state.entries.filter { $0.key.step != step }
        }
    }

    /// Fails every waiting receive: the session is closing.
    func close(error: WeftError) {
        let waiters = state.withLock { state -> [@Sendable (Result<Tensor?, WeftError>) -> Void] in
            let waiters = state.entries.values.compactMap { entry -> (@Sendable (Result<Tensor?, WeftError>) -> Void)? in
                if case .waiting(let done) = entry { return done }
                return nil
            }
            state.entries.removeAll()
            return waiters
        }
        for waiter in waiters { waiter(.failure(error)) }
    }
}
