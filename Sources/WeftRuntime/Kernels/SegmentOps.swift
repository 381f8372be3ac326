/// Reductions over sorted segments of rows: `SegmentSum`, `SegmentProd`, `SegmentMax`,
/// `SegmentMin`, `SegmentMean`; the sparse forms that first pick rows by index
/// (`SparseSegmentSum`, `SparseSegmentMean`, `SparseSegmentSqrtN`, each also
/// `…WithNumSegments`), as `embedding_lookup_sparse` emits; and their gradients
/// `SparseSegmentSumGrad`, `SparseSegmentMeanGrad`, `SparseSegmentSqrtNGrad`.
enum SegmentOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] =
        [
            sorted("SegmentSum", .sum), sorted("SegmentProd", .product), sorted("SegmentMax", .maximum),
            sorted("SegmentMin", .minimum), sorted("SegmentMean", .mean),
        ]
        + [(SegmentReduction.sum, "Sum"), (.mean, "Mean"), (.sqrtN, "SqrtN")].flatMap { reduction, suffix in
            [
                sparse("SparseSegment\(suffix)", reduction, numSegments: false),
                sparse("SparseSegment\(suffix)WithNumSegments", reduction, numSegments: true),
                sparseGrad("SparseSegment\(suffix)Grad", reduction),
            ]
        }

    /// One contribution: row `source` of the input goes into row `target` of the output.
    struct Contribution {
        var source: Int
        var target: Int
    }

    // MARK: Sorted segments

    private static func sorted(_ name: String, _ reduction: SegmentReduction) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 2,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let data = try context.input(0)
                    let idsTensor = try context.input(1)
                    guard data.shape.rank >= 1 else {
                        throw .invalidArgument(
                            "input must be at least rank 1, got shape \(data.shape)",
                            node: context.node
                        )
                    }
                    guard idsTensor.shape.rank == 1 else {
                        throw .invalidArgument("segment_ids should be a vector.", node: context.node)
                    }
                    guard idsTensor.elementCount == data.shape.dimensions[0] else {
                        throw .invalidArgument(
                            "segment_ids should be the same size as dimension 0 of input.",
                            node: context.node
                        )
                    }
                    let ids = try KernelChecks.integers(idsTensor, what: "segment_ids", node: context.node)
                    let rows = (ids.last ?? -1) &+ 1
                    try checkSorted(ids, node: context.node)
                    if let first = ids.first, first < 0 {
                        throw .invalidArgument(
                            "Segment id \(first) out of range [0, \(rows)), possibly because 'segment_ids' input is not sorted.",
                            node: context.node
                        )
                    }
                    let contributions = ids.enumerated().map { Contribution(source: $0, target: $1) }
                    return [
                        .tensor(
                            try reduce(data, contributions, rows: rows, reduction, op: name, node: context.node)
                        )
                    ]
                }
            }
        )
    }

    private static func checkSorted(_ ids: [Int], node: String) throws(WeftError) {
        for i in ids.indices.dropFirst() where ids[i] < ids[i - 1] {
            throw .invalidArgument("segment ids are not increasing", node: node)
        }
    }

    // MARK: Sparse segments

    private static func sparse(_ name: String, _ reduction: SegmentReduction, numSegments: Bool) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: numSegments ? 4 : 3,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let data = try context.input(0)
                    guard data.shape.rank >= 1 else {
                        throw .invalidArgument(
                            "input must be at least rank 1, got shape \(data.shape)",
                            node: context.node
                        )
                    }
                    let (indices, ids) = try sparseInputs(
                        try context.input(1),
                        try context.input(2),
                        node: context.node
                    )
                    let limit = data.shape.dimensions[0]
                    if let bad = indices.firstIndex(where: { $0 < 0 || $0 >= limit }) {
                        throw .invalidArgument(
                            "Bad: indices[\(bad)] == \(indices[bad]) out of range [0, \(limit))",
                            node: context.node
                        )
                    }
                    var rows = (ids.last ?? -1) &+ 1
                    if numSegments {
                        rows = try KernelChecks.scalarIndex(
                            try context.input(3),
                            what: "num_segments",
                            node: context.node
                        )
                        guard rows >= 0 else {
                            throw .invalidArgument("num_segments must be non-negative, got \(rows)", node: context.node)
                        }
                        if let last = ids.last, last >= rows {
                            throw .invalidArgument("segment ids must be < num_segments", node: context.node)
                        }
                    }
                    let contributions = zip(indices, ids).map { Contribution(source: $0, target: $1) }
                    return [
                        .tensor(
                            try reduce(data, contributions, rows: rows, reduction, op: name, node: context.node)
                        )
                    ]
                }
            }
        )
    }

    /// The indices and sorted, non-negative segment ids of a sparse segment op.
    private static func sparseInputs(
        _ indicesTensor: Tensor,
        _ idsTensor: Tensor,
        node: String
    ) throws(WeftError) -> ([Int], [Int]) {
        guard indicesTensor.shape.rank == 1 else { throw .invalidArgument("indices should be a vector.", node: node) }
        guard idsTensor.shape.rank == 1 else { throw .invalidArgument("segment_ids should be a vector.", node: node) }
        guard indicesTensor.elementCount == idsTensor.elementCount else {
            throw .invalidArgument("segment_ids and indices should have same size.", node: node)
        }
        let indices = try KernelChecks.integers(indicesTensor, what: "indices", node: node)
        let ids = try KernelChecks.integers(idsTensor, what: "segment_ids", node: node)
        try checkSorted(ids, node: node)
        if let first = ids.first, first < 0 {
            throw .invalidArgument("segment ids must be >= 0", node: node)
        }
        return (indices, ids)
    }

    /// The gradient of a sparse segment op: `output[indices[i]] += grad[segment_ids[i]]`,
    /// scaled by 1, 1/n or 1/√n for a segment of n rows, into `output_dim0` rows.
    private static func sparseGrad(_ name: String, _ reduction: SegmentReduction) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 4,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let grad = try context.input(0)
                    guard grad.shape.rank >= 1 else {
                        throw .invalidArgument(
                            "grad must be at least rank 1, got shape \(grad.shape)",
                            node: context.node
                        )
                    }
                    let (indices, ids) = try sparseInputs(
                        try context.input(1),
                        try context.input(2),
                        node: context.node
                    )
                    let rows = try KernelChecks.scalarIndex(
                        try context.input(3),
                        what: "output_dim0",
                        node: context.node
                    )
                    guard rows >= 0 else {
                        throw .invalidArgument("output_dim0 must be non-negative, got \(rows)", node: context.node)
                    }
                    if let bad = indices.firstIndex(where: { $0 < 0 || $0 >= rows }) {
                        throw .invalidArgument("Index \(indices[bad]) out of range [0, \(rows)).", node: context.node)
                    }
                    let segments = grad.shape.dimensions[0]
                    if let last = ids.last, last >= segments {
                        throw .invalidArgument("Segment id \(last) out of range [0, \(segments)).", node: context.node)
                    }
                    let contributions = zip(ids, indices).map { Contribution(source: $0, target: $1) }
                    var counts = [Int](repeating: 0, count: segments)
                    for id in ids { counts[id] += 1 }
                    let weights: [Double]? =
                        switch reduction {
                        case .mean: ids.map { 1 / Double(counts[$0]) }
                        case .sqrtN: ids.map { 1 / Double(counts[$0]).squareRoot() }
                        default: nil
                        }
                    return [
                        .tensor(
                            try reduce(
                                grad,
                                contributions,
                                rows: rows,
                                .sum,
                                weights: weights,
                                op: name,
                                node: context.node
                            )
                        )
                    ]
                }
            }
        )
    }

    // MARK: Engine

    /// Rows of `data` combined into `rows` output rows by `contributions` (whose targets are
    /// checked by the caller), each scaled by `weights[k]` when given. Empty output rows are 0
    /// (1 for a product), as in TensorFlow's segment ops.
    static func reduce(
        _ data: Tensor,
        _ contributions: [Contribution],
        rows: Int,
        _ reduction: SegmentReduction,
        weights: [Double]? = nil,
        op: String,
        node: String
    ) throws(WeftError) -> Tensor {
        let slice = Array(data.shape.dimensions.dropFirst())
        let out = try IndexedCopy.zeros(data.dtype, TensorShape([rows] + slice), node: node)
        guard out.elementCount > 0 else { return out }
        try data.dtype.visit(
            SegmentReducer(
                data: data,
                out: out,
                contributions: contributions,
                rows: rows,
                width: slice.reduce(1, *),
                reduction: reduction,
                weights: weights,
                op: op,
                node: node
            )
        )
        return out
    }
}

