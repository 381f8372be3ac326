import WeftRuntime

/// A new `int64` variable `global_step` starting at 0: the step counter an optimizer's
/// `applyGradients(…, globalStep:)` advances and learning-rate schedules read
/// (TensorFlow's `tf.compat.v1.train.create_global_step`).
public func createGlobalStep(name: String = "global_step") -> Variable {
    Variable(Int64(0), name: name)
}

/// `learningRate · decayRate^(globalStep / decaySteps)`, the exponent floored when
/// `staircase`: TensorFlow's `tf.compat.v1.train.exponential_decay`, computed in the
/// learning rate's type (`float32` for a number).
public func exponentialDecay(
    learningRate: Hyperparameter,
    globalStep: Output,
    decaySteps: Double,
    decayRate: Double,
    staircase: Bool = false,
    name: String? = nil
) -> Output {
    let graph = globalStep.operation.graph
    return graph.asDefault {
        opScope(graph, name, default: "ExponentialDecay") { opName in
            let initial = learningRate.output(name: "initial_learning_rate")
            let dtype = initial.dtype
            let steps = cast(constant(Float(decaySteps)), to: dtype)
            let rate = cast(constant(Float(decayRate)), to: dtype)
            let progress = cast(globalStep, to: dtype) / steps
            let exponent = staircase ? unary("Floor", progress, name: nil) : progress
            return multiply(initial, pow(rate, exponent), name: opName)
        }
    }
}

/// `values[0]` up to and including `boundaries[0]`, `values[i]` after `boundaries[i-1]` up to
/// `boundaries[i]`, and the last value after the last boundary: TensorFlow's
/// `tf.compat.v1.train.piecewise_constant`, values as `float32`. There must be one more value
/// than boundaries, else the graph records an `invalidArgument`.
public func piecewiseConstant(
    _ step: Output,
    boundaries: [Int],
    values: [Double],
    name: String? = nil
) -> Output {
    let graph = step.graph
    return graph.asDefault {
        opScope(graph, name, default: "PiecewiseConstant") { opName in
            guard values.count == boundaries.count + 1, let last = values.last else {
                graph.recordError(
                    WeftError(
                        .invalidArgument,
                        "The length of boundaries (\(boundaries.count)) should be 1 less than the length of values (\(values.count))"
                    )
                )
                return constant(Float.nan, name: opName)
            }
            // Chosen from the last interval backwards, so the first boundary not below the
            // step picks its value, as TensorFlow's exclusive `case` does.
            var chosen = constant(Float(last))
            for index in boundaries.indices.reversed() {
                var limit = constant(boundaries[index])
                if limit.dtype != step.dtype { limit = cast(limit, to: step.dtype) }
                let within = graph.addOperation(
                    "LessEqual",
                    inputs: [step, limit],
                    attributes: ["T": .type(step.dtype)]
                )
                chosen = graph.addOperation(
                    "SelectV2",
                    name: index == 0 ? opName : nil,
                    inputs: [within.output(), constant(Float(values[index])), chosen],
                    attributes: ["T": .type(.float)]
                ).output()
            }
            return boundaries.isEmpty ? identity(chosen, name: opName) : chosen
        }
    }
}
