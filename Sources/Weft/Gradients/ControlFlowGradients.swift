import WeftProto
import WeftRuntime

// Gradients of a cond's Switch and Merge (TensorFlow's control_flow_grad.py, for conds): the
// gradient of a Merge goes back only into the branch that was taken, and a Switch's two
// gradients, one of them dead, merge into one. A while loop is differentiated as a whole
// (WhileLoopGradient.swift); its ops reach these functions only when the xs or ys lie inside it.

extension GradientRegistry {
    func registerControlFlowGradients() {
        for op in ["Merge", "RefMerge"] { register(op, Self.mergeGradient) }
        for op in ["Switch", "RefSwitch"] { register(op, Self.switchGradient) }
        for op in ["Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration"] {
            register(op, Self.loopGradient)
        }
        registerNotDifferentiable("LoopCond", "ControlTrigger")
    }

    /// A Merge of a cond's two branches passes its gradient to the input it forwarded, which its
    /// second output (`value_index`) names; the other input's gradient is dead.
    @Sendable private static func mergeGradient(_ context: GradientContext) throws(WeftError) -> [Gradient?] {
        guard context.inputs.count == 2 else {
            throw WeftError(
                .unimplemented,
                "node '\(context.operation.name)' (\(context.type)) merges \(context.inputs.count) inputs; "
                    + "gradients are implemented for the two-way merges of conds"
            )
        }
        let gradient = try context.gradient()
        let index = try context.output(1)
        let taken = equal(index, OpBuilder.constant(Int32(1), in: index.graph))
        let switched = OpBuilder.node("Switch", [gradient, taken], ["T": .type(gradient.dtype)])
        return [.dense(switched.output(0)), .dense(switched.output(1))]
    }

    /// A Switch's data input gets the merge of its outputs' gradients: only the taken side's is
    /// live (an output no path reached has zeros of itself, dead on the untaken side).
    /// A switched variable handle gets a gradient only on the side that reads it; the other side
    /// gets zeros of the variable's shape there, where TensorFlow's v1 cond leaves it dead.
    @Sendable private static func switchGradient(_ context: GradientContext) throws(WeftError) -> [Gradient?] {
        var sides = [0, 1].map { context.outputGradients[safe: $0].flatMap { $0 }?.densified }
        if context.inputs.first?.dtype == .resource, let live = sides.firstIndex(where: { $0 != nil }),
            let dtype = sides[live]?.dtype, sides[1 - live] == nil
        {
            let handle = try context.output(1 - live)
            sides[1 - live] = OpBuilder.fill(OpBuilder.variableShape(handle), with: 0, dtype: dtype)
        }
        guard let falseSide = sides[0], let trueSide = sides[1] else { return [nil, nil] }
        let gradients = [falseSide, trueSide]
        let merged = OpBuilder.node("Merge", gradients, ["T": .type(gradients[0].dtype), "N": .int(2)])
        return [.dense(merged.output(0)), nil]
    }

    @Sendable private static func loopGradient(_ context: GradientContext) throws(WeftError) -> [Gradient?] {
        throw WeftError(
            .unimplemented,
            "the path from the xs to the ys runs through the while loop of node '\(context.operation.name)' "
                + "(\(context.type)): gradients of TensorFlow 1.x while loops are not implemented"
        )
    }
}
