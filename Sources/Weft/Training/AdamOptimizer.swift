import WeftRuntime

/// TensorFlow 1.x's `AdamOptimizer` (Kingma and Ba): slots `m` and `v` (`w/Adam`,
/// `w/Adam_1`), and the variables `beta1_power` and `beta2_power`, colocated with the first
/// variable by name, which `finish` multiplies by β₁ and β₂ after every step. Dense gradients
/// use `ApplyAdam`; sparse ones TensorFlow's own ops: decay `m` and `v` whole, add the rows.
public final class AdamOptimizer: Optimizer, @unchecked Sendable {  // Sendable: only `let`s.
    private let beta1: Hyperparameter
    private let beta2: Hyperparameter

    /// Makes the optimizer.
    public init(
        learningRate: Hyperparameter = 0.001,
        beta1: Hyperparameter = 0.9,
        beta2: Hyperparameter = 0.999,
        epsilon: Hyperparameter = 1e-8,
        useLocking: Bool = false,
        name: String = "Adam"
    ) {
        self.beta1 = beta1
        self.beta2 = beta2
        super.init(
            name: name,
            useLocking: useLocking,
            hyperparameters: [
                ("learning_rate", learningRate), ("beta1", beta1), ("beta2", beta2), ("epsilon", epsilon),
            ]
        )
    }

    override func createSlots(for variables: [Variable]) {
        // TensorFlow orders by tensor name, `w:0`.
        guard let first = variables.min(by: { $0.name + ":0" < $1.name + ":0" }) else { return }
        _ = nonSlotVariable("beta1_power", startingAt: beta1, colocatedWith: first)
        _ = nonSlotVariable("beta2_power", startingAt: beta2, colocatedWith: first)
        for variable in variables {
            makeSlot("m", for: variable, startingAt: .zeros)
            makeSlot("v", for: variable, startingAt: .zeros)
        }
    }

    /// `beta1_power` and `beta2_power` of `graph`, read and cast to `dtype`.
    private func betaPowers(in graph: Graph, as dtype: DType) -> (Output, Output)? {
        guard let beta1Power = nonSlotVariable("beta1_power", in: graph),
            let beta2Power = nonSlotVariable("beta2_power", in: graph)
        else { return nil }
        func read(_ variable: Variable) -> Output {
            variable.value.dtype == dtype ? variable.value : cast(variable.value, to: dtype)
        }
        return (read(beta1Power), read(beta2Power))
    }

    override func applyDense(_ gradient: Output, to variable: Variable, _ prepared: Prepared) -> Operation {
        let dtype = variable.dtype
        guard let (beta1Power, beta2Power) = betaPowers(in: variable.operation.graph, as: dtype) else {
            preconditionFailure("createSlots makes the beta powers before any update")
        }
        return training(
            "ApplyAdam",
            [
                variable.output, makeSlot("m", for: variable, startingAt: .zeros).output,
                makeSlot("v", for: variable, startingAt: .zeros).output, beta1Power, beta2Power,
                prepared("learning_rate", as: dtype), prepared("beta1", as: dtype), prepared("beta2", as: dtype),
                prepared("epsilon", as: dtype), gradient,
            ],
            dtype: dtype,
            attributes: ["use_nesterov": .bool(false)]
        )
    }

    /// TensorFlow's `_apply_sparse_shared`: `m = β₁m`, then `m[rows] += (1-β₁)g`; `v = β₂v`,
    /// then `v[rows] += (1-β₂)g²`; `var -= lr·√(1-β₂ᵗ)/(1-β₁ᵗ) · m / (√v + ε)`.
    override func applySparse(_ gradient: IndexedSlices, to variable: Variable, _ prepared: Prepared) -> Operation {
        let dtype = variable.dtype
        guard let (beta1Power, beta2Power) = betaPowers(in: variable.operation.graph, as: dtype) else {
            preconditionFailure("createSlots makes the beta powers before any update")
        }
        let graph = variable.operation.graph
        let (beta1, beta2) = (prepared("beta1", as: dtype), prepared("beta2", as: dtype))
        let rate = prepared("learning_rate", as: dtype) * sqrt(1 - beta2Power) / (1 - beta1Power)
        let values = gradient.values
        let m = makeSlot("m", for: variable, startingAt: .zeros)
        let mScaled = values * (1 - beta1)
        let mDecayed = update("Assign", m, m.value * beta1)
        let mNew = graph.controlDependencies(on: [mDecayed.operation]) {
            scatter("ScatterAdd", m, gradient.indices, mScaled)
        }
        let v = makeSlot("v", for: variable, startingAt: .zeros)
        let vScaled = (values * values) * (1 - beta2)
        let vDecayed = update("Assign", v, v.value * beta2)
        let vNew = graph.controlDependencies(on: [vDecayed.operation]) {
            scatter("ScatterAdd", v, gradient.indices, vScaled)
        }
        let step = rate * mNew / (sqrt(vNew) + prepared("epsilon", as: dtype))
        let moved = update("AssignSub", variable, step)
        return group([moved.operation, mNew.operation, vNew.operation])
    }

    /// After every update: `beta1_power *= β₁`, `beta2_power *= β₂`, next to `beta1_power`.
    override func finish(_ updates: [Operation], name: String, _ prepared: Prepared) -> Operation {
        guard let graph = updates.first?.graph,
            let beta1Power = nonSlotVariable("beta1_power", in: graph),
            let beta2Power = nonSlotVariable("beta2_power", in: graph)
        else { return group(updates, name: name) }
        let advances = graph.controlDependencies(on: updates) {
            graph.colocate(with: beta1Power.operation) {
                [
                    update("Assign", beta1Power, beta1Power.value * prepared("beta1")).operation,
                    update("Assign", beta2Power, beta2Power.value * prepared("beta2")).operation,
                ]
            }
        }
        return group(updates + advances, name: name)
    }
}
