/// Shape and layout ops: `Reshape`, `Shape`, `Size`, `Rank`, `Fill`, `ZerosLike`, `OnesLike`,
/// `ExpandDims`, `Squeeze`, `Transpose`, `ConcatV2`, `Concat`, `Pack`, `Range`, `Tile`.
///
/// Ops that only change the shape share the input's buffer; the others move bytes without
/// looking at the dtype (except `Range` and `OnesLike`, which make values).
enum ArrayOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        OpDefinition.single("Reshape", inputs: 2, reshape),
        shapeOf("Shape", scalar: false),
        shapeOf("Size", scalar: true),
        OpDefinition(
            "Rank",
            inputCount: 1,
            isExpensive: false,
            outputTypes: { _, _ in [OutputType(.int32)] },
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in [.tensor(Tensor(Int32(try context.input(0).shape.rank)))] }
            }
        ),
        OpDefinition(
            "Fill",
            inputCount: 2,
            outputTypes: OpDefinition.outputOfInput(1),
            makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try fill(context))] } }
        ),
        OpDefinition.single("ZerosLike", inputs: 1) { context throws(WeftError) in
            try VariantZeros.zeros(like: try context.input(0), node: context.node)
        },
        OpDefinition.single("OnesLike", inputs: 1) { context throws(WeftError) in
            let x = try context.input(0)
            return try ElementFill.repeating(one: x.dtype, shape: x.shape)
        },
        OpDefinition.single("ExpandDims", inputs: 2, expandDims),
        squeeze,
        OpDefinition.single("Transpose", inputs: 2, transpose),
        OpDefinition(
            "ConcatV2",
            inputCount: nil,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let count = try variadicCount(node, extra: 1)
                return ClosureKernel { context throws(WeftError) in
                    [.tensor(try concat(context, count: count, axisFirst: false))]
                }
            }
        ),
        // The first version, still in old graphs: the axis comes first, the values after it.
        OpDefinition(
            "Concat",
            inputCount: nil,
            outputTypes: OpDefinition.outputOfInput(1),
            makeKernel: { node throws(WeftError) in
                let count = try variadicCount(node, extra: 1)
                return ClosureKernel { context throws(WeftError) in
                    [.tensor(try concat(context, count: count, axisFirst: true))]
                }
            }
        ),
        OpDefinition(
            "Pack",
            inputCount: nil,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let count = try variadicCount(node, extra: 0)
                let axis = try node.attributes.int("axis", default: 0)
                return ClosureKernel { context throws(WeftError) in
                    [.tensor(try pack(context, count: count, axis: axis))]
                }
            }
        ),
        OpDefinition(
            "Range",
            inputCount: 3,
            outputTypes: { node, inputs throws(WeftError) in
                [OutputType(try node.optionalType("Tidx") ?? inputs.first?.dtype ?? .int32)]
            },
            makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try RangeOp.compute(context))] } }
        ),
        OpDefinition.single("Tile", inputs: 2, tile),
    ]

    // MARK: Definitions

    /// `Shape` (the dimensions as a vector) or `Size` (the element count as a scalar), as
    /// `out_type` (`int32` unless the node says `int64`).
    private static func shapeOf(_ name: String, scalar: Bool) -> OpDefinition {
        @Sendable func outputType(_ node: NodeInfo) throws(WeftError) -> DType {
            let type = try node.optionalType("out_type") ?? .int32
            guard type == .int32 || type == .int64 else {
                throw WeftError(
                    .invalidArgument,
                    "node '\(node.name)' (\(name)): out_type must be int32 or int64, not \(type)"
                )
            }
            return type
        }
        return OpDefinition(
            name,
            inputCount: 1,
            isExpensive: false,
            outputTypes: { node, _ throws(WeftError) in [OutputType(try outputType(node))] },
            makeKernel: { node throws(WeftError) in
                let type = try outputType(node)
                return ClosureKernel { context throws(WeftError) in
                    let shape = try context.input(0).shape
                    let values = scalar ? [shape.elementCount] : shape.dimensions
                    if type == .int32, let overflow = values.first(where: { $0 > Int(Int32.max) }) {
                        throw .invalidArgument(
                            "\(overflow) does not fit in int32; use out_type int64",
                            node: context.node
                        )
                    }
                    let dims = scalar ? TensorShape.scalar : TensorShape([values.count])
                    let out =
                        type == .int32
                        ? try Tensor(values.map { Int32($0) }, shape: dims)
                        : try Tensor(values.map { Int64($0) }, shape: dims)
                    return [.tensor(out)]
                }
            }
        )
    }

    /// `N` for ops with `N` data inputs plus `extra` more, checked against the node's inputs.
    private static func variadicCount(_ node: NodeInfo, extra: Int) throws(WeftError) -> Int {
        let inputs = node.dataInputs.count - extra
        let count = try node.attributes.int("N", default: inputs)
        guard count >= 1, count == inputs else {
            throw WeftError(
                .invalidArgument,
                "node '\(node.name)' (\(node.op)) has attribute N=\(count) but \(inputs) value inputs; N must be at least 1"
            )
        }
        return count
    }

    // MARK: Shape-only ops (no copy)

    /// A tensor with `x`'s bytes and a new shape of the same element count.
    private static func sharing(_ x: Tensor, shape: TensorShape) -> Tensor {
        Tensor(dtype: x.dtype, shape: shape, buffer: x.buffer)
    }

    @Sendable private static func reshape(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let requestedTensor = try context.input(1)
        guard requestedTensor.shape.rank <= 1 else {
            throw .invalidArgument("sizes input must be 1-D, not \(requestedTensor.shape)", node: context.node)
        }
        let requested = try KernelChecks.indices(requestedTensor, what: "shape", node: context.node)
        var dims = requested
        var inferred: Int?
        // The product of the known non-zero sizes: zero sizes are left out so that a `-1`
        // beside them can still be inferred from the input's non-zero dimensions.
        var known = 1
        var hasZero = false
        var overflow = false
        for (index, size) in requested.enumerated() {
            if size == -1 {
                if let first = inferred {
                    throw .invalidArgument(
                        "Only one input size may be -1, not both \(first) and \(index)",
                        node: context.node
                    )
                }
                inferred = index
            } else if size < 0 {
                throw .invalidArgument("Size \(index) must be non-negative, not \(size)", node: context.node)
            } else if size == 0 {
                hasZero = true
            } else {
                let product = known.multipliedReportingOverflow(by: size)
                known = product.partialValue
                overflow = overflow || product.overflow
            }
        }
        guard !overflow else {
            throw .invalidArgument(
                "Requested shape \(requested) has more elements than can be counted",
                node: context.node
            )
        }
        var total = hasZero ? 0 : known
        if let inferred {
            // TensorFlow's rule: the input's zero dimensions are left out too when the
            // requested shape has a zero, so [0, 2] reshaped to [0, -1] is [0, 2].
            var inputCount = 1
            var inputHasZero = false
            for size in x.shape.dimensions {
                if size > 0 || !hasZero { inputCount *= size } else { inputHasZero = true }
            }
            let missing = inputCount / known
            guard inputHasZero || known * missing == inputCount else {
                throw .invalidArgument(
                    "Input to reshape is a tensor with \(x.elementCount) values, but the requested shape requires a multiple of \(known)",
                    node: context.node
                )
            }
            dims[inferred] = missing
            total = hasZero ? 0 : known * missing
        }
        guard total == x.elementCount else {
            throw .invalidArgument(
                "Input to reshape is a tensor with \(x.elementCount) values, but the requested shape has \(total)",
                node: context.node
            )
        }
        return sharing(x, shape: TensorShape(dims))
    }

    @Sendable private static func expandDims(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let axis = try KernelChecks.scalarIndex(try context.input(1), what: "dim", node: context.node)
        let rank = x.shape.rank
        guard axis >= -rank - 1 && axis <= rank else {
            throw .invalidArgument(
                "Tried to expand dim index \(axis) for tensor with \(rank) dimensions.",
                node: context.node
            )
        }
        var dims = x.shape.dimensions
        dims.insert(1, at: axis < 0 ? axis + rank + 1 : axis)
        return sharing(x, shape: TensorShape(dims))
    }

    /// `Squeeze`: drops the size-1 dimensions listed in `squeeze_dims`, or all of them.
    private static let squeeze = OpDefinition(
        "Squeeze",
        inputCount: 1,
        outputTypes: OpDefinition.outputOfInput(0),
        makeKernel: { node throws(WeftError) in
            let listed = try node.attributes.ints("squeeze_dims", default: [])
            return ClosureKernel { context throws(WeftError) in
                let x = try context.input(0)
                let dims = x.shape.dimensions
                let rank = dims.count
                var drop = Set<Int>()
                for axis in listed {
                    guard axis >= -rank && axis < rank else {
                        throw .invalidArgument(
                            "Tried to squeeze dim index \(axis) for tensor with \(rank) dimensions.",
                            node: context.node
                        )
                    }
                    let normalized = axis < 0 ? axis + rank : axis
                    guard dims[normalized] == 1 else {
                        throw .invalidArgument(
                            "Can not squeeze dim[\(normalized)], expected a dimension of 1, got \(dims[normalized])",
                            node: context.node
                        )
                    }
                    drop.insert(normalized)
                }
                let kept = dims.indices.filter { listed.isEmpty ? dims[$0] != 1 : !drop.contains($0) }.map { dims[$0] }
                return [.tensor(sharing(x, shape: TensorShape(kept)))]
            }
        }
    )

    // MARK: Ops that make values

    private static func fill(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let dimsTensor = try context.input(0)
        let value = try context.input(1)
        guard dimsTensor.shape.rank <= 1 else {
            throw .invalidArgument("dims must be a vector, got shape \(dimsTensor.shape)", node: context.node)
        }
        guard value.shape.rank == 0 else {
            throw .invalidArgument("value must be a scalar, got shape \(value.shape)", node: context.node)
        }
        let dims = try KernelChecks.indices(dimsTensor, what: "dims", node: context.node)
        if let negative = dims.first(where: { $0 < 0 }) {
            throw .invalidArgument("Fill dimensions must be >= 0, got \(negative) in \(dims)", node: context.node)
        }
        if value.dtype.isObject {
            return try ElementFill.objects(repeating: value, shape: TensorShape(dims), node: context.node)
        }
        let out = try KernelChecks.allocate(value.dtype, TensorShape(dims), node: context.node)
        ElementFill.fill(out, with: value)
        return out
    }

    private static func pack(_ context: OpKernelContext, count: Int, axis: Int) throws(WeftError) -> Tensor {
        let values = try (0..<count).map { (index) throws(WeftError) in try context.input(index) }
        let first = values[0]
        let rank = first.shape.rank
        guard axis >= -(rank + 1) && axis <= rank else {
            throw .invalidArgument("axis = \(axis) not in [\(-(rank + 1)), \(rank + 1))", node: context.node)
        }
        let normalized = axis < 0 ? axis + rank + 1 : axis
        for (index, value) in values.enumerated() {
            try KernelChecks.dtype(value, input: index, expected: first.dtype, op: "Pack", node: context.node)
            guard value.shape == first.shape else {
                throw .invalidArgument(
                    "Shapes of all inputs must match: values[0].shape = \(first.shape) != values[\(index)].shape = \(value.shape)",
                    node: context.node
                )
            }
        }
        // Stacking is concatenating the inputs, each given a size-1 dimension at `axis`.
        var dims = first.shape.dimensions
        dims.insert(1, at: normalized)
        let expanded = values.map { sharing($0, shape: TensorShape(dims)) }
        return Concatenation.join(expanded, axis: normalized)
    }

    private static func concat(_ context: OpKernelContext, count: Int, axisFirst: Bool) throws(WeftError) -> Tensor {
        let start = axisFirst ? 1 : 0
        let values = try (start..<(start + count)).map { (index) throws(WeftError) in try context.input(index) }
        let axisTensor = try context.input(axisFirst ? 0 : count)
        let axisValue = try KernelChecks.scalarIndex(axisTensor, what: "axis", node: context.node)
        let first = values[0]
        let rank = first.shape.rank
        guard rank > 0 else {
            throw .invalidArgument("Can't concatenate scalars (use tf.stack instead)", node: context.node)
        }
        guard axisValue >= -rank && axisValue < rank else {
            throw .invalidArgument(
                "ConcatOp : Expected concatenating dimensions in the range [\(-rank), \(rank)), but got \(axisValue)",
                node: context.node
            )
        }
        let axis = axisValue < 0 ? axisValue + rank : axisValue
        for (index, value) in values.enumerated().dropFirst() {
            try KernelChecks.dtype(
                value,
                input: start + index,
                expected: first.dtype,
                op: "ConcatV2",
                node: context.node
            )
            let matches =
                value.shape.rank == rank
                && value.shape.dimensions.indices.allSatisfy {
                    $0 == axis || value.shape.dimensions[$0] == first.shape.dimensions[$0]
                }
            guard matches else {
                throw .invalidArgument(
                    "ConcatOp : Dimension \(axis) in both shapes must be equal except the concat dimension: shape[0] = \(first.shape) vs. shape[\(index)] = \(value.shape)",
                    node: context.node
                )
            }
        }
        if values.count == 1 { return first }
        return Concatenation.join(values, axis: axis)
    }

    @Sendable private static func transpose(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        // Elements are moved as bytes; strings, handles and variants have none.
        guard !x.dtype.isObject else { throw .unsupported(op: "Transpose", dtype: x.dtype, node: context.node) }
        let permTensor = try context.input(1)
        guard permTensor.shape.rank == 1 else {
            throw .invalidArgument("perm must be a vector, not \(permTensor.shape)", node: context.node)
        }
        let perm = try KernelChecks.indices(permTensor, what: "perm", node: context.node)
        let rank = x.shape.rank
        guard perm.count == rank else {
            throw .invalidArgument(
                "transpose expects a vector of size \(rank). But input(1) is a vector of size \(perm.count)",
                node: context.node
            )
        }
        // Negative entries count from the end, as TensorFlow allows.
        let normalized = perm.map { $0 < 0 ? $0 + rank : $0 }
        var seen = [Bool](repeating: false, count: rank)
        for axis in normalized {
            guard axis >= 0 && axis < rank, !seen[axis] else {
                throw .invalidArgument(
                    "\(perm) is not a valid permutation of the dimensions of \(x.shape)",
                    node: context.node
                )
            }
            seen[axis] = true
        }
        return Transposition.apply(x, perm: normalized)
    }

    @Sendable private static func tile(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let multiplesTensor = try context.input(1)
        let multiples = try KernelChecks.indices(multiplesTensor, what: "multiples", node: context.node)
        guard multiplesTensor.shape.rank == 1, multiples.count == x.shape.rank else {
            throw .invalidArgument(
                "Expected multiples argument to be a vector of length \(x.shape.rank) but got length \(multiples.count)",
                node: context.node
            )
        }
        if let negative = multiples.first(where: { $0 < 0 }) {
            throw .invalidArgument(
                "Expected multiples to be non-negative, got \(negative) in \(multiples)",
                node: context.node
            )
        }
        return try Tiling.apply(x, multiples: multiples, node: context.node)
    }
}

