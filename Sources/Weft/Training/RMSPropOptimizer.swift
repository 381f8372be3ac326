import WeftRuntime

/// TensorFlow 1.x's `RMSPropOptimizer`: `ms = decay·ms + (1-decay)·g²`,
/// `mom = momentum·mom + lr·g/√(ms + ε)`, `var -= mom` (`ApplyRMSProp`); when centered, the
/// mean gradient `mg` too and `√(ms - mg² + ε)` (`ApplyCenteredRMSProp`). Slots `rms`
/// (starting at 1), `mg` when centered, and `momentum`: `w/RMSProp`, `w/RMSProp_1`, ….
public final class RMSPropOptimizer: Optimizer, @unchecked Sendable {  // Sendable: only `let`s.
    /// Whether the update divides by the variance rather than the second moment.
    public let centered: Bool

    /// Makes the optimizer.
    public init(
        learningRate: Hyperparameter,
        decay: Hyperparameter = 0.9,
        momentum: Hyperparameter = 0.0,
        epsilon: Hyperparameter = 1e-10,
        useLocking: Bool = false,
        centered: Bool = false,
        name: String = "RMSProp"
    ) {
        self.centered = centered
        super.init(
            name: name,
            useLocking: useLocking,
            hyperparameters: [
                ("learning_rate", learningRate), ("decay", decay), ("momentum", momentum), ("epsilon", epsilon),
            ]
        )
    }

    override func createSlots(for variables: [Variable]) {
        for variable in variables { _ = slotInputs(of: variable) }
    }

    /// The slots in the order the ops take them: `mg` (when centered), `rms`, `momentum`;
    /// made in TensorFlow's order, `rms` first.
    private func slotInputs(of variable: Variable) -> [Output] {
        let rms = makeSlot("rms", for: variable, startingAt: .ones).output
        let meanGradient = centered ? [makeSlot("mg", for: variable, startingAt: .zeros).output] : []
        let momentum = makeSlot("momentum", for: variable, startingAt: .zeros).output
        return meanGradient + [rms, momentum]
    }

    private func rates(_ prepared: Prepared, _ dtype: DType) -> [Output] {
        ["learning_rate", "decay", "momentum", "epsilon"].map { prepared($0, as: dtype) }
    }

    override func applyDense(_ gradient: Output, to variable: Variable, _ prepared: Prepared) -> Operation {
        training(
            centered ? "ApplyCenteredRMSProp" : "ApplyRMSProp",
            [variable.output] + slotInputs(of: variable) + rates(prepared, variable.dtype) + [gradient],
            dtype: variable.dtype
        )
    }

    override func applySparse(_ gradient: IndexedSlices, to variable: Variable, _ prepared: Prepared) -> Operation {
        training(
            centered ? "SparseApplyCenteredRMSProp" : "SparseApplyRMSProp",
            [variable.output] + slotInputs(of: variable) + rates(prepared, variable.dtype)
                + [gradient.values, gradient.indices],
            dtype: variable.dtype,
            indices: gradient.indices.dtype
        )
    }
}
