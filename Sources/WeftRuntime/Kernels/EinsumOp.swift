/// `Einsum` on one or two operands, with an explicit output (`'ij,jk->ik'`) and `...` for
/// broadcast leading dimensions.
///
/// Labels only one operand has and the output lacks are summed out first; the rest become a
/// batched matrix product: labels in both operands and the output are batch dimensions, in both
/// but not the output contracted, in one operand and the output free. Each operand is
/// transposed to `[batch, free, contracted]` (or `[batch, contracted, free]`), multiplied by
/// `Gemm.batched`, and the result transposed to the output's order. A label repeated within an
/// operand takes its diagonal first (`'ii->i'`); one repeated in the output places the result on
/// a diagonal (`'i->ii'`), see `EinsumDiagonal.swift`.
enum EinsumOp {
    /// The op's definition, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        OpDefinition(
            "Einsum",
            inputCount: nil,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let count = try node.attributes.int("N", default: node.dataInputs.count)
                guard count == node.dataInputs.count, count == 1 || count == 2 else {
                    throw WeftError(
                        .invalidArgument,
                        "Expected either 1 or 2 inputs but got: \(node.dataInputs.count) (node '\(node.name)')"
                    )
                }
                let equation = try EinsumEquation(
                    try node.attributes.string("equation"),
                    inputs: count,
                    node: node.name
                )
                return ClosureKernel { context throws(WeftError) in
                    var inputs: [Tensor] = []
                    for index in 0..<count { inputs.append(try context.input(index)) }
                    return [.tensor(try equation.evaluate(inputs, node: context.node))]
                }
            }
        )
    ]
}

/// A parsed equation: per operand and for the output, its labels, where `nil` stands for the
/// ellipsis.
struct EinsumEquation: Sendable {
    let inputs: [[Character?]]
    let output: [Character?]

