import WeftRuntime

extension Gradient {
    /// The tensor of the values: the dense tensor, or the rows.
    var values: Output {
        switch self {
        case .dense(let tensor): tensor
        case .sparse(let slices): slices.values
        }
    }

    /// The same kind of gradient with other values (the rows keep their indices).
    func replacingValues(with values: Output) -> Gradient {
        switch self {
        case .dense: .dense(values)
        case .sparse(let slices):
            .sparse(IndexedSlices(values: values, indices: slices.indices, denseShape: slices.denseShape))
        }
    }
}
