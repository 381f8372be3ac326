import WeftRuntime

extension Optimizer {
    /// The gradients of `loss` with respect to `variables` (by default every variable made with
    /// `Variable` in the loss's graph), as `tf.gradients` builds them under `gradients/`: rows
    /// (`.sparse`) where a gather reaches a variable, `nil` where the loss does not depend on
    /// one. With `colocateGradientsWithOps`, each op's gradient is built on the op's device, as
    /// TensorFlow's option of that name does. TensorFlow's `compute_gradients`.
    ///
    /// Throws `invalidArgument` for a loss that is not a float, and what `gradients` throws (an
    /// op on the way without a gradient function is `unimplemented`).
    public func computeGradients(
        _ loss: Output,
        variables: [Variable]? = nil,
        colocateGradientsWithOps: Bool = false
    ) throws(WeftError) -> [(Gradient?, Variable)] {
        guard loss.dtype.isFloatingPoint || loss.dtype.isComplex else {
            throw WeftError(
                .invalidArgument,
                "Invalid type \(loss.dtype) for \(loss.name), expected a floating-point or complex type."
            )
        }
        let graph = loss.graph
        let variables = variables ?? graph.builtVariables
        guard !variables.isEmpty else { throw WeftError(.invalidArgument, "No variables to optimize.") }
        let gradients = try graph.gradientsKeepingSlices(
            of: [loss],
            with: variables.map(\.output),
            colocateWithOps: colocateGradientsWithOps
        )
        return Array(zip(gradients, variables))
    }

    /// Builds the op that moves `variables` (by default every variable of the loss's graph that
    /// the loss depends on) one step against the gradient of `loss` and adds 1 to `globalStep`
    /// if given: `computeGradients` then `applyGradients`, TensorFlow's `minimize`.
    ///
    /// Throws `invalidArgument` when the loss depends on none of the variables, and what
    /// `computeGradients` throws.
    @discardableResult
    public func minimize(
        _ loss: Output,
        globalStep: Variable? = nil,
        variables: [Variable]? = nil,
        colocateGradientsWithOps: Bool = false,
        name: String? = nil
    ) throws(WeftError) -> Operation {
        let gradients = try computeGradients(
            loss,
            variables: variables,
            colocateGradientsWithOps: colocateGradientsWithOps
        )
        guard gradients.contains(where: { $0.0 != nil }) else {
            let names = gradients.map(\.1.name).joined(separator: ", ")
            throw WeftError(
                .invalidArgument,
                "No gradients provided for any variable, check your graph for ops that do not support gradients, between variables [\(names)] and loss \(loss.name)."
            )
        }
        return applyGradients(gradients, globalStep: globalStep, name: name)
    }
}

extension Graph {
    /// The variables made with `Variable` in this graph, in creation order: those whose
    /// initializer it recorded, the way TensorFlow's variable collections list them.
    var builtVariables: [Variable] {
        variableInitializers.compactMap { initializer in
            // Control inputs (`^x`) follow the data inputs when a variable is made inside
            // `controlDependencies`.
            guard let assign = node(named: initializer), assign.op == "Assign" || assign.op == "AssignVariableOp",
                case let inputs = assign.input.filter({ !$0.hasPrefix("^") }), inputs.count == 2,
                let variable = operation(named: inputs[0]),
                let read = try? tensor(named: variable.name + (assign.op == "Assign" ? "/read" : "/Read/ReadVariableOp")),
                let initial = try? tensor(named: inputs[1])
            else { return nil }
            return Variable(
                operation: variable,
                initializer: Operation(graph: self, name: initializer),
                value: read,
                initialValue: initial
            )
        }
    }
}

extension Variable {
    /// A variable from the nodes `Variable`'s initializer built.
    init(operation: Operation, initializer: Operation, value: Output, initialValue: Output) {
        self.operation = operation
        self.initializer = initializer
        self.value = value
        self.initialValue = initialValue
        self.output = operation.output(0)
    }
}
