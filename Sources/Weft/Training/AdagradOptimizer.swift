import WeftRuntime

/// TensorFlow 1.x's `AdagradOptimizer`: `accumulator += gradient²`,
/// `var -= learning_rate * gradient / √accumulator` (`ApplyAdagrad`). Slot `accumulator`
/// (`w/Adagrad`), starting at `initialAccumulatorValue`, which must be positive.
public final class AdagradOptimizer: Optimizer, @unchecked Sendable {  // Sendable: only `let`s.
    /// The accumulators' start.
    public let initialAccumulatorValue: Double

    /// Makes the optimizer.
    public init(
        learningRate: Hyperparameter,
        initialAccumulatorValue: Double = 0.1,
        useLocking: Bool = false,
        name: String = "Adagrad"
    ) {
        self.initialAccumulatorValue = initialAccumulatorValue
        super.init(name: name, useLocking: useLocking, hyperparameters: [("learning_rate", learningRate)])
    }

    override func createSlots(for variables: [Variable]) {
        guard initialAccumulatorValue > 0 else {
            // TensorFlow refuses this when the optimizer is made; Weft records it when it is used.
            variables.first?.operation.graph.recordError(
                WeftError(.invalidArgument, "initial_accumulator_value must be positive: \(initialAccumulatorValue)")
            )
            return
        }
        for variable in variables { accumulator(of: variable) }
    }

    override func applyDense(_ gradient: Output, to variable: Variable, _ prepared: Prepared) -> Operation {
        training(
            "ApplyAdagrad",
            [variable.output, accumulator(of: variable), prepared("learning_rate", as: variable.dtype), gradient],
            dtype: variable.dtype,
            attributes: ["update_slots": .bool(true)]
        )
    }

    override func applySparse(_ gradient: IndexedSlices, to variable: Variable, _ prepared: Prepared) -> Operation {
        training(
            "SparseApplyAdagrad",
            [
                variable.output, accumulator(of: variable), prepared("learning_rate", as: variable.dtype),
                gradient.values, gradient.indices,
            ],
            dtype: variable.dtype,
            indices: gradient.indices.dtype,
            attributes: ["update_slots": .bool(true)]
        )
    }

    @discardableResult
    private func accumulator(of variable: Variable) -> Output {
        makeSlot("accumulator", for: variable, startingAt: .value(initialAccumulatorValue)).output
    }
}