// MARK: - Byte movers

/// Concatenation along an axis by block copies: for every index of the dimensions before the
/// axis, each input contributes one contiguous block.
enum Concatenation {
    /// Joins tensors whose shapes agree except along `axis` (checked by the caller).
    static func join(_ values: [Tensor], axis: Int) -> Tensor {
        let first = values[0]
        var dims = first.shape.dimensions
        dims[axis] = values.reduce(0) { $0 + $1.shape.dimensions[axis] }
        if first.dtype.isObject { return joinObjects(values, axis: axis, shape: TensorShape(dims)) }
        let out = Tensor(uninitialized: first.dtype, shape: TensorShape(dims))
        // An empty result may have huge dimensions beside its zero one: no products of those.
        guard out.elementCount > 0 else { return out }
        let outer = dims[..<axis].reduce(1, *)
        let blockBytes = values.map { $0.byteCount / max(outer, 1) }
        var target = out.buffer.base
        for row in 0..<outer {
            for (value, bytes) in zip(values, blockBytes) where bytes > 0 {
                target.copyMemory(from: value.buffer.base + row * bytes, byteCount: bytes)
                target += bytes
            }
        }
        return out
    }

    /// Strings, handles and variants: the element arrays joined in the same block order.
    private static func joinObjects(_ values: [Tensor], axis: Int, shape: TensorShape) -> Tensor {
        let count = shape.elementCount
        let outer = count == 0 ? 0 : shape.dimensions[..<axis].reduce(1, *)
        func joined<Element>(_ arrays: [[Element]]) -> [Element] {
            var result: [Element] = []
            result.reserveCapacity(count)
            let blocks = arrays.map { outer == 0 ? 0 : $0.count / outer }
            for row in 0..<outer {
                for (array, block) in zip(arrays, blocks) { result += array[(row * block)..<((row + 1) * block)] }
            }
            return result
        }
        let objects: ObjectElements =
            switch values[0].dtype {
            case .resource: .handles(joined(values.map(\.handles)))
            case .variant: .variants(joined(values.map(\.variants)))
            default: .strings(joined(values.map(\.strings)))
            }
        return Tensor(dtype: values[0].dtype, shape: shape, buffer: TensorBuffer(objects: objects))
    }
}

