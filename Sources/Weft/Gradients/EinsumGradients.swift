import WeftRuntime

// The gradient of `Einsum` (TensorFlow's `_EinsumGrad`): each operand's gradient is another
// einsum of the output gradient with the other operand, its labels written back to the
// operand's; labels only that operand had (summed away) are broadcast back.

extension GradientRegistry {
    func registerEinsumGradients() {
        register("Einsum") { context throws(WeftError) in try context.einsumGradients() }
    }
}

extension GradientContext {
    /// One gradient per operand of a one- or two-operand `Einsum`; other equations (`...`,
    /// diagonals, implicit outputs) are refused as unimplemented, naming the node.
    func einsumGradients() throws(WeftError) -> [Gradient?] {
        let equation = try attributes.string("equation").filter { $0 != " " }
        let sides = equation.split(separator: "->", omittingEmptySubsequences: false)
        let operands = sides.first.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(Array.init) }
        guard sides.count == 2, let operands, operands.count == inputs.count, !equation.contains("."),
            (operands + [Array(sides[1])]).allSatisfy({ Set($0).count == $0.count && $0.allSatisfy(\.isLetter) })
        else {
            throw WeftError(
                .unimplemented,
                "the gradient of Einsum '\(equation)' (node '\(operation.name)') is implemented for one or two "
                    + "operands with an explicit output, without '...' or a label repeated within one operand"
            )
        }
        let output = String(sides[1])
        let gradient = try gradient()
        return try inputs.indices.map { (index) throws(WeftError) -> Gradient? in
            let labels = operands[index]
            let other = inputs.count == 2 ? (labels: operands[1 - index], tensor: try input(1 - index)) : nil
            let elsewhere = Set(output).union(other?.labels ?? [])
            let kept = labels.filter { elsewhere.contains($0) }
            let sources = [output] + (other.map { [String($0.labels)] } ?? [])
            var partial = OpBuilder.node(
                "Einsum",
                [gradient] + (other.map { [$0.tensor] } ?? []),
                [
                    "equation": .string(sources.joined(separator: ",") + "->" + String(kept)),
                    "N": .int(sources.count), "T": .type(gradient.dtype),
                ]
            ).output()
            guard kept.count < labels.count else { return .dense(partial) }
            // Labels summed away within this operand: every element had the same influence.
            for (position, label) in labels.enumerated() where !elsewhere.contains(label) {
                partial = OpBuilder.expandDims(partial, axis: position)
            }
            return .dense(OpBuilder.broadcastTo(partial, OpBuilder.shape(try input(index))))
        }
    }
}
