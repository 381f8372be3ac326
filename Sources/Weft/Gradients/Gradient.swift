import WeftRuntime

/// A gradient that touches only some rows of a tensor: TensorFlow's `IndexedSlices`.
///
/// The dense gradient it stands for has shape `denseShape` and is zero except for the rows
/// `indices`, which hold `values` (`values` has shape `[indices.count] + denseShape[1...]`).
/// An index may repeat; its rows then add up. Gathers (embedding lookups) produce it, so an
/// optimizer can update only the rows a step used (`ScatterSub`, `SparseApplyAdagrad`, …).
public struct IndexedSlices: Sendable, Hashable {
    /// The rows, stacked along the first dimension.
    public var values: Output
    /// The index of each row in the dense tensor (`int32` or `int64`, rank 1).
    public var indices: Output
    /// The dense tensor's shape (`int32` or `int64`, rank 1).
    public var denseShape: Output

    /// Makes slices from their parts.
    public init(values: Output, indices: Output, denseShape: Output) {
        self.values = values
        self.indices = indices
        self.denseShape = denseShape
    }

    /// The element type of the gradient.
    public var dtype: DType { values.dtype }

    /// The dense tensor the slices stand for, summing repeated rows: an `UnsortedSegmentSum`
    /// over `denseShape[0]` segments, as TensorFlow converts slices where a dense tensor is needed.
    public func densified(name: String? = nil) -> Output {
        opScope(values.graph, name, default: "IndexedSlicesToDense") { opName in
            let rows = OpBuilder.stridedSlice(denseShape, begin: [0], end: [1], shrinkAxisMask: 1)
            return values.graph.addOperation(
                "UnsortedSegmentSum",
                name: opName,
                inputs: [values, indices, rows],
                attributes: [
                    "T": .type(values.dtype), "Tindices": .type(indices.dtype), "Tnumsegments": .type(rows.dtype),
                ]
            ).output()
        }
    }
}

/// The gradient with respect to one tensor: dense, or sparse rows.
public enum Gradient: Sendable, Hashable {
    /// A tensor of the shape of the one differentiated against.
    case dense(Output)
    /// Rows of it; see `IndexedSlices`.
    case sparse(IndexedSlices)

    /// The gradient as a dense tensor, densifying slices.
    public var densified: Output {
        switch self {
        case .dense(let output): output
        case .sparse(let slices): slices.densified()
        }
    }

    /// The element type.
    public var dtype: DType {
        switch self {
        case .dense(let output): output.dtype
        case .sparse(let slices): slices.dtype
        }
    }

    /// The graph the gradient is built in.
    public var graph: Graph {
        switch self {
        case .dense(let output): output.graph
        case .sparse(let slices): slices.values.graph
        }
    }
}

/// What `gradients(of:with:)` gives for a tensor the ys do not depend on: TensorFlow's
/// `tf.UnconnectedGradients`.
public enum UnconnectedGradients: Sendable, Hashable {
    /// `nil`, as `tf.gradients` does by default.
    case none
    /// A tensor of zeros of the tensor's shape and type.
    case zero
}

extension Gradient {
    /// The sum of several contributions: slices concatenated when all are slices, else `AddN`
    /// of the dense tensors.
    static func sum(_ contributions: [Gradient]) -> Gradient? {
        guard contributions.count > 1 else { return contributions.first }
        var slices: [IndexedSlices] = []
        for case .sparse(let part) in contributions { slices.append(part) }
        guard slices.count == contributions.count else { return .dense(addN(contributions.map(\.densified))) }
        let indexType: DType = slices.allSatisfy { $0.indices.dtype == .int32 } ? .int32 : .int64
        return .sparse(
            IndexedSlices(
                values: OpBuilder.concat(slices.map(\.values), axis: 0),
                indices: OpBuilder.concat(
                    slices.map { $0.indices.dtype == indexType ? $0.indices : cast($0.indices, to: indexType) },
                    axis: 0
                ),
                denseShape: slices[0].denseShape
            )
        )
    }
}