/// Tiling by doubling copies: each tile of a dimension is written once, then repeated with
/// `memcpy` along it, innermost dimension first.
enum Tiling {
    /// `x` repeated `multiples[d]` times along each dimension `d`.
    static func apply(_ x: Tensor, multiples: [Int], node: String) throws(WeftError) -> Tensor {
        let dims = x.shape.dimensions
        let out = try KernelChecks.allocate(x.dtype, TensorShape(zip(dims, multiples).map(*)), node: node)
        guard out.elementCount > 0 else { return out }
        if dims.isEmpty {
            out.buffer.base.copyMemory(from: x.buffer.base, byteCount: x.byteCount)
            return out
        }
        let size = x.dtype.byteSize
        // Bytes of one input sub-array and one output sub-array from dimension d inward.
        var inputBlock = [Int](repeating: size, count: dims.count + 1)
        var outputBlock = [Int](repeating: size, count: dims.count + 1)
        for d in dims.indices.reversed() {
            inputBlock[d] = inputBlock[d + 1] * dims[d]
            outputBlock[d] = outputBlock[d + 1] * dims[d] * multiples[d]
        }
        write(0, from: UnsafeRawPointer(x.buffer.base), to: out.buffer.base, dims, multiples, inputBlock, outputBlock)
        return out
    }

