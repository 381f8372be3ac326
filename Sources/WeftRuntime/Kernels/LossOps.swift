/// Losses: `SoftmaxCrossEntropyWithLogits` (labels broadcast onto the logits),
/// `SparseSoftmaxCrossEntropyWithLogits` (class indices) and `L2Loss`. The cross entropies give
/// TensorFlow's two outputs, the per-example loss and its gradient with respect to the logits.
enum LossOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        OpDefinition(
            "SoftmaxCrossEntropyWithLogits",
            inputCount: 2,
            outputTypes: lossAndBackprop,
            makeKernel: { _ in ClosureKernel(denseCrossEntropy) }
        ),
        OpDefinition(
            "SparseSoftmaxCrossEntropyWithLogits",
            inputCount: 2,
            outputTypes: lossAndBackprop,
            makeKernel: { _ in ClosureKernel(sparseCrossEntropy) }
        ),
        OpDefinition(
            "L2Loss",
            inputCount: 1,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { _ in ClosureKernel(l2Loss) }
        ),
    ]

    /// Two outputs of the logits' dtype: `loss` and `backprop`.
    private static let lossAndBackprop: @Sendable (NodeInfo, [OutputType]) throws(WeftError) -> [OutputType] = {
        node,
        inputs throws(WeftError) in
        let type = try OpDefinition.outputOfInput(0)(node, inputs)[0]
        return [type, type]
    }

    @Sendable private static func denseCrossEntropy(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        let node = context.node
        let logits = try context.input(0)
        let labels = try context.input(1)
        try KernelChecks.sameDType(logits, labels, op: "SoftmaxCrossEntropyWithLogits", node: node)
        let shape: TensorShape
        do {
            shape = try Broadcast.shape(logits.shape, labels.shape)
        } catch {
            throw .invalidArgument(
                "logits and labels must be broadcastable: logits_size=\(logits.shape) labels_size=\(labels.shape)",
                node: node
            )
        }
        guard shape.rank == 2 else {
            throw .invalidArgument(
                "logits and labels must be either 2-dimensional, or broadcasted to be 2-dimensional",
                node: node
            )
        }
        let rows = CrossEntropyRows(batch: shape.dimensions[0], classes: shape.dimensions[1])
        let loss = try KernelChecks.allocate(logits.dtype, [rows.batch], node: node)
        let backprop = try KernelChecks.allocate(logits.dtype, shape, node: node)
        try logits.dtype.visit(
            CrossEntropyVisitor(
                rows: rows,
                logits: MatrixView(logits.shape, in: shape),
                logitsTensor: logits,
                labels: .dense(labels, MatrixView(labels.shape, in: shape)),
                loss: loss,
                backprop: backprop,
                op: "SoftmaxCrossEntropyWithLogits",
                node: node
            )
        )
        return [.tensor(loss), .tensor(backprop)]
    }

    @Sendable private static func sparseCrossEntropy(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        let node = context.node
        let logits = try context.input(0)
        let labels = try context.input(1)
        guard logits.shape.rank == 2 else {
            throw .invalidArgument("logits must be 2-D, but got shape \(logits.shape)", node: node)
        }
        guard labels.shape.rank == 1 else {
            throw .invalidArgument("labels must be 1-D, but got shape \(labels.shape)", node: node)
        }
        let (batch, classes) = (logits.shape.dimensions[0], logits.shape.dimensions[1])
        guard labels.shape.dimensions[0] == batch else {
            throw .invalidArgument(
                "logits and labels must have the same first dimension, got logits shape \(logits.shape) and labels shape \(labels.shape)",
                node: node
            )
        }
        guard classes > 0 || batch == 0 else {
            throw .invalidArgument("Must have at least one class, but got logits shape \(logits.shape)", node: node)
        }
        let indices = try KernelChecks.indices(labels, what: "labels", node: node)
        if let bad = indices.first(where: { $0 < 0 || $0 >= classes }) {
            throw .invalidArgument(
                "Received a label value of \(bad) which is outside the valid range of [0, \(classes)).  Label values: \(indices.map(String.init).joined(separator: " "))",
                node: node
            )
        }
        let rows = CrossEntropyRows(batch: batch, classes: classes)
        let loss = try KernelChecks.allocate(logits.dtype, [batch], node: node)
        let backprop = try KernelChecks.allocate(logits.dtype, logits.shape, node: node)
        try logits.dtype.visit(
            CrossEntropyVisitor(
                rows: rows,
                logits: MatrixView(logits.shape, in: logits.shape),
                logitsTensor: logits,
                labels: .sparse(indices),
                loss: loss,
                backprop: backprop,
                op: "SparseSoftmaxCrossEntropyWithLogits",
                node: node
            )
        )
        return [.tensor(loss), .tensor(backprop)]
    }

    /// `sum(x²) / 2`, accumulated in double precision.
    @Sendable private static func l2Loss(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        let x = try context.input(0)
        let out = try KernelChecks.allocate(x.dtype, .scalar, node: context.node)
        try x.dtype.visit(L2Visitor(input: x, out: out, node: context.node))
        return [.tensor(out)]
    }

    private struct L2Visitor: ElementVisitor {
        let input: Tensor
        let out: Tensor
        let node: String
        var op: String { "L2Loss" }

        func float<T: FloatElement>(_ type: T.Type) {
            var total = 0.0
            input.withElements(of: T.self) { x in
                for value in x {
                    let wide = Double(value)
                    total += wide * wide
                }
            }
            out.withMutableElements(of: T.self) { $0[0] = T(total / 2) }
        }
    }
}

