/// Ops on the diagonals of the innermost matrices: `MatrixDiag`, `MatrixDiagPart`,
/// `MatrixSetDiag` in their three versions (V2 adds a band of diagonals `k`, the matrix size and
/// a padding value; V3 adds `align`), and `Diag` / `DiagPart` of whole tensors. Elements move
/// as bytes, so every dtype works.
enum DiagonalOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        matrixDiag("MatrixDiag", version: 1), matrixDiag("MatrixDiagV2", version: 2),
        matrixDiag("MatrixDiagV3", version: 3),
        diagPart("MatrixDiagPart", version: 1), diagPart("MatrixDiagPartV2", version: 2),
        diagPart("MatrixDiagPartV3", version: 3),
        setDiag("MatrixSetDiag", version: 1), setDiag("MatrixSetDiagV2", version: 2),
        setDiag("MatrixSetDiagV3", version: 3),
        OpDefinition(
            "Diag",
            inputCount: 1,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try diag(context))] } }
        ),
        OpDefinition(
            "DiagPart",
            inputCount: 1,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try diagPartOfTensor(context))] } }
        ),
    ]

    /// Where the diagonals of a band sit in their packed `[num_diags, max_diag_len]` form.
    struct Band {
        /// The lowest and highest diagonal (`0` main, positive above, negative below).
        var lower: Int, upper: Int
        /// The matrix size.
        var rows: Int, columns: Int
        /// The length of the longest diagonal in the band: the packed rows' length.
        var length: Int
        /// Whether superdiagonals (including the main one) and subdiagonals are right-aligned.
        var superRight: Bool, subRight: Bool

        /// The number of diagonals.
        var count: Int { upper - lower + 1 }

        /// The length of diagonal `d`.
        func length(of d: Int) -> Int { min(rows + min(0, d), columns - max(0, d)) }

        /// Calls `body(row, column, packedIndex)` for every element of every diagonal of the
        /// band; `packedIndex` is its position in the `[count, length]` packed form.
        func forEachElement(_ body: (Int, Int, Int) -> Void) {
            for d in lower...upper {
                let size = length(of: d)
                guard size > 0 else { continue }
                let right = d >= 0 ? superRight : subRight
                let start = (upper - d) * length + (right ? length - size : 0)
                let (row, column) = (max(-d, 0), max(d, 0))
                for n in 0..<size { body(row + n, column + n, start + n) }
            }
        }
    }

    /// `align` (V3): how super- and subdiagonals shorter than the longest are padded.
    private static func alignment(_ node: NodeInfo, version: Int) throws(WeftError) -> (Bool, Bool) {
        guard version == 3 else { return (false, false) }
        switch try node.attributes.string("align", default: "RIGHT_LEFT") {
        case "LEFT_LEFT": return (false, false)
        case "LEFT_RIGHT": return (false, true)
        case "RIGHT_LEFT": return (true, false)
        case "RIGHT_RIGHT": return (true, true)
        case let other:
            throw WeftError(.invalidArgument, "node '\(node.name)': unknown align '\(other)'")
        }
    }

    /// `k` (a scalar or a `[lower, upper]` pair), checked like TensorFlow.
    fileprivate static func diagonalRange(_ tensor: Tensor, node: String) throws(WeftError) -> (Int, Int) {
        guard tensor.shape.rank <= 1 else {
            throw .invalidArgument("diag_index must be a scalar or vector, received shape: \(tensor.shape)", node: node)
        }
        // int32, as TensorFlow declares it, keeps every sum of indices and sizes in range.
        guard tensor.dtype == .int32 else {
            throw .invalidArgument("k must be an int32 tensor, got \(tensor.dtype)", node: node)
        }
        let k = try KernelChecks.indices(tensor, what: "k", node: node)
        guard k.count == 1 || k.count == 2 else {
            throw .invalidArgument(
                "diag_index must have only one or two elements, received \(k.count) elements.",
                node: node
            )
        }
        let (lower, upper) = (k[0], k.count == 2 ? k[1] : k[0])
        guard lower <= upper else {
            throw .invalidArgument(
                "lower_diag_index must not be larger than upper_diag_index: \(lower) > \(upper)",
                node: node
            )
        }
        return (lower, upper)
    }

    /// Throws unless the band lies in a `rows` × `columns` matrix (the main diagonal always does).
    fileprivate static func checkBand(_ lower: Int, _ upper: Int, rows: Int, columns: Int, node: String) throws(WeftError) {
        for (name, index) in [("lower", lower), ("upper", upper)] {
            guard (index > -rows && index < columns) || index == 0 else {
                throw .invalidArgument(
                    "\(name)_diag_index is out of bound: \(index). It must be between \(-rows) and \(columns)",
                    node: node
                )
            }
        }
    }

    /// A scalar padding value of `dtype`, or zero bytes when the op has none (version 1).
    private static func padding(_ context: OpKernelContext, input: Int?, dtype: DType) throws(WeftError) -> Tensor? {
        guard let input else { return nil }
        let value = try context.input(input)
        guard value.shape.rank == 0 else {
            throw .invalidArgument("padding_value must be a scalar, received shape: \(value.shape)", node: context.node)
        }
        try KernelChecks.dtype(value, input: input, expected: dtype, op: "MatrixDiag", node: context.node)
        return value
    }

    // MARK: MatrixDiag

    /// `MatrixDiag[V2|V3](diagonal, k, num_rows, num_cols, padding_value)`: matrices with the
    /// given diagonals and `padding_value` (0 in version 1) elsewhere.
    private static func matrixDiag(_ name: String, version: Int) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: version == 1 ? 1 : 5,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let (superRight, subRight) = try alignment(node, version: version)
                return ClosureKernel { context throws(WeftError) in
                    let diagonal = try context.input(0)
                    var (lower, upper, rows, columns) = (0, 0, -1, -1)
                    if version > 1 {
                        (lower, upper) = try diagonalRange(try context.input(1), node: context.node)
                        rows = try KernelChecks.scalarIndex(try context.input(2), what: "num_rows", node: context.node)
                        columns = try KernelChecks.scalarIndex(
                            try context.input(3),
                            what: "num_cols",
                            node: context.node
                        )
                    }
                    let dims = diagonal.shape.dimensions
                    let packed = lower == upper ? 1 : 2
                    guard dims.count >= packed else {
                        throw .invalidArgument(
                            "diagonal must be at least \(packed)-D, got shape \(diagonal.shape)",
                            node: context.node
                        )
                    }
                    let length = dims[dims.count - 1]
                    if packed == 2, dims[dims.count - 2] != upper - lower + 1 {
                        throw .invalidArgument(
                            "The number of diagonals provided in the input does not match the lower_diag_index and upper_diag_index range.",
                            node: context.node
                        )
                    }
                    let minRows = length - min(upper, 0)
                    let minColumns = length + max(lower, 0)
                    if rows == -1 && columns == -1 {
                        rows = max(minRows, minColumns)
                        columns = rows
                    } else if rows == -1 {
                        rows = minRows
                    } else if columns == -1 {
                        columns = minColumns
                    }
                    guard rows >= minRows, columns >= minColumns, rows == minRows || columns == minColumns else {
                        throw .invalidArgument(
                            "The number of rows or columns is not consistent with the specified d_lower, d_upper, and diagonal.",
                            node: context.node
                        )
                    }
                    let band = Band(
                        lower: lower,
                        upper: upper,
                        rows: rows,
                        columns: columns,
                        length: length,
                        superRight: superRight,
                        subRight: subRight
                    )
                    let batchDims = Array(dims.dropLast(packed))
                    let shape = TensorShape(batchDims + [rows, columns])
                    let out =
                        if let value = try padding(context, input: version > 1 ? 4 : nil, dtype: diagonal.dtype) {
                            try IndexedCopy.filled(shape, with: value, node: context.node)
                        } else {
                            try IndexedCopy.zeros(diagonal.dtype, shape, node: context.node)
                        }
                    // Empty tensors may have huge dimensions whose products overflow: nothing to move.
                    guard out.elementCount > 0, diagonal.elementCount > 0 else { return [.tensor(out)] }
                    let size = diagonal.dtype.byteSize
                    let (matrix, packedSize) = (rows * columns, band.count * length)
                    for b in 0..<batchDims.reduce(1, *) where matrix > 0 {
                        let (target, source) = (
                            out.buffer.base + b * matrix * size, diagonal.buffer.base + b * packedSize * size
                        )
                        band.forEachElement { i, j, p in
                            IndexedCopy.moveBytes(size, from: source + p * size, to: target + (i * columns + j) * size)
                        }
                    }
                    return [.tensor(out)]
                }
            }
        )
    }

    // MARK: MatrixDiagPart

    /// `MatrixDiagPart[V2|V3](input, k, padding_value)`: the band's diagonals packed into rows
    /// of the longest one's length, shorter ones padded.
    private static func diagPart(_ name: String, version: Int) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: version == 1 ? 1 : 3,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let (superRight, subRight) = try alignment(node, version: version)
                return ClosureKernel { context throws(WeftError) in
                    let x = try context.input(0)
                    let band = try Band(
                        of: x,
                        k: version > 1 ? try context.input(1) : nil,
                        superRight: superRight,
                        subRight: subRight,
                        node: context.node
                    )
                    let batchDims = Array(x.shape.dimensions.dropLast(2))
                    let (lower, upper, length) = (band.lower, band.upper, band.length)
                    let (rows, columns) = (band.rows, band.columns)
                    let shape = TensorShape(batchDims + (lower == upper ? [length] : [band.count, length]))
                    let out =
                        if let value = try padding(context, input: version > 1 ? 2 : nil, dtype: x.dtype) {
                            try IndexedCopy.filled(shape, with: value, node: context.node)
                        } else {
                            try IndexedCopy.zeros(x.dtype, shape, node: context.node)
                        }
                    guard out.elementCount > 0, x.elementCount > 0 else { return [.tensor(out)] }
                    let size = x.dtype.byteSize
                    let (matrix, packedSize) = (rows * columns, band.count * length)
                    for b in 0..<batchDims.reduce(1, *) where packedSize > 0 {
                        let (source, target) = (
                            x.buffer.base + b * matrix * size, out.buffer.base + b * packedSize * size
                        )
                        band.forEachElement { i, j, p in
                            IndexedCopy.moveBytes(size, from: source + (i * columns + j) * size, to: target + p * size)
                        }
                    }
                    return [.tensor(out)]
                }
            }
        )
    }

    // MARK: MatrixSetDiag

    /// `MatrixSetDiag[V2|V3](input, diagonal, k)`: `input` with the band's diagonals replaced.
    private static func setDiag(_ name: String, version: Int) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: version == 1 ? 2 : 3,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let (superRight, subRight) = try alignment(node, version: version)
                return ClosureKernel { context throws(WeftError) in
                    let x = try context.input(0)
                    let diagonal = try context.input(1)
                    try KernelChecks.dtype(diagonal, input: 1, expected: x.dtype, op: name, node: context.node)
                    let band = try Band(
                        of: x,
                        k: version > 1 ? try context.input(2) : nil,
                        superRight: superRight,
                        subRight: subRight,
                        node: context.node
                    )
                    let batchDims = Array(x.shape.dimensions.dropLast(2))
                    let (lower, upper, length) = (band.lower, band.upper, band.length)
                    let (rows, columns) = (band.rows, band.columns)
                    let expected = batchDims + (lower == upper ? [length] : [band.count, length])
                    guard diagonal.shape.dimensions == expected else {
                        throw .invalidArgument(
                            "diagonal must have shape \(TensorShape(expected)) for input shape \(x.shape) and k = [\(lower), \(upper)], got \(diagonal.shape)",
                            node: context.node
                        )
                    }
                    let out = try KernelChecks.allocate(x.dtype, x.shape, node: context.node)
                    out.buffer.base.copyMemory(from: x.buffer.base, byteCount: x.byteCount)
                    guard out.elementCount > 0, diagonal.elementCount > 0 else { return [.tensor(out)] }
                    let size = x.dtype.byteSize
                    let (matrix, packedSize) = (rows * columns, band.count * length)
                    for b in 0..<batchDims.reduce(1, *) where packedSize > 0 {
                        let (target, source) = (
                            out.buffer.base + b * matrix * size, diagonal.buffer.base + b * packedSize * size
                        )
                        band.forEachElement { i, j, p in
                            IndexedCopy.moveBytes(size, from: source + p * size, to: target + (i * columns + j) * size)
                        }
                    }
                    return [.tensor(out)]
                }
            }
        )
    }

    // MARK: Diag, DiagPart

    /// `Diag(diagonal)`: a tensor of shape `diagonal.shape + diagonal.shape`, zero except
    /// `output[i…, i…] = diagonal[i…]`.
    private static func diag(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        guard x.shape.rank >= 1 else {
            throw .invalidArgument("Input must be at least rank 1, got 0", node: context.node)
        }
        let n = x.elementCount
        let out = try IndexedCopy.zeros(
            x.dtype,
            TensorShape(x.shape.dimensions + x.shape.dimensions),
            node: context.node
        )
        let size = x.dtype.byteSize
        for p in 0..<n {
            IndexedCopy.moveBytes(size, from: x.buffer.base + p * size, to: out.buffer.base + (p * n + p) * size)
        }
        return out
    }

    /// `DiagPart(input)`: for an input of shape `s + s`, the elements `input[i…, i…]`.
    private static func diagPartOfTensor(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let dims = x.shape.dimensions
        let half = dims.count / 2
        guard dims.count >= 2, dims.count % 2 == 0, Array(dims[..<half]) == Array(dims[half...]) else {
            throw .invalidArgument(
                "Invalid shape \(x.shape): dimensions must be even in number and match in halves",
                node: context.node
            )
        }
        let out = try KernelChecks.allocate(x.dtype, TensorShape(Array(dims[..<half])), node: context.node)
        let n = out.elementCount
        let size = x.dtype.byteSize
        for p in 0..<n {
            IndexedCopy.moveBytes(size, from: x.buffer.base + (p * n + p) * size, to: out.buffer.base + p * size)
        }
        return out
    }
}

extension DiagonalOps.Band {
    /// The band of the matrices in `x` (rank 2 or more) that `k` (a diagonal or a range of
    /// them; the main diagonal when `nil`) selects, checked.
    init(of x: Tensor, k: Tensor?, superRight: Bool, subRight: Bool, node: String) throws(WeftError) {
        let dims = x.shape.dimensions
        guard dims.count >= 2 else {
            throw .invalidArgument("input must be at least 2-dim, received shape: \(x.shape)", node: node)
        }
        (rows, columns) = (dims[dims.count - 2], dims[dims.count - 1])
        (lower, upper) = try k.map { (k) throws(WeftError) in try DiagonalOps.diagonalRange(k, node: node) } ?? (0, 0)
        try DiagonalOps.checkBand(lower, upper, rows: rows, columns: columns, node: node)
        length = max(min(rows + min(upper, 0), columns - max(lower, 0)), 0)
        (self.superRight, self.subRight) = (superRight, subRight)
    }
}