    /// Writes the output sub-array of dimensions `d...` from the input sub-array at `source`.
    private static func write(
        _ d: Int,
        from source: UnsafeRawPointer,
        to target: UnsafeMutableRawPointer,
        _ dims: [Int],
        _ multiples: [Int],
        _ inputBlock: [Int],
        _ outputBlock: [Int]
    ) {
        let tileBytes: Int
        if d == dims.count - 1 {
            tileBytes = inputBlock[d]
            target.copyMemory(from: source, byteCount: tileBytes)
        } else {
            for i in 0..<dims[d] {
                write(
                    d + 1,
                    from: source + i * inputBlock[d + 1],
                    to: target + i * outputBlock[d + 1],
                    dims,
                    multiples,
                    inputBlock,
                    outputBlock
                )
            }
            tileBytes = dims[d] * outputBlock[d + 1]
        }
        for copy in 1..<max(multiples[d], 1) {
            (target + copy * tileBytes).copyMemory(from: target, byteCount: tileBytes)
        }
    }
}

/// `Transpose` as a strided gather: the output is written in order while an odometer over its
/// outer dimensions walks the input with permuted strides. The last two output dimensions are
/// copied in square tiles, so that when the input is read across rows (a matrix transpose)
/// each cache line fetched is used fully before it is evicted. Elements move as fixed-size
/// words, so one specialisation per element size serves every dtype.
enum Transposition {
    /// The side of the square tiles, in elements: small enough that the input lines a tile
    /// reads stay in L1 even when the input's row length is a power of two.
    private static let tile = 16

