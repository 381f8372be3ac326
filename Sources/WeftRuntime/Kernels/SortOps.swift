/// Ops that order, deduplicate or compare sets of values: `TopKV2`, `InTopKV2`, `InTopK`, `Unique`,
/// `UniqueWithCounts`, `ListDiff`.
enum SortOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        OpDefinition(
            "TopKV2",
            inputCount: 2,
            outputTypes: { node, inputs throws(WeftError) in
                let values = try node.optionalType("T") ?? inputs.first?.dtype ?? .float
                return [OutputType(values), OutputType(try indexType(node, "index_type"))]
            },
            makeKernel: { node throws(WeftError) in
                let indexType = try indexType(node, "index_type")
                return ClosureKernel { context throws(WeftError) in try topK(context, indexType: indexType) }
            }
        ),
        OpDefinition(
            "InTopKV2",
            inputCount: 3,
            outputTypes: { _, _ in [OutputType(.bool)] },
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let kTensor = try context.input(2)
                    guard kTensor.elementCount == 1 else {
                        throw .invalidArgument("k must be a scalar, got shape \(kTensor.shape)", node: context.node)
                    }
                    let k = try KernelChecks.indices(kTensor, what: "k", node: context.node)[0]
                    return [.tensor(try inTopK(context, k: k))]
                }
            }
        ),
        // The first version takes `k` as an attribute.
        OpDefinition(
            "InTopK",
            inputCount: 2,
            outputTypes: { _, _ in [OutputType(.bool)] },
            makeKernel: { node throws(WeftError) in
                let k = try node.attributes.int("k")
                return ClosureKernel { context throws(WeftError) in [.tensor(try inTopK(context, k: k))] }
            }
        ),
        unique("Unique", counts: false),
        unique("UniqueWithCounts", counts: true),
        OpDefinition(
            "ListDiff",
            inputCount: 2,
            outputTypes: { node, inputs throws(WeftError) in
                let values = try node.optionalType("T") ?? inputs.first?.dtype ?? .float
                return [OutputType(values), OutputType(try indexType(node, "out_idx"))]
            },
            makeKernel: { node throws(WeftError) in
                let indexType = try indexType(node, "out_idx")
                return ClosureKernel { context throws(WeftError) in try listDiff(context, indexType: indexType) }
            }
        ),
    ]

    /// The index dtype in attribute `key`: int32 unless the node says int16 or int64.
    private static func indexType(_ node: NodeInfo, _ key: String) throws(WeftError) -> DType {
        let type = try node.optionalType(key) ?? .int32
        guard type == .int32 || type == .int64 || type == .int16 else {
            throw WeftError(.invalidArgument, "node '\(node.name)': \(key) must be int32 or int64, not \(type)")
        }
        return type
    }

    /// A tensor of `indices` as `dtype` (int16, int32 or int64), shaped `shape`.
    static func indexTensor(_ indices: [Int], shape: TensorShape, dtype: DType) throws(WeftError) -> Tensor {
        switch dtype {
        case .int16: try Tensor(indices.map { Int16(truncatingIfNeeded: $0) }, shape: shape)
        case .int64: try Tensor(indices.map { Int64($0) }, shape: shape)
        default: try Tensor(indices.map { Int32(truncatingIfNeeded: $0) }, shape: shape)
        }
    }

    // MARK: TopKV2

    private static func topK(_ context: OpKernelContext, indexType: DType) throws(WeftError) -> [Value] {
        let x = try context.input(0)
        let kTensor = try context.input(1)
        guard kTensor.shape.rank == 0 else {
            throw .invalidArgument("k must be 0-D, got shape \(kTensor.shape)", node: context.node)
        }
        let k = try KernelChecks.integers(kTensor, what: "k", node: context.node)[0]
        guard k >= 0 else { throw .invalidArgument("Need k >= 0, got \(k)", node: context.node) }
        guard x.shape.rank >= 1 else {
            throw .invalidArgument("input must be >= 1-D, got shape \(x.shape)", node: context.node)
        }
        let columns = x.shape.dimensions[x.shape.rank - 1]
        guard columns >= k else {
            throw .invalidArgument(
                "input must have at least k columns. Had \(columns), needed \(k)",
                node: context.node
            )
        }
        var dims = x.shape.dimensions
        dims[dims.count - 1] = k
        let values = try KernelChecks.allocate(x.dtype, TensorShape(dims), node: context.node)
        let rows = columns == 0 ? 0 : x.elementCount / columns
        let picked = try x.dtype.visit(
            TopK(x: x, values: values, rows: rows, columns: columns, k: k, node: context.node)
        )
        return [.tensor(values), .tensor(try indexTensor(picked, shape: TensorShape(dims), dtype: indexType))]
    }

    /// Writes each row's `k` largest values into `values` and returns their column indices,
    /// largest first, lower index first among equal values (`NaN` ranks above everything).
    private struct TopK: ElementVisitor {
        let x: Tensor
        let values: Tensor
        let rows: Int
        let columns: Int
        let k: Int
        let node: String
        var op: String { "TopKV2" }

        func float<T: FloatElement>(_ type: T.Type) throws(WeftError) -> [Int] {
            pick(T.self) { a, b in a.isNaN ? !b.isNaN : a > b }
        }

        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) -> [Int] { pick(T.self, by: >) }

        private func pick<T: TensorElement>(_ type: T.Type, by greater: (T, T) -> Bool) -> [Int] {
            var picked = [Int](repeating: 0, count: rows * k)
            var order = [Int](repeating: 0, count: columns)
            x.withElements(of: T.self) { input in
                values.withMutableElements(of: T.self) { output in
                    for row in 0..<rows {
                        let base = row * columns
                        for j in 0..<columns { order[j] = j }
                        let ranks: (Int, Int) -> Bool = { i, j in
                            let (a, b) = (input[base + i], input[base + j])
                            return greater(a, b) || (!greater(b, a) && i < j)
                        }
                        if k < columns / 8 {
                            selectTop(&order, k: k, by: ranks)
                        } else {
                            order.sort(by: ranks)
                        }
                        for j in 0..<k {
                            picked[row * k + j] = order[j]
                            output[row * k + j] = input[base + order[j]]
                        }
                    }
                }
            }
            return picked
        }

        /// Puts the `k` first elements of `order` under `ranks` at its start, in order, with a
        /// bounded heap: O(n log k) for small `k`.
        private func selectTop(_ order: inout [Int], k: Int, by ranks: (Int, Int) -> Bool) {
            guard k > 0 else { return }
            // A heap of the best k so far whose root is the worst of them.
            var heap = Array(order[..<k])
            heap.sort(by: ranks)
            for candidate in order[k...] where ranks(candidate, heap[k - 1]) {
                // Insert keeping `heap` sorted; k is small, so a linear insertion is cheap.
                var slot = k - 1
                while slot > 0, ranks(candidate, heap[slot - 1]) {
                    heap[slot] = heap[slot - 1]
                    slot -= 1
                }
                heap[slot] = candidate
            }
            for j in 0..<k { order[j] = heap[j] }
        }
    }

    // MARK: InTopKV2

    /// Whether each row's target class is among the `k` largest predictions: true when fewer
    /// than `k` classes score strictly higher; false for an out-of-range target or any
    /// non-finite score in the row, as TensorFlow decides.
    private static func inTopK(_ context: OpKernelContext, k: Int) throws(WeftError) -> Tensor {
        let predictions = try context.input(0)
        let targetsTensor = try context.input(1)
        guard predictions.shape.rank == 2 else {
            throw .invalidArgument(
                "predictions must be 2-dimensional, got shape \(predictions.shape)",
                node: context.node
            )
        }
        guard targetsTensor.shape.rank == 1 else {
            throw .invalidArgument(
                "targets must be 1-dimensional, got shape \(targetsTensor.shape)",
                node: context.node
            )
        }
        let (batch, classes) = (predictions.shape.dimensions[0], predictions.shape.dimensions[1])
        guard targetsTensor.elementCount == batch else {
            throw .invalidArgument(
                "First dimension of predictions \(batch) must match length of targets \(targetsTensor.elementCount)",
                node: context.node
            )
        }
        let targets = try KernelChecks.indices(targetsTensor, what: "targets", node: context.node)
        try KernelChecks.dtype(predictions, input: 0, expected: .float, op: "InTopKV2", node: context.node)
        let scores = predictions.elements(as: Float.self)
        let answers = (0..<batch).map { row -> Bool in
            let target = targets[row]
            guard target >= 0, target < classes else { return false }
            let line = scores[(row * classes)..<((row + 1) * classes)]
            let score = line[row * classes + target]
            guard score.isFinite, line.allSatisfy(\.isFinite) else { return false }
            return line.count(where: { $0 > score }) < k
        }
        return try Tensor(answers, shape: [batch])
    }

    // MARK: Unique

    /// `Unique` (values, positions) or `UniqueWithCounts` (also how often each value occurs).
    private static func unique(_ name: String, counts: Bool) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 1,
            outputTypes: { node, inputs throws(WeftError) in
                let values = try node.optionalType("T") ?? inputs.first?.dtype ?? .float
                let index = OutputType(try indexType(node, "out_idx"))
                return [OutputType(values), index] + (counts ? [index] : [])
            },
            makeKernel: { node throws(WeftError) in
                let indexType = try indexType(node, "out_idx")
                return ClosureKernel { context throws(WeftError) in
                    let x = try context.input(0)
                    guard x.shape.rank == 1 else {
                        throw .invalidArgument("unique expects a 1D vector.", node: context.node)
                    }
                    let (values, positions) = try x.dtype.visit(Deduplicate(x: x, node: context.node))
                    let outputs: [Value] = [
                        .tensor(values), .tensor(try indexTensor(positions, shape: x.shape, dtype: indexType)),
                    ]
                    guard counts else { return outputs }
                    var tally = [Int](repeating: 0, count: values.elementCount)
                    for position in positions { tally[position] += 1 }
                    return outputs + [.tensor(try indexTensor(tally, shape: [tally.count], dtype: indexType))]
                }
            }
        )
    }

    /// The distinct values in order of first appearance, and for each input element the
    /// position of its value among them. `-0.0` equals `0.0`; every `NaN` is distinct.
    private struct Deduplicate: ElementVisitor {
        let x: Tensor
        let node: String
        var op: String { "Unique" }

        func float<T: FloatElement>(_ type: T.Type) throws(WeftError) -> (Tensor, [Int]) { try run(T.self) }
        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) -> (Tensor, [Int]) { try run(T.self) }
        func bool() throws(WeftError) -> (Tensor, [Int]) { try run(Bool.self) }

        private func run<T: TensorElement & Hashable>(_ type: T.Type) throws(WeftError) -> (Tensor, [Int]) {
            var first: [T: Int] = [:]
            var distinct: [T] = []
            var positions = [Int](repeating: 0, count: x.elementCount)
            x.withElements(of: T.self) { values in
                for (i, value) in values.enumerated() {
                    if let known = first[value] {
                        positions[i] = known
                    } else {
                        first[value] = distinct.count
                        positions[i] = distinct.count
                        distinct.append(value)
                    }
                }
            }
            return (try Tensor(distinct, shape: [distinct.count]), positions)
        }
    }

    // MARK: ListDiff

    /// `ListDiff(x, y)`: the elements of `x` that are not in `y`, in order and with repeats,
    /// and their positions in `x`.
    private static func listDiff(_ context: OpKernelContext, indexType: DType) throws(WeftError) -> [Value] {
        let x = try context.input(0)
        let y = try context.input(1)
        guard x.shape.rank == 1 else { throw .invalidArgument("x should be a 1D vector.", node: context.node) }
        guard y.shape.rank == 1 else { throw .invalidArgument("y should be a 1D vector.", node: context.node) }
        try KernelChecks.dtype(y, input: 1, expected: x.dtype, op: "ListDiff", node: context.node)
        let (values, positions) = try x.dtype.visit(Difference(x: x, y: y, node: context.node))
        return [.tensor(values), .tensor(try indexTensor(positions, shape: [positions.count], dtype: indexType))]
    }

    /// The elements of `x` absent from `y`, and where they are in `x`.
    private struct Difference: ElementVisitor {
        let x: Tensor
        let y: Tensor
        let node: String
        var op: String { "ListDiff" }

        func float<T: FloatElement>(_ type: T.Type) throws(WeftError) -> (Tensor, [Int]) { try run(T.self) }
        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) -> (Tensor, [Int]) { try run(T.self) }
        func bool() throws(WeftError) -> (Tensor, [Int]) { try run(Bool.self) }

        private func run<T: TensorElement & Hashable>(_ type: T.Type) throws(WeftError) -> (Tensor, [Int]) {
            let excluded = y.withElements(of: T.self) { Set($0) }
            var kept: [T] = []
            var positions: [Int] = []
            x.withElements(of: T.self) { values in
                for (i, value) in values.enumerated() where !excluded.contains(value) {
                    kept.append(value)
                    positions.append(i)
                }
            }
            return (try Tensor(kept, shape: [kept.count]), positions)
        }
    }
}