/// How the rows of one segment combine.
enum SegmentReduction: Sendable {
    /// Added.
    case sum
    /// Multiplied.
    case product
    /// The largest (a NaN replaces the running maximum, any later number replaces the NaN).
    case maximum
    /// The smallest.
    case minimum
    /// The sum divided by the number of rows (integer division for integers).
    case mean
    /// The sum divided by the square root of the number of rows.
    case sqrtN
}

/// The typed loop behind `SegmentOps.reduce`.
private struct SegmentReducer: ElementVisitor {
    let data: Tensor
    let out: Tensor
    let contributions: [SegmentOps.Contribution]
    let rows: Int
    let width: Int
    let reduction: SegmentReduction
    let weights: [Double]?
    let op: String
    let node: String

    func float<T: FloatElement>(_ type: T.Type) throws(WeftError) {
        let scale: ((Int) -> T)? = weights.map { weights in { T(weights[$0]) } }
        switch reduction {
        case .sum: run(T.self, identity: 0, scale: scale, +, finish: { sum, _ in sum })
        case .mean: run(T.self, identity: 0, scale: scale, +, finish: { sum, count in sum / T(count) })
        case .sqrtN:
            run(T.self, identity: 0, scale: scale, +, finish: { sum, count in sum / T(Double(count).squareRoot()) })
        case .product: run(T.self, identity: 1, scale: scale, *, finish: { value, _ in value })
        case .maximum:
            run(
                T.self,
                identity: -T.greatestFiniteMagnitude,
                scale: scale,
                { $0 > $1 ? $0 : $1 },
                finish: { value, _ in value }
            )
        case .minimum:
            run(
                T.self,
                identity: T.greatestFiniteMagnitude,
                scale: scale,
                { $0 < $1 ? $0 : $1 },
                finish: { value, _ in value }
            )
        }
    }