    /// `x` with its dimensions reordered: output dimension `i` is input dimension `perm[i]`.
    static func apply(_ x: Tensor, perm: [Int]) -> Tensor {
        let dims = x.shape.dimensions
        let outDims = perm.map { dims[$0] }
        if perm == Array(perm.indices) || x.elementCount <= 1 {
            return Tensor(dtype: x.dtype, shape: TensorShape(outDims), buffer: x.buffer)
        }
        var inputStrides = [Int](repeating: 1, count: dims.count)
        for d in dims.indices.dropLast().reversed() { inputStrides[d] = inputStrides[d + 1] * dims[d + 1] }
        let strides = perm.map { inputStrides[$0] }
        let out = Tensor(uninitialized: x.dtype, shape: TensorShape(outDims))
        switch x.dtype.byteSize {
        case 1: gather(UInt8.self, x, out, outDims, strides)
        case 2: gather(UInt16.self, x, out, outDims, strides)
        case 4: gather(UInt32.self, x, out, outDims, strides)
        case 8: gather(UInt64.self, x, out, outDims, strides)
        default: gather(SIMD2<UInt64>.self, x, out, outDims, strides)  // complex128
        }
        return out
    }

    private static func gather<Word>(_ word: Word.Type, _ x: Tensor, _ out: Tensor, _ dims: [Int], _ strides: [Int]) {
        guard out.elementCount > 0 else { return }
        let source = UnsafeRawPointer(x.buffer.base).assumingMemoryBound(to: Word.self)
        let target = out.buffer.base.bindMemory(to: Word.self, capacity: out.elementCount)
        // A non-identity permutation has rank two or more.
        let outer = dims.count - 2
        let (rows, columns) = (dims[outer], dims[outer + 1])
        let (rowStride, columnStride) = (strides[outer], strides[outer + 1])
        var counters = [Int](repeating: 0, count: outer)
        var offset = 0
        var written = 0
        while written < out.elementCount {
            let block = target + written
            let input = source + offset
            for rowStart in stride(from: 0, to: rows, by: tile) {
                let rowEnd = min(rowStart + tile, rows)
                for columnStart in stride(from: 0, to: columns, by: tile) {
                    let columnEnd = min(columnStart + tile, columns)
                    for i in rowStart..<rowEnd {
                        var from = input + (i &* rowStride &+ columnStart &* columnStride)
                        let to = block + i &* columns
                        for j in columnStart..<columnEnd {
                            to[j] = from.pointee
                            from += columnStride
                        }
                    }
                }
            }
            written += rows * columns
            var d = outer - 1
            while d >= 0 {
                counters[d] += 1
                offset += strides[d]
                if counters[d] < dims[d] { break }
                offset -= strides[d] * dims[d]
                counters[d] = 0
                d -= 1
            }
        }
    }
}