/// The sizes of a cross entropy: `batch` rows of `classes` logits.
private struct CrossEntropyRows {
    let batch: Int
    let classes: Int
}

/// How a broadcast operand of a `[batch, classes]` computation is read: element `(b, c)` is
/// at `b · rowStride + c · columnStride` (strides are 0 along broadcast dimensions).
private struct MatrixView {
    let rowStride: Int
    let columnStride: Int

    /// The view of an operand of `shape` (rank ≤ 2) broadcast to the rank-2 `result`.
    init(_ shape: TensorShape, in result: TensorShape) {
        let padded = [Int](repeating: 1, count: 2 - shape.rank) + shape.dimensions
        columnStride = padded[1] == 1 ? 0 : 1
        rowStride = padded[0] == 1 ? 0 : padded[1]
    }
}

/// The labels of a cross entropy.
private enum Labels {
    /// A probability distribution per row, read through a view.
    case dense(Tensor, MatrixView)
    /// The true class per row, already checked to lie in range.
    case sparse([Int])
}

/// Per row: shifted logits `s = x − max(x)`, `loss = Σ p · (log Σ eˢ − s)` and
/// `backprop = softmax(x) − p`, where `p` is the label distribution (one-hot when sparse).
private struct CrossEntropyVisitor: ElementVisitor {
    let rows: CrossEntropyRows
    let logits: MatrixView
    let logitsTensor: Tensor
    let labels: Labels
    let loss: Tensor
    let backprop: Tensor
    let op: String
    let node: String

    func float<T: FloatElement>(_ type: T.Type) {
        let classes = rows.classes
        logitsTensor.withElements(of: T.self) { x in
            loss.withMutableElements(of: T.self) { loss in
                backprop.withMutableElements(of: T.self) { grad in
                    guard let x = x.baseAddress, let grad = grad.baseAddress else { return }
                    for b in 0..<rows.batch {
                        let source = x + b * logits.rowStride
                        var maximum = -T.infinity
                        for c in 0..<classes {
                            let value = source[c * logits.columnStride]
                            if value > maximum || value.isNaN { maximum = value }
                        }
                        // The exponentials of the shifted logits go into the gradient's row,
                        // computed for the whole row at once.
                        let row = grad + b * classes
                        for c in 0..<classes { row[c] = source[c * logits.columnStride] - maximum }
                        T.exp(row, into: row, count: classes)
                        loss[b] = finish(row: row, source: source, maximum: maximum, b, T.self)
                    }
                }
            }
        }
    }

    /// Turns a row of exponentials into the gradient and returns the row's loss; the shifted
    /// logits are recomputed from `source`.
    @inline(__always)
    private func finish<T: FloatElement>(
        row: UnsafeMutablePointer<T>,
        source: UnsafePointer<T>,
        maximum: T,
        _ b: Int,
        _ type: T.Type
    ) -> T {
        let classes = rows.classes
        var sumExp: T = 0
        for c in 0..<classes { sumExp += row[c] }
        let logSum = T.log(sumExp)
        switch labels {
        case .sparse(let indices):
            let label = indices[b]
            for c in 0..<classes { row[c] /= sumExp }
            row[label] -= 1
            return logSum - (source[label * logits.columnStride] - maximum)
        case .dense(let tensor, let view):
            return tensor.withElements(of: T.self) { p in
                guard let p = p.baseAddress else { return 0 }
                let labelRow = p + b * view.rowStride
                var total: T = 0
                for c in 0..<classes {
                    let probability = labelRow[c * view.columnStride]
                    total += probability * (logSum - (source[c * logits.columnStride] - maximum))
                    row[c] = row[c] / sumExp - probability
                }
                return total
            }
        }
    }
}
