import Synchronization

/// TensorFlow's `FIFOQueue`: elements (tuples of tensors) leave in the order they came. A
/// dequeue from an empty queue, and an enqueue into a full one, wait for another step; closing
/// fails the dequeues that can no longer be served, and refuses later enqueues.
public final class FIFOQueueResource: Sendable {
    /// One element: a tensor per component.
    public typealias Element = [Tensor]

    /// The queue's name, as messages print it.
    public let name: String
    /// The dtype of each component.
    public let componentTypes: [DType]
    /// The shape of each component, or empty for any shapes.
    public let shapes: [PartialShape]
    /// The most elements it holds; `nil` for no bound.
    public let capacity: Int?

    private struct State {
        var elements: [Element] = []
        var closed = false
        var dequeues = PendingWaits<Void, Element>()
        /// Enqueues waiting for room, with the elements they have not placed yet.
        var enqueues = PendingWaits<Void, Void>()
        var pendingElements: [Int: [Element]] = [:]
    }
    private let state = Mutex(State())

    /// Makes an empty, open queue.
    public init(name: String, componentTypes: [DType], shapes: [PartialShape], capacity: Int?) {
        self.name = name
        self.componentTypes = componentTypes
        self.shapes = shapes
        self.capacity = capacity
    }

    /// The number of elements held.
    public var size: Int { state.withLock { $0.elements.count } }

    /// Adds `elements` (checked by the caller): now when there is room (returns `true`), or,
    /// when full, through `done` once all are placed (`parked` gets the caller's id).
    public func enqueue(
        _ elements: [Element],
        parked: (Int) -> Void,
        done: @escaping @Sendable (Result<Void, WeftError>) -> Void
    ) throws(WeftError) -> Bool {
        let (placed, completions) = try state.withLock {
            (state: inout State) throws(WeftError) -> (Bool, [Completion]) in
            guard !state.closed else { throw closedError }
            var remaining = elements[...]
            while !remaining.isEmpty, state.enqueues.isEmpty, hasRoom(state) {
                state.elements.append(remaining.removeFirst())
            }
            if !remaining.isEmpty {
                let id = state.enqueues.park((), done: done)
                state.pendingElements[id] = Array(remaining)
                parked(id)
            }
            return (remaining.isEmpty, serve(&state))
        }
        for completion in completions { completion() }
        return placed
    }

    /// The oldest element: now when there is one, or through `done` later (`parked` gets the
    /// caller's id). A closed queue with nothing left is TensorFlow's `outOfRange`.
    public func dequeue(
        parked: (Int) -> Void,
        done: @escaping @Sendable (Result<Element, WeftError>) -> Void
    ) throws(WeftError) -> Element? {
        let (element, completions) = try state.withLock {
            (state: inout State) throws(WeftError) -> (Element?, [Completion]) in
            if state.dequeues.isEmpty, !state.elements.isEmpty {
                let element = state.elements.removeFirst()
                return (element, serve(&state))
            }
            guard !state.closed || !state.enqueues.isEmpty else { throw insufficientError(state) }
            parked(state.dequeues.park((), done: done))
            return (nil, [])
        }
        for completion in completions { completion() }
        return element
    }

    /// Ends the parked caller `id` (a dequeue or an enqueue) with `error`, unless it was served.
    public func cancelWait(_ id: Int, _ error: WeftError) {
        let completion: Completion? = state.withLock { state in
            if let waiter = state.dequeues.remove(id) { return { waiter.done(.failure(error)) } }
            if let waiter = state.enqueues.remove(id) {
                state.pendingElements[id] = nil
                return { waiter.done(.failure(error)) }
            }
            return nil
        }
        completion?()
    }

    /// Closes the queue: later enqueues fail, and dequeues fail once it is empty; with
    /// `cancelPendingEnqueues`, the enqueues waiting for room fail now.
    public func close(cancelPendingEnqueues: Bool) {
        let completions = state.withLock { state -> [Completion] in
            state.closed = true
            var completions: [Completion] = []
            if cancelPendingEnqueues {
                state.pendingElements.removeAll()
                let error = closedError
                completions += state.enqueues.removeAll().map { waiter in { waiter.done(.failure(error)) } }
            }
            return completions + serve(&state)
        }
        for completion in completions { completion() }
    }

    private var closedError: WeftError { WeftError(.cancelled, "FIFOQueue '\(name)' is closed.") }

    private func insufficientError(_ state: State) -> WeftError {
        WeftError(
            .outOfRange,
            "FIFOQueue '\(name)' is closed and has insufficient elements (requested 1, current size \(state.elements.count))"
        )
    }

    private func hasRoom(_ state: State) -> Bool {
        capacity.map { state.elements.count < $0 } ?? true
    }

    /// Moves waiting enqueues' elements in while there is room and hands elements to waiting
    /// dequeues, until neither can go on; a closed queue fails the dequeues left unserved.
    private func serve(_ state: inout State) -> [Completion] {
        var completions: [Completion] = []
        var progressed = true
        while progressed {
            progressed = false
            while let waiter = state.enqueues.first, hasRoom(state) {
                var pending = state.pendingElements[waiter.id] ?? []
                if !pending.isEmpty { state.elements.append(pending.removeFirst()) }
                if pending.isEmpty {
                    state.pendingElements[waiter.id] = nil
                    _ = state.enqueues.removeFirst()
                    completions.append { waiter.done(.success(())) }
                } else {
                    state.pendingElements[waiter.id] = pending
                }
                progressed = true
            }
            while !state.elements.isEmpty, let waiter = state.dequeues.removeFirst() {
                let element = state.elements.removeFirst()
                completions.append { waiter.done(.success(element)) }
                progressed = true
            }
        }
        if state.closed, state.elements.isEmpty, state.enqueues.isEmpty {
            let error = insufficientError(state)
            completions += state.dequeues.removeAll().map { waiter in { waiter.done(.failure(error)) } }
        }
        return completions
    }
}