/// Tensors of one repeated value.
enum ElementFill {
    /// Sets every element of the new tensor `out` to the scalar `value`'s element.
    static func fill(_ out: Tensor, with value: Tensor) {
        switch value.dtype.byteSize {
        case 1: fill(UInt8.self, value, out)
        case 2: fill(UInt16.self, value, out)
        case 4: fill(UInt32.self, value, out)
        case 8: fill(UInt64.self, value, out)
        default: fill(SIMD2<UInt64>.self, value, out)
        }
    }

    /// A tensor of `shape` whose every element is the object scalar `value`'s element.
    static func objects(repeating value: Tensor, shape: TensorShape, node: String) throws(WeftError) -> Tensor {
        let count = try shape.checkedElementCount(dtype: value.dtype)
        switch value.buffer.objects {
        case .strings(let items):
            return try Tensor(strings: Array(repeating: items[0], count: count), shape: shape, node: node)
        case .handles(let items):
            return try Tensor(handles: Array(repeating: items[0], count: count), shape: shape, node: node)
        case .variants(let items):
            return try Tensor(variants: Array(repeating: items[0], count: count), shape: shape, node: node)
        case nil: throw WeftError(.internal, "a \(value.dtype) tensor without its elements")
        }
    }

    /// A tensor of `shape` filled with 1 (`true` for `bool`).
    static func repeating(one dtype: DType, shape: TensorShape) throws(WeftError) -> Tensor {
        let one = try CastOp.cast(Tensor(Double(1)), to: dtype)
        let out = Tensor(uninitialized: dtype, shape: shape)
        fill(out, with: one)
        return out
    }

