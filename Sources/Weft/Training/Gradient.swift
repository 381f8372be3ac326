import WeftRuntime

/// Some rows of a tensor: `values[i]` is row `indices[i]` of a tensor of shape `denseShape`,
/// TensorFlow's `IndexedSlices`. The gradient of a gather (an embedding lookup) has this form,
/// so an optimizer updates only the rows a step touched. An index may repeat: its rows add up.
public struct IndexedSlices: Sendable, Hashable {
    /// The rows, `[n, …]`.
    public var values: Output
    /// Which row of the dense tensor each row of `values` is: a vector of `n` int32 or int64.
    public var indices: Output
    /// The dense tensor's shape, when known.
    public var denseShape: Output?

    /// Makes slices of `values` at `indices`.
    public init(values: Output, indices: Output, denseShape: Output? = nil) {
        self.values = values
        self.indices = indices
        self.denseShape = denseShape
    }
}

/// The gradient of one variable: a dense tensor of the variable's shape, or some of its rows.
public enum Gradient: Sendable, Hashable {
    /// A tensor of the variable's shape.
    case dense(Output)
    /// Some rows, as a gather's gradient; optimizers apply them with the `SparseApply*` ops.
    case sparse(IndexedSlices)

    /// The tensor of the values: the dense tensor, or the rows.
    public var values: Output {
        switch self {
        case .dense(let tensor): tensor
        case .sparse(let slices): slices.values
        }
    }

    /// The same kind of gradient with other values (the rows keep their indices).
    func replacingValues(with values: Output) -> Gradient {
        switch self {
        case .dense: .dense(values)
        case .sparse(let slices): .sparse(IndexedSlices(values: values, indices: slices.indices, denseShape: slices.denseShape))
        }
    }
}
