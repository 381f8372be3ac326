import WeftRuntime

/// TensorFlow 1.x's `MomentumOptimizer`: `accumulation = momentum * accumulation + gradient`,
/// `var -= learning_rate * accumulation` (`ApplyMomentum`), or with Nesterov momentum
/// `var -= learning_rate * (gradient + momentum * accumulation)`. Slot `momentum` (`w/Momentum`).
public final class MomentumOptimizer: Optimizer, @unchecked Sendable {  // Sendable: only `let`s.
    /// Whether the update uses Nesterov momentum.
    public let useNesterov: Bool

    /// Makes the optimizer.
    public init(
        learningRate: Hyperparameter,
        momentum: Hyperparameter,
        useLocking: Bool = false,
        name: String = "Momentum",
        useNesterov: Bool = false
    ) {
        self.useNesterov = useNesterov
        super.init(
            name: name,
            useLocking: useLocking,
            hyperparameters: [("learning_rate", learningRate), ("momentum", momentum)]
        )
    }

    override func createSlots(for variables: [Variable]) {
        for variable in variables { makeSlot("momentum", for: variable, startingAt: .zeros) }
    }

    override func applyDense(_ gradient: Output, to variable: Variable, _ prepared: Prepared) -> Operation {
        training(
            "ApplyMomentum",
            [
                variable.output, accumulation(of: variable), prepared("learning_rate", as: variable.dtype), gradient,
                prepared("momentum", as: variable.dtype),
            ],
            dtype: variable.dtype,
            attributes: ["use_nesterov": .bool(useNesterov)]
        )
    }

    override func applySparse(_ gradient: IndexedSlices, to variable: Variable, _ prepared: Prepared) -> Operation {
        training(
            "SparseApplyMomentum",
            [
                variable.output, accumulation(of: variable), prepared("learning_rate", as: variable.dtype),
                gradient.values, gradient.indices, prepared("momentum", as: variable.dtype),
            ],
            dtype: variable.dtype,
            indices: gradient.indices.dtype,
            attributes: ["use_nesterov": .bool(useNesterov)]
        )
    }

    private func accumulation(of variable: Variable) -> Output {
        makeSlot("momentum", for: variable, startingAt: .zeros).output
    }
}