    private static func fill<Word>(_ word: Word.Type, _ value: Tensor, _ out: Tensor) {
        let element = UnsafeRawPointer(value.buffer.base).loadUnaligned(as: Word.self)
        out.buffer.base.initializeMemory(as: Word.self, repeating: element, count: out.elementCount)
    }
}

// MARK: - Range

/// `Range`: `start, start + delta, …` up to but excluding `limit`, with TensorFlow's checks.
enum RangeOp {
    /// A bound on the length of a range, so that its element count converts to `Int`; the
    /// allocation check then decides what memory allows.
    static let maximumCount = 1 << 60

    /// Reads the three scalar inputs and makes the range.
    static func compute(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let start = try context.input(0)
        let limit = try context.input(1)
        let delta = try context.input(2)
        for (name, tensor) in [("start", start), ("limit", limit), ("delta", delta)] where tensor.shape.rank != 0 {
            throw .invalidArgument("\(name) must be a scalar, not shape \(tensor.shape)", node: context.node)
        }
        try KernelChecks.dtype(limit, input: 1, expected: start.dtype, op: "Range", node: context.node)
        try KernelChecks.dtype(delta, input: 2, expected: start.dtype, op: "Range", node: context.node)
        return try start.dtype.visit(Visitor(start: start, limit: limit, delta: delta, node: context.node))
    }

    private struct Visitor: ElementVisitor {
        let start: Tensor
        let limit: Tensor
        let delta: Tensor
        let node: String
        var op: String { "Range" }

        func float<T: FloatElement>(_ type: T.Type) throws(WeftError) -> Tensor {
            let (first, end, step) = try bounds(T.self)
            let size = abs((end - first) / step).rounded(.up)
            guard size.isFinite, size < T(RangeOp.maximumCount) else { throw tooLong("\(size)") }
            return try make(first, step, Int(size))
        }

        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) -> Tensor {
            let (first, end, step) = try bounds(T.self)
            // 128-bit arithmetic: `limit - start` may not fit the element type.
            let distance = (Int128(end) - Int128(first)).magnitude
            let stride = Int128(step).magnitude
            let size = (distance + stride - 1) / stride
            guard size < UInt128(RangeOp.maximumCount) else { throw tooLong("\(size)") }
            return try make(first, step, Int(size))
        }

        private func tooLong(_ size: String) -> WeftError {
            WeftError(
                .resourceExhausted,
                "Range would have \(size) elements, more than Weft allocates (node '\(node)')"
            )
        }

        private func bounds<T: TensorElement & Comparable & Numeric>(_ type: T.Type) throws(WeftError) -> (T, T, T) {
            let first = start.scalar(as: T.self)!
            let end = limit.scalar(as: T.self)!
            let step = delta.scalar(as: T.self)!
            guard step != 0 else { throw .invalidArgument("Requires delta != 0: \(step)", node: node) }
            if step > 0, first > end {
                throw .invalidArgument("Requires start <= limit when delta > 0: \(first)/\(end)", node: node)
            }
            if step < 0, first < end {
                throw .invalidArgument("Requires start >= limit when delta < 0: \(first)/\(end)", node: node)
            }
            return (first, end, step)
        }

        /// TensorFlow accumulates `value += delta`, so float ranges round the way it does.
        private func make<T: TensorElement & Numeric>(_ first: T, _ step: T, _ count: Int) throws(WeftError) -> Tensor {
            let out = try KernelChecks.allocate(T.dtype, [count], node: node)
            out.withMutableElements(of: T.self) { values in
                var value = first
                for i in 0..<count {
                    values[i] = value
                    if i + 1 < count { value += step }
                }
            }
            return out
        }
    }
}
