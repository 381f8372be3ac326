/// Ops driven by a condition or by indices: `Where` (coordinates of true elements), `Select`,
/// `SelectV2` (broadcasting), `OneHot` and `MatrixBandPart`. Values move as bytes, so every
/// dtype works.
enum SelectOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        OpDefinition(
            "Where",
            inputCount: 1,
            outputTypes: { _, _ in [OutputType(.int64)] },
            makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try whereTrue(context))] } }
        ),
        OpDefinition(
            "Select",
            inputCount: 3,
            outputTypes: OpDefinition.outputOfInput(1),
            makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try select(context))] } }
        ),
        OpDefinition(
            "SelectV2",
            inputCount: 3,
            outputTypes: OpDefinition.outputOfInput(1),
            makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try selectV2(context))] } }
        ),
        OpDefinition(
            "OneHot",
            inputCount: 4,
            outputTypes: OpDefinition.outputOfInput(2),
            makeKernel: { node throws(WeftError) in
                let axis = try node.attributes.int("axis", default: -1)
                return ClosureKernel { context throws(WeftError) in [.tensor(try oneHot(context, axis: axis))] }
            }
        ),
        OpDefinition(
            "MatrixBandPart",
            inputCount: 3,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try bandPart(context))] } }
        ),
    ]

    // MARK: Where

    /// The coordinates (`[count, rank]`, int64) of the non-zero (true) elements, in row-major order.
    private static func whereTrue(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        guard x.shape.rank > 0 else {
            throw .invalidArgument("WhereOp : Unhandled input dimensions: 0", node: context.node)
        }
        let flat = try x.dtype.visit(TruePositions(tensor: x, node: context.node))
        let dims = x.shape.dimensions
        let out = try KernelChecks.allocate(.int64, TensorShape([flat.count, dims.count]), node: context.node)
        guard !flat.isEmpty else { return out }
        let strides = IndexedCopy.strides(dims)
        out.withMutableElements(of: Int64.self) { coordinates in
            var k = 0
            for position in flat {
                var rest = position
                for d in dims.indices {
                    coordinates[k] = Int64(rest / strides[d])
                    rest %= strides[d]
                    k += 1
                }
            }
        }
        return out
    }

    /// The flat positions of a tensor's non-zero elements (`NaN` counts as non-zero).
    private struct TruePositions: ElementVisitor {
        let tensor: Tensor
        let node: String
        var op: String { "Where" }

        func float<T: FloatElement>(_ type: T.Type) throws(WeftError) -> [Int] { positions(T.self) { $0 != 0 } }
        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) -> [Int] { positions(T.self) { $0 != 0 } }
        func bool() throws(WeftError) -> [Int] { positions(Bool.self) { $0 } }

        private func positions<T: TensorElement>(_ type: T.Type, _ isTrue: (T) -> Bool) -> [Int] {
            tensor.withElements(of: T.self) { values in values.indices.filter { isTrue(values[$0]) } }
        }
    }

    // MARK: Select

    /// `Select(condition, t, e)`: elementwise when `condition` has `t`'s shape, whole rows
    /// when it is a vector over `t`'s first dimension, the whole tensor when it is a scalar.
    private static func select(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let condition = try context.input(0)
        let then = try context.input(1)
        let otherwise = try context.input(2)
        try checkTypes(condition, then, otherwise, op: "Select", node: context.node)
        guard then.shape == otherwise.shape else {
            throw .invalidArgument(
                "'then' and 'else' must have the same size.  but received: \(then.shape) vs. \(otherwise.shape)",
                node: context.node
            )
        }
        let flags = condition.elements(as: Bool.self)
        if condition.shape.rank == 0 { return flags[0] ? then : otherwise }
        let rows: Int
        if condition.shape.rank == 1, then.shape.rank != 1 {
            guard then.shape.rank >= 1 else {
                throw .invalidArgument(
                    "'then' must be at least a vector, but saw shape: \(then.shape)",
                    node: context.node
                )
            }
            guard then.shape.dimensions[0] == condition.elementCount else {
                throw .invalidArgument(
                    "Number of batches of 'then' must match size of 'cond', but saw: \(then.shape.dimensions[0]) vs. \(condition.elementCount)",
                    node: context.node
                )
            }
            rows = condition.elementCount
        } else {
            guard condition.shape == then.shape else {
                throw .invalidArgument(
                    "'condition' and 'then' must have the same size.  but received: \(condition.shape) vs. \(then.shape)",
                    node: context.node
                )
            }
            rows = then.elementCount
        }
        let out = try KernelChecks.allocate(then.dtype, then.shape, node: context.node)
        let rowBytes = rows == 0 ? 0 : then.byteCount / rows
        for (row, flag) in flags.enumerated() {
            let source = (flag ? then : otherwise).buffer.base + row * rowBytes
            IndexedCopy.moveBytes(rowBytes, from: source, to: out.buffer.base + row * rowBytes)
        }
        return out
    }

    private static func checkTypes(
        _ condition: Tensor,
        _ then: Tensor,
        _ otherwise: Tensor,
        op: String,
        node: String
    )
        throws(WeftError)
    {
        try KernelChecks.dtype(condition, input: 0, expected: .bool, op: op, node: node)
        try KernelChecks.dtype(otherwise, input: 2, expected: then.dtype, op: op, node: node)
    }

    /// `SelectV2(condition, t, e)`: the three operands broadcast together, NumPy style.
    private static func selectV2(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let condition = try context.input(0)
        let then = try context.input(1)
        let otherwise = try context.input(2)
        try checkTypes(condition, then, otherwise, op: "SelectV2", node: context.node)
        let shape: TensorShape
        do {
            shape = try Broadcast.shape(try Broadcast.shape(condition.shape, then.shape), otherwise.shape)
        } catch {
            throw .invalidArgument(
                "condition \(condition.shape), then \(then.shape), and else \(otherwise.shape) must be broadcastable",
                node: context.node
            )
        }
        let out = try KernelChecks.allocate(then.dtype, shape, node: context.node)
        guard out.elementCount > 0 else { return out }
        let dims = shape.dimensions
        let conditionStrides = broadcastStrides(condition.shape, rank: dims.count)
        let thenStrides = broadcastStrides(then.shape, rank: dims.count)
        let elseStrides = broadcastStrides(otherwise.shape, rank: dims.count)
        let size = then.dtype.byteSize
        condition.withElements(of: Bool.self) { flags in
            var counters = [Int](repeating: 0, count: dims.count)
            var (c, t, e) = (0, 0, 0)
            for i in 0..<out.elementCount {
                let source = flags[c] ? then.buffer.base + t * size : otherwise.buffer.base + e * size
                IndexedCopy.moveBytes(size, from: source, to: out.buffer.base + i * size)
                var d = dims.count - 1
                while d >= 0 {
                    counters[d] += 1
                    c += conditionStrides[d]
                    t += thenStrides[d]
                    e += elseStrides[d]
                    if counters[d] < dims[d] { break }
                    c -= conditionStrides[d] * dims[d]
                    t -= thenStrides[d] * dims[d]
                    e -= elseStrides[d] * dims[d]
                    counters[d] = 0
                    d -= 1
                }
            }
        }
        return out
    }

    /// Element strides of `shape` aligned at the right of a result of `rank` dimensions, 0
    /// where the operand is repeated.
    private static func broadcastStrides(_ shape: TensorShape, rank: Int) -> [Int] {
        let dims = shape.dimensions
        let strides = IndexedCopy.strides(dims)
        let lead = rank - dims.count
        return (0..<rank).map { d in d < lead || dims[d - lead] == 1 ? 0 : strides[d - lead] }
    }

    // MARK: OneHot

    private static func oneHot(_ context: OpKernelContext, axis: Int) throws(WeftError) -> Tensor {
        let indicesTensor = try context.input(0)
        let depthTensor = try context.input(1)
        let on = try context.input(2)
        let off = try context.input(3)
        let rank = indicesTensor.shape.rank
        guard axis == -1 || (axis >= 0 && axis <= rank) else {
            throw .invalidArgument(
                "Expected axis to be -1 or between [0, \(rank + 1)).  But received: \(axis)",
                node: context.node
            )
        }
        guard depthTensor.shape.rank == 0 else {
            throw .invalidArgument("depth must be a scalar, but got: \(depthTensor.shape)", node: context.node)
        }
        guard on.shape.rank == 0 else {
            throw .invalidArgument("on_value must be a scalar, but got: \(on.shape)", node: context.node)
        }
        guard off.shape.rank == 0 else {
            throw .invalidArgument("off_value must be a scalar, but got: \(off.shape)", node: context.node)
        }
        try KernelChecks.dtype(off, input: 3, expected: on.dtype, op: "OneHot", node: context.node)
        let depth = try KernelChecks.scalarIndex(depthTensor, what: "depth", node: context.node)
        guard depth >= 0 else {
            throw .invalidArgument("depth must be non-negative, got: \(depth)", node: context.node)
        }
        let indices = try KernelChecks.integers(indicesTensor, what: "indices", node: context.node)
        let at = axis == -1 ? rank : axis
        var dims = indicesTensor.shape.dimensions
        dims.insert(depth, at: at)
        let out = try IndexedCopy.filled(TensorShape(dims), with: off, node: context.node)
        guard out.elementCount > 0 else { return out }
        let suffix = indicesTensor.shape.dimensions[at...].reduce(1, *)
        let size = on.dtype.byteSize
        for (flat, index) in indices.enumerated() where index >= 0 && index < depth {
            let (prefix, inner) = flat.quotientAndRemainder(dividingBy: suffix)
            IndexedCopy.moveBytes(
                size,
                from: on.buffer.base,
                to: out.buffer.base + ((prefix * depth + index) * suffix + inner) * size
            )
        }
        return out
    }
}