    /// Integers wrap on overflow, as TensorFlow's do; a mean truncates.
    func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) {
        guard weights == nil, reduction != .sqrtN else { throw .unsupported(op: op, dtype: T.dtype, node: node) }
        switch reduction {
        case .sum, .sqrtN: run(T.self, identity: 0, scale: nil, &+, finish: { sum, _ in sum })
        case .mean:
            run(T.self, identity: 0, scale: nil, &+, finish: { sum, count in sum / T(truncatingIfNeeded: count) })
        case .product: run(T.self, identity: 1, scale: nil, &*, finish: { value, _ in value })
        case .maximum: run(T.self, identity: T.min, scale: nil, { Swift.max($0, $1) }, finish: { value, _ in value })
        case .minimum: run(T.self, identity: T.max, scale: nil, { Swift.min($0, $1) }, finish: { value, _ in value })
        }
    }

    /// Combines each contribution's row (times `scale(k)` when given) into its target row,
    /// then finishes each row from its sum and row count.
    private func run<T: TensorElement & Numeric>(
        _ type: T.Type,
        identity: T,
        scale: ((Int) -> T)?,
        _ combine: (T, T) -> T,
        finish: (T, Int) -> T
    ) {
        var counts = [Int](repeating: 0, count: rows)
        data.withElements(of: T.self) { source in
            out.withMutableElements(of: T.self) { target in
                target.update(repeating: identity)
                for (k, contribution) in contributions.enumerated() {
                    counts[contribution.target] += 1
                    let (to, from) = (contribution.target * width, contribution.source * width)
                    if let scale {
                        let weight = scale(k)
                        for j in 0..<width { target[to + j] = combine(target[to + j], source[from + j] * weight) }
                    } else {
                        for j in 0..<width { target[to + j] = combine(target[to + j], source[from + j]) }
                    }
                }
                for row in 0..<rows {
                    let range = (row * width)..<((row + 1) * width)
                    if counts[row] == 0 {
                        // Empty segments are 0, or 1 for a product, whatever the identity.
                        for j in range { target[j] = reduction == .product ? 1 : 0 }
                    } else {
                        for j in range { target[j] = finish(target[j], counts[row]) }
                    }
                }
            }
        }
    }
}