    init(_ text: String, inputs count: Int, node: String) throws(WeftError) {
        let equation = text.filter { $0 != " " }
        let sides = equation.components(separatedBy: "->")
        guard sides.count == 2 else {
            throw .invalidArgument("Expecting exactly one '->' in einsum equation: \(text)", node: node)
        }
        let terms = sides[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard terms.count == count else {
            throw .invalidArgument(
                "Expecting \(count) input subscripts in equation '\(text)', got \(terms.count)",
                node: node
            )
        }
        var parsed: [[Character?]] = []
        for term in terms { parsed.append(try Self.labels(term, equation: text, node: node)) }
        inputs = parsed
        output = try Self.labels(sides[1], equation: text, node: node)
        let named = output.compactMap { $0 }
        for label in named where !parsed.contains(where: { $0.contains(label) }) {
            throw .invalidArgument("Output subscript \(label) in '\(text)' does not appear in any input", node: node)
        }
    }

    private static func labels(_ term: String, equation: String, node: String) throws(WeftError) -> [Character?] {
        var result: [Character?] = []
        var rest = Substring(term)
        while let first = rest.first {
            if rest.hasPrefix("...") {
                guard !result.contains(where: { $0 == nil }) else {
                    throw .invalidArgument("Subscripts in '\(equation)' contain more than one ellipsis", node: node)
                }
                result.append(nil)
                rest = rest.dropFirst(3)
            } else if first.isASCII && first.isLetter {
                result.append(first)
                rest = rest.dropFirst()
            } else {
                throw .invalidArgument("Invalid character '\(first)' in einsum equation '\(equation)'", node: node)
            }
        }
        return result
    }

    /// Computes the equation on `operands`.
    func evaluate(_ operands: [Tensor], node: String) throws(WeftError) -> Tensor {
        if operands.count == 2 { try KernelChecks.sameDType(operands[0], operands[1], op: "Einsum", node: node) }
        let expanded = try expand(operands, node: node)
        var labeled: [LabeledTensor] = []
        for (index, operand) in operands.enumerated() {
            let others = expanded.inputs.indices.filter { $0 != index }.flatMap { expanded.inputs[$0] }
            let keep = Set(expanded.output + others)
            labeled.append(
                try LabeledTensor.diagonal(of: operand, labels: expanded.inputs[index], node: node).summing(
                    keeping: keep,
                    node: node
                )
            )
        }
        let sizes = try labelSizes(labeled, node: node)
        let output = expanded.output.uniqued()
        let result =
            labeled.count == 1
            ? labeled[0] : try product(labeled[0], labeled[1], output: output, sizes: sizes, node: node)
        return try result.inflated(to: expanded.output, node: node).tensor
    }

    /// Replaces each ellipsis by labels of its own (integers past the character range, aligned
    /// at the right), so the rest works on plain labels.
    private func expand(_ operands: [Tensor], node: String) throws(WeftError) -> (inputs: [[Int]], output: [Int]) {
        var ellipsisRank = 0
        var inputs: [[Int]] = []
        for (term, operand) in zip(self.inputs, operands) {
            let named = term.count(where: { $0 != nil })
            let hasEllipsis = term.contains { $0 == nil }
            guard hasEllipsis ? operand.shape.rank >= named : operand.shape.rank == named else {
                throw .invalidArgument(
                    "Input to einsum has \(operand.shape.rank) dimensions but its subscripts in the equation name \(named)",
                    node: node
                )
            }
            let rank = operand.shape.rank - named
            if hasEllipsis { ellipsisRank = max(ellipsisRank, rank) }
            inputs.append(Self.expand(term, ellipsis: rank))
        }
        // Without an ellipsis in the output, the inputs' ellipsis dimensions are summed out.
        return (inputs, Self.expand(output, ellipsis: ellipsisRank))
    }

    /// A term's labels as integers: a character's code point, or for the `rank` ellipsis
    /// dimensions `ellipsisBase + distance from the right`.
    private static func expand(_ term: [Character?], ellipsis rank: Int) -> [Int] {
        term.flatMap { label -> [Int] in
            // Labels were checked to be ASCII letters.
            if let label { return [Int(label.asciiValue ?? 0)] }
            return (0..<rank).reversed().map { ellipsisBase + $0 }
        }
    }

    private static let ellipsisBase = 1 << 20

    /// Every label's size, checking that operands agree (ellipsis dimensions may be 1 in one).
    private func labelSizes(_ operands: [LabeledTensor], node: String) throws(WeftError) -> [Int: Int] {
        var sizes: [Int: Int] = [:]
        for operand in operands {
            for (label, size) in zip(operand.labels, operand.tensor.shape.dimensions) {
                guard let known = sizes[label], known != size else {
                    sizes[label] = size
                    continue
                }
                guard label >= Self.ellipsisBase, known == 1 || size == 1 else {
                    throw .invalidArgument(
                        "Expected dimension \(known) for subscript \(Self.describe(label)) but got dimension \(size)",
                        node: node
                    )
                }
                sizes[label] = max(known, size)
            }
        }
        return sizes
    }

    private static func describe(_ label: Int) -> String {
        label >= ellipsisBase ? "of the ellipsis" : String(UnicodeScalar(UInt8(truncatingIfNeeded: label)))
    }

    /// The batched product of two operands whose every label is batch, contracted or free.
    private func product(
        _ a: LabeledTensor,
        _ b: LabeledTensor,
        output: [Int],
        sizes: [Int: Int],
        node: String
    ) throws(WeftError) -> LabeledTensor {
        let batch = output.filter { a.labels.contains($0) && b.labels.contains($0) }
        let contracted = a.labels.filter { b.labels.contains($0) && !output.contains($0) }
        let freeA = a.labels.filter { !b.labels.contains($0) }
        let freeB = b.labels.filter { !a.labels.contains($0) }
        let left = a.transposed(to: batch + freeA + contracted)
        let right = b.transposed(to: batch + contracted + freeB)
        let size = { (labels: [Int], operand: LabeledTensor) in
            labels.reduce(1) { $0 * operand.size(of: $1) }
        }
        for label in contracted where left.size(of: label) != right.size(of: label) {
            throw .invalidArgument(
                "Expected dimension \(left.size(of: label)) for contracted subscript \(Self.describe(label)) but got dimension \(right.size(of: label))",
                node: node
            )
        }
        let (m, k, n) = (size(freeA, left), size(contracted, left), size(freeB, right))
        let aBatch = batch.map { left.size(of: $0) }
        let bBatch = batch.map { right.size(of: $0) }
        let resultBatch = batch.map { sizes[$0] ?? 1 }
        let shape = try GemmShape((m, k), (k, n), transposeA: false, transposeB: false, node: node)
        let resultShape = resultBatch + freeA.map { left.size(of: $0) } + freeB.map { right.size(of: $0) }
        let out = try KernelChecks.allocate(a.tensor.dtype, TensorShape(resultShape), node: node)
        try Gemm.batched(
            left.tensor,
            right.tensor,
            into: out,
            shape,
            aBatch: Self.sourceBatches(aBatch, in: resultBatch),
            bBatch: Self.sourceBatches(bBatch, in: resultBatch),
            op: "Einsum",
            node: node
        )
        return LabeledTensor(tensor: out, labels: batch + freeA + freeB)
    }

    /// For each batch position of the result, in order, the operand batch it reads; an
    /// operand's size-1 dimensions repeat.
    private static func sourceBatches(_ operand: [Int], in result: [Int]) -> [Int] {
        var strides = [Int](repeating: 0, count: operand.count)
        var step = 1
        for axis in operand.indices.reversed() {
            strides[axis] = operand[axis] == 1 ? 0 : step
            step *= operand[axis]
        }
        var batches: [Int] = [0]
        for axis in result.indices {
            batches = batches.flatMap { base in (0..<result[axis]).map { base + $0 * strides[axis] } }
        }
        return batches
    }
}

/// A tensor whose dimensions carry einsum labels.
struct LabeledTensor {
    let tensor: Tensor
    let labels: [Int]