extension SelectOps {
    /// `MatrixBandPart(input, num_lower, num_upper)`: each innermost matrix with everything
    /// more than `num_lower` below or `num_upper` above the diagonal set to zero (a negative
    /// count keeps that whole triangle).
    fileprivate static func bandPart(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let lowerTensor = try context.input(1)
        let upperTensor = try context.input(2)
        let dims = x.shape.dimensions
        guard dims.count >= 2 else {
            throw .invalidArgument("input must be at least 2-dim, received shape: \(x.shape)", node: context.node)
        }
        guard lowerTensor.shape.rank == 0 else {
            throw .invalidArgument("num_lower must be scalar, got shape \(lowerTensor.shape)", node: context.node)
        }
        guard upperTensor.shape.rank == 0 else {
            throw .invalidArgument("num_upper must be scalar, got shape \(upperTensor.shape)", node: context.node)
        }
        let (rows, columns) = (dims[dims.count - 2], dims[dims.count - 1])
        let lower = try KernelChecks.scalarIndex(lowerTensor, what: "num_lower", node: context.node)
        let upper = try KernelChecks.scalarIndex(upperTensor, what: "num_upper", node: context.node)
        guard lower <= rows else {
            throw .invalidArgument(
                "num_lower must be negative or less or equal to number of rows (\(rows)) got: \(lower)",
                node: context.node
            )
        }
        guard upper <= columns else {
            throw .invalidArgument(
                "num_upper must be negative or less or equal to number of columns (\(columns)) got: \(upper)",
                node: context.node
            )
        }
        let out = try IndexedCopy.zeros(x.dtype, x.shape, node: context.node)
        // An empty tensor may have huge dimensions beside its zero one: no products of those.
        guard out.elementCount > 0 else { return out }
        let size = x.dtype.byteSize
        let matrices = x.elementCount / (rows * columns)
        for matrix in 0..<matrices {
            for row in 0..<rows {
                let first = lower < 0 ? 0 : max(0, row - lower)
                let end = upper < 0 ? columns : min(columns, row + upper + 1)
                guard first < end else { continue }
                let offset = ((matrix * rows + row) * columns + first) * size
                (out.buffer.base + offset).copyMemory(from: x.buffer.base + offset, byteCount: (end - first) * size)
            }
        }
        return out
    }
}

extension KernelChecks {
    /// The values of an integer tensor of any width as `Int`s (`uint64` values above
    /// `Int.max` wrap to negatives, which callers treat as out of range).
    static func integers(_ tensor: Tensor, what: String, node: String) throws(WeftError) -> [Int] {
        struct Reader: ElementVisitor {
            let tensor: Tensor
            let what: String
            let node: String
            var op: String { what }
            func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) -> [Int] {
                tensor.withElements(of: T.self) { $0.map { Int(truncatingIfNeeded: $0) } }
            }
            func float<T: FloatElement>(_ type: T.Type) throws(WeftError) -> [Int] { throw notInteger() }
            func bool() throws(WeftError) -> [Int] { throw notInteger() }
            private func notInteger() -> WeftError {
                .invalidArgument("\(what) must be an integer tensor, got \(tensor.dtype)", node: node)
            }
        }
        switch tensor.dtype {
        case .int32, .int64, .int8, .int16, .uint8, .uint16, .uint32, .uint64:
            return try tensor.dtype.visit(Reader(tensor: tensor, what: what, node: node))
        default:
            throw .invalidArgument("\(what) must be an integer tensor, got \(tensor.dtype)", node: node)
        }
    }
}
