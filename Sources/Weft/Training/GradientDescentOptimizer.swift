import WeftRuntime

/// TensorFlow 1.x's `GradientDescentOptimizer`: `var -= learning_rate * gradient`
/// (`ApplyGradientDescent`); rows of a sparse gradient go through `ScatterSub`, repeated
/// indices included, since subtracting twice is what a repeated row means.
public final class GradientDescentOptimizer: Optimizer, @unchecked Sendable {  // Sendable: no state of its own.
    /// Makes the optimizer.
    public init(learningRate: Hyperparameter, useLocking: Bool = false, name: String = "GradientDescent") {
        super.init(name: name, useLocking: useLocking, hyperparameters: [("learning_rate", learningRate)])
    }

    override func applyDense(_ gradient: Output, to variable: Variable, _ prepared: Prepared) -> Operation {
        training(
            "ApplyGradientDescent",
            [variable.output, prepared("learning_rate", as: variable.dtype), gradient],
            dtype: variable.dtype
        )
    }

    override func applySparseWithDuplicates(
        _ gradient: IndexedSlices,
        to variable: Variable,
        _ prepared: Prepared
    ) -> Operation {
        let delta = gradient.values * prepared("learning_rate", as: variable.dtype)
        return scatter("ScatterSub", variable, gradient.indices, delta).operation
    }
}
