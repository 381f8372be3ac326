import WeftRuntime

// The gradient of `Einsum`, as TensorFlow's `_EinsumGrad` builds it: each operand's gradient
// is another einsum of the output gradient with the other operand (conjugated for complex
// numbers), written back to the operand's labels. Labels only that operand has were summed
// away: the gradient is broadcast over them and written back through an einsum, which also
// puts values back on the diagonals of labels the operand repeats. Batch dimensions under
// `...` that broadcasting stretched are summed back to the operand's shape.

extension GradientRegistry {
    func registerEinsumGradients() {
        register("Einsum") { context throws(WeftError) in try context.einsumGradients() }
    }
}

extension GradientContext {
    /// One gradient per operand of a one- or two-operand `Einsum`.
    func einsumGradients() throws(WeftError) -> [Gradient?] {
        let equation = try attributes.string("equation").filter { $0 != " " }
        let sides = equation.components(separatedBy: "->")
        let operands = sides[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard sides.count == 2, operands.count == inputs.count, (1...2).contains(inputs.count) else {
            throw WeftError(
                .invalidArgument,
                "the gradient of Einsum '\(equation)' (node '\(operation.name)') needs one or two operands and one '->'"
            )
        }
        let output = sides[1]
        let gradient = try gradient()
        if inputs.count == 1 {
            let x = try input(0)
            let reduced = Self.labels(operands[0]).subtracting(Self.labels(output))
            if reduced.isEmpty { return [.dense(Self.einsum([gradient], "\(output)->\(operands[0])"))] }
            return [.dense(Self.spread(gradient, from: output, to: operands[0], shape: OpBuilder.shape(x), reduced))]
        }
        var (xLabels, yLabels) = (operands[0], operands[1])
        if output.contains("...") {
            if !xLabels.contains("...") { xLabels += "..." }
            if !yLabels.contains("...") { yLabels += "..." }
        }
        var (x, y) = (try input(0), try input(1))
        if gradient.dtype.isComplex {
            x = OpBuilder.unary("Conj", x)
            y = OpBuilder.unary("Conj", y)
        }
        let (xShape, yShape) = (OpBuilder.shape(x), OpBuilder.shape(y))
        var gx = Self.gradient(gradient, other: y, shape: xShape, labels: xLabels, otherLabels: yLabels, output: output)
        var gy = Self.gradient(gradient, other: x, shape: yShape, labels: yLabels, otherLabels: xLabels, output: output)
        guard output.contains("...") else { return [.dense(gx), .dense(gy)] }
        // The batch dimensions under `...` broadcast against each other: sum each gradient over
        // the ones its operand was stretched along.
        let (xStart, xEnd) = Self.ellipsisRange(xLabels)
        let (yStart, yEnd) = Self.ellipsisRange(yLabels)
        let (rx, ry) = OpBuilder.broadcastGradientArgs(
            Self.slice(xShape, from: xStart, toEndMinus: xEnd),
            Self.slice(yShape, from: yStart, toEndMinus: yEnd)
        )
        let graph = gradient.graph
        gx = OpBuilder.reshape(OpBuilder.sum(gx, axes: rx + OpBuilder.constant(Int32(xStart), in: graph)), xShape)
        gy = OpBuilder.reshape(OpBuilder.sum(gy, axes: ry + OpBuilder.constant(Int32(yStart), in: graph)), yShape)
        return [.dense(gx), .dense(gy)]
    }

    /// The gradient of one operand of a two-operand einsum (before un-broadcasting).
    private static func gradient(
        _ gradient: Output,
        other: Output,
        shape: Output,
        labels: String,
        otherLabels: String,
        output: String
    ) -> Output {
        let reduced = Self.labels(labels).subtracting(Self.labels(output + otherLabels))
        let kept = String(labels.filter { !reduced.contains($0) })
        let partial = einsum([gradient, other], "\(output),\(otherLabels)->\(kept)")
        guard !reduced.isEmpty else { return partial }
        return spread(partial, from: kept, to: labels, shape: shape, reduced)
    }

    /// `gradient`, whose labels are `from`, written back to an operand labelled `to` of `shape`
    /// that also had the labels `reduced` (summed away): every element of a summed group had the
    /// same influence, so the gradient is broadcast over new leading dimensions for them and an
    /// einsum moves everything into place (onto diagonals too, for repeated labels).
    private static func spread(
        _ gradient: Output,
        from: String,
        to: String,
        shape: Output,
        _ reduced: Set<Character>
    ) -> Output {
        let graph = gradient.graph
        let reducedLabels = reduced.sorted()
        let axes = reducedLabels.map { Int32(axis(of: $0, in: to)) }
        // Axes after the ellipsis count from the end.
        let count = OpBuilder.size(shape)
        let positive = OpBuilder.binary("FloorMod", OpBuilder.constant(axes, in: graph) + count, count)
        let reducedSizes = OpBuilder.gather(shape, positive, axis: OpBuilder.constant(Int32(0), in: graph))
        let gradientShape = OpBuilder.shape(gradient)
        let ones = OpBuilder.constant([Int32](repeating: 1, count: reducedLabels.count), in: graph)
        let expanded = OpBuilder.reshape(gradient, OpBuilder.concat([ones, gradientShape], axis: 0))
        let broadcast = OpBuilder.broadcastTo(expanded, OpBuilder.concat([reducedSizes, gradientShape], axis: 0))
        return einsum([broadcast], "\(String(reducedLabels) + from)->\(to)")
    }

    /// The axis of `label` in `labels`: its index when it comes before the ellipsis (or there is
    /// none), its distance from the end (negative) when after.
    private static func axis(of label: Character, in labels: String) -> Int {
        let parts = labels.components(separatedBy: "...")
        if let index = parts[0].firstIndex(of: label) { return parts[0].distance(from: parts[0].startIndex, to: index) }
        guard parts.count > 1, let index = parts[1].firstIndex(of: label) else { return 0 }
        return parts[1].distance(from: parts[1].startIndex, to: index) - parts[1].count
    }

    /// Where the ellipsis's dimensions lie: from axis `start` to `endOffset` axes before the end.
    private static func ellipsisRange(_ labels: String) -> (start: Int, endOffset: Int) {
        guard let range = labels.range(of: "...") else { return (0, 0) }
        return (labels.distance(from: labels.startIndex, to: range.lowerBound), labels[range.upperBound...].count)
    }

    /// `vector[start : len - endOffset]`.
    private static func slice(_ vector: Output, from start: Int, toEndMinus endOffset: Int) -> Output {
        endOffset == 0
            ? OpBuilder.stridedSlice(vector, begin: [start], end: [0], endMask: 1)
            : OpBuilder.stridedSlice(vector, begin: [start], end: [-endOffset])
    }

    /// The letters of a term (the ellipsis aside).
    private static func labels(_ term: String) -> Set<Character> { Set(term.filter { $0 != "." }) }

    private static func einsum(_ operands: [Output], _ equation: String) -> Output {
        OpBuilder.node(
            "Einsum",
            operands,
            ["equation": .string(equation), "N": .int(operands.count), "T": .type(operands[0].dtype)]
        ).output()
    }
}