    init(tensor: Tensor, labels: [Int]) {
        self.tensor = tensor
        self.labels = labels
    }

    /// The size of the dimension labelled `label`.
    func size(of label: Int) -> Int {
        labels.firstIndex(of: label).map { tensor.shape.dimensions[$0] } ?? 1
    }

    /// The tensor with its dimensions in the order of `order` (a permutation of its labels).
    func transposed(to order: [Int]) -> LabeledTensor {
        let perm = order.compactMap { labels.firstIndex(of: $0) }
        return LabeledTensor(tensor: Transposition.apply(tensor, perm: perm), labels: order)
    }

    /// The tensor summed over every label not in `keep`.
    func summing(keeping keep: Set<Int>, node: String) throws(WeftError) -> LabeledTensor {
        let kept = labels.filter { keep.contains($0) }
        guard kept.count < labels.count else { return self }
        let summed = labels.filter { !keep.contains($0) }
        let moved = transposed(to: kept + summed)
        let rows = kept.reduce(1) { $0 * size(of: $1) }
        let width = summed.reduce(1) { $0 * size(of: $1) }
        let out = try KernelChecks.allocate(tensor.dtype, TensorShape(kept.map { size(of: $0) }), node: node)
        try tensor.dtype.visit(RowSums(input: moved.tensor, out: out, rows: rows, width: width, node: node))
        return LabeledTensor(tensor: out, labels: kept)
    }
}

/// Sums each row of `width` elements (in the element type; integers wrap).
private struct RowSums: ElementVisitor {
    let input: Tensor
    let out: Tensor
    let rows: Int
    let width: Int
    let node: String
    var op: String { "Einsum" }

    func float<T: FloatElement>(_ type: T.Type) { sum(T.self, zero: 0, +) }
    func integer<T: IntegerElement>(_ type: T.Type) { sum(T.self, zero: 0, &+) }
    func complex<R: ComplexReal>(_ type: R.Type) { sum(ComplexElement<R>.self, zero: ComplexElement(real: 0), +) }

    private func sum<T: TensorElement>(_ type: T.Type, zero: T, _ add: (T, T) -> T) {
        input.withElements(of: T.self) { x in
            out.withMutableElements(of: T.self) { y in
                for row in 0..<rows {
                    var total = zero
                    for i in (row * width)..<(row * width + width) { total = add(total, x[i]) }
                    y[row] = total
                }
            }
        }
    }
}
