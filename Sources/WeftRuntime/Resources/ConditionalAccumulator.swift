import Synchronization

/// TensorFlow's `ConditionalAccumulator`: sums the gradients replicas apply for the current
/// global step (a gradient computed at an older step, `local_step < global_step`, is dropped),
/// and hands out their average (or sum) once enough arrived. Taking it resets the sum and
/// advances the accumulator's global step, so the replicas' late gradients are stale.
public final class ConditionalAccumulatorResource: Sendable {
    /// How the taken gradient combines the accumulated ones.
    public enum Reduction: String, Sendable {
        /// The sum divided by the number of gradients (TensorFlow's default).
        case mean = "MEAN"
        /// The sum.
        case sum = "SUM"
    }

    /// The accumulator's name, as messages print it.
    public let name: String
    /// The dtype of every gradient (float, double).
    public let dtype: DType
    /// The shape every gradient must fit.
    public let shape: PartialShape
    /// Mean or sum.
    public let reduction: Reduction

    private struct State {
        var sum: [Double]?
        var sumShape: TensorShape?
        var counter = 0
        var globalStep: Int64 = 0
        /// Takes waiting for `request` gradients, in arrival order.
        var takes = PendingWaits<Int, Tensor>()
    }
    private let state = Mutex(State())

    /// Makes an empty accumulator at global step 0.
    public init(name: String, dtype: DType, shape: PartialShape, reduction: Reduction) throws(WeftError) {
        guard dtype == .float || dtype == .double else {
            throw WeftError(
                .invalidArgument,
                "ConditionalAccumulator \(name) accumulates float or double, not \(dtype)"
            )
        }
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.reduction = reduction
    }

    /// The number of gradients accumulated for the current step.
    public var count: Int { state.withLock { $0.counter } }

    /// The accumulator's global step.
    public var globalStep: Int64 { state.withLock { $0.globalStep } }

    /// Sets the global step; TensorFlow allows going back (and only logs it).
    public func setGlobalStep(_ step: Int64) {
        state.withLock { $0.globalStep = step }
    }

    /// Adds `gradient` unless it is stale, then serves the takes it completes.
    public func apply(_ gradient: Tensor, localStep: Int64, node: String) throws(WeftError) {
        guard gradient.dtype == dtype else {
            throw .invalidArgument("Accumulator \(name) takes \(dtype) gradients, got \(gradient.dtype)", node: node)
        }
        guard shape.isCompatible(with: PartialShape(gradient.shape)) else {
            throw .invalidArgument("Shape mismatch: expected \(shape), got \(gradient.shape)", node: node)
        }
        let values = gradient.doubleValues
        let completions = try state.withLock { (state: inout State) throws(WeftError) -> [Completion] in
            guard localStep >= state.globalStep else { return [] }
            if let sum = state.sum, let sumShape = state.sumShape {
                guard sumShape == gradient.shape else {
                    throw .invalidArgument("Shape mismatch: expected \(sumShape), got \(gradient.shape)", node: node)
                }
                state.sum = zip(sum, values).map { $0 + $1 }
            } else {
                state.sum = values
                state.sumShape = gradient.shape
            }
            state.counter += 1
            return serve(&state)
        }
        for completion in completions { completion() }
    }

    /// The reduced gradient once `required` gradients arrived: now, or through `done` later.
    /// Returns `nil` when the caller was parked; its id is then in `parked`.
    public func take(
        _ required: Int,
        node: String,
        parked: (Int) -> Void,
        done: @escaping @Sendable (Result<Tensor, WeftError>) -> Void
    ) throws(WeftError) -> Tensor? {
        guard required > 0 else {
            throw .invalidArgument("Argument num_required must be positive, but was \(required)", node: node)
        }
        return try state.withLock { (state: inout State) throws(WeftError) -> Tensor? in
            if state.takes.isEmpty, state.counter >= required { return try reduce(&state) }
            parked(state.takes.park(required, done: done))
            return nil
        }
    }

    /// Ends the parked take `id` with `error`, unless it was served meanwhile.
    public func cancelTake(_ id: Int, _ error: WeftError) {
        state.withLock { $0.takes.remove(id) }?.done(.failure(error))
    }

    /// Serves the takes, oldest first, that the gradients accumulated now satisfy.
    private func serve(_ state: inout State) -> [Completion] {
        var completions: [Completion] = []
        while let waiter = state.takes.first, state.counter >= waiter.request {
            _ = state.takes.removeFirst()
            let result: Result<Tensor, WeftError>
            do throws(WeftError) { result = .success(try reduce(&state)) } catch { result = .failure(error) }
            completions.append { waiter.done(result) }
        }
        return completions
    }

    /// The sum or mean of the accumulated gradients; resets them and advances the global step.
    private func reduce(_ state: inout State) throws(WeftError) -> Tensor {
        let divisor = reduction == .mean ? Double(state.counter) : 1
        let values = (state.sum ?? []).map { $0 / divisor }
        let shape = state.sumShape ?? TensorShape([])
        state.sum = nil
        state.sumShape = nil
        state.counter = 0
        state.globalStep += 1
        return dtype == .float ? try Tensor(values.map { Float($0) }, shape: shape) : try Tensor(values, shape: shape)
    }
}
