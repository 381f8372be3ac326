// Shared by the container kernels (TensorList, TensorArray, Stack): partial shapes read from
// tensors and merged as TensorFlow does, and tensors cut into rows or joined from rows along
// their first dimension by whole-block copies.

extension PartialShape {
    /// The shape of a concrete tensor.
    init(_ shape: TensorShape) { self.init(shape.dimensions.map { Optional($0) }) }

    /// The shape as a concrete one, when every dimension is known.
    var fullyDefined: TensorShape? {
        guard let dimensions else { return nil }
        var sizes: [Int] = []
        sizes.reserveCapacity(dimensions.count)
        for size in dimensions {
            guard let size else { return nil }
            sizes.append(size)
        }
        return TensorShape(sizes)
    }

    /// Whether some concrete shape fits both this shape and `other`.
    func isCompatible(with other: PartialShape) -> Bool {
        guard let mine = dimensions, let theirs = other.dimensions else { return true }
        guard mine.count == theirs.count else { return false }
        return zip(mine, theirs).allSatisfy { $0 == nil || $1 == nil || $0 == $1 }
    }

    /// The most specific shape fitting both, or TensorFlow's `invalidArgument` when none does.
    func merged(with other: PartialShape, node: String) throws(WeftError) -> PartialShape {
        guard let mine = dimensions else { return other }
        guard let theirs = other.dimensions else { return self }
        guard mine.count == theirs.count else {
            throw .invalidArgument("Incompatible ranks during merge: \(mine.count) vs. \(theirs.count)", node: node)
        }
        var result: [Int?] = []
        result.reserveCapacity(mine.count)
        for (a, b) in zip(mine, theirs) {
            if let a, let b, a != b {
                throw .invalidArgument("Incompatible shapes during merge: \(self) vs. \(other)", node: node)
            }
            result.append(a ?? b)
        }
        return PartialShape(result)
    }

    /// The shape without its first dimension (an unknown rank stays unknown).
    var droppingFirst: PartialShape {
        guard let dimensions else { return .unknown }
        return PartialShape(Array(dimensions.dropFirst()))
    }

    /// Reads a shape the way TensorFlow's list ops take it: an int32 or int64 vector with -1
    /// for unknown dimensions, or the scalar -1 for an unknown rank.
    init(shapeTensor tensor: Tensor, node: String) throws(WeftError) {
        guard tensor.dtype == .int32 || tensor.dtype == .int64 else {
            throw .invalidArgument("Expected an int32 or int64 shape tensor; found \(tensor.dtype)", node: node)
        }
        let values = try KernelChecks.indices(tensor, what: "element_shape", node: node)
        switch tensor.shape.rank {
        case 0:
            guard values[0] == -1 else {
                throw .invalidArgument(
                    "The only valid scalar shape tensor is the fully unknown shape specified as -1.",
                    node: node
                )
            }
            self = .unknown
        case 1:
            var dimensions: [Int?] = []
            dimensions.reserveCapacity(values.count)
            for value in values {
                guard value >= -1 else { throw .invalidArgument("Dimension \(value) must be >= -1", node: node) }
                dimensions.append(value == -1 ? nil : value)
            }
            self.init(dimensions)
        default:
            throw .invalidArgument("Shape must be at most rank 1 but is rank \(tensor.shape.rank)", node: node)
        }
    }

    /// The shape as TensorFlow's list ops return it: the scalar -1 for an unknown rank, else a
    /// vector with -1 for unknown dimensions, in `dtype` (int32 or int64).
    func shapeTensor(_ dtype: DType, node: String) throws(WeftError) -> Tensor {
        let values = dimensions.map { dims in dims.map { $0 ?? -1 } }
        switch dtype {
        case .int64:
            guard let values else { return Tensor(Int64(-1)) }
            return Tensor(values.map { Int64($0) })
        case .int32:
            guard let values else { return Tensor(Int32(-1)) }
            var narrowed: [Int32] = []
            narrowed.reserveCapacity(values.count)
            for value in values {
                guard let size = Int32(exactly: value) else {
                    throw .invalidArgument("element shape \(self) does not fit int32; use shape_type int64", node: node)
                }
                narrowed.append(size)
            }
            return Tensor(narrowed)
        default:
            throw .invalidArgument("shape_type must be int32 or int64, got \(dtype)", node: node)
        }
    }
}

/// Tensors cut into rows along their first dimension and joined from rows, by whole-block copies.
enum ElementRows {
    /// Tensors joined along a new (`stacking`) or the existing first dimension, into `shape`.
    /// Every part holds `shape`'s bytes divided as the caller checked; object dtypes join their
    /// element arrays.
    static func join(_ parts: [Tensor], dtype: DType, shape: TensorShape, node: String) throws(WeftError) -> Tensor {
        guard !dtype.isObject else { return try joinObjects(parts, dtype: dtype, shape: shape, node: node) }
        let out = try KernelChecks.allocate(dtype, shape, node: node)
        var target = out.buffer.base
        for part in parts where part.byteCount > 0 {
            target.copyMemory(from: part.buffer.base, byteCount: part.byteCount)
            target += part.byteCount
        }
        return out
    }

    private static func joinObjects(_ parts: [Tensor], dtype: DType, shape: TensorShape, node: String) throws(WeftError)
        -> Tensor
    {
        let count = try shape.checkedElementCount(dtype: dtype)
        func joined<Element>(_ arrays: [[Element]]) -> [Element] {
            var result: [Element] = []
            result.reserveCapacity(count)
            for array in arrays { result += array }
            return result
        }
        switch dtype {
        case .string: return try Tensor(strings: joined(parts.map(\.strings)), shape: shape, node: node)
        case .resource: return try Tensor(handles: joined(parts.map(\.handles)), shape: shape, node: node)
        default: return try Tensor(variants: joined(parts.map(\.variants)), shape: shape, node: node)
        }
    }

    /// Rows `start..<start + count` of `tensor` (rank ≥ 1) as a new tensor, with the first
    /// dimension dropped when `dropFirst` (one row, unstacked) or kept as `count`.
    static func slice(_ tensor: Tensor, start: Int, count: Int, dropFirst: Bool) -> Tensor {
        var dims = tensor.shape.dimensions
        if dropFirst { dims.removeFirst() } else { dims[0] = count }
        let shape = TensorShape(dims)
        let rowElements = tensor.shape.dimensions.dropFirst().reduce(1, *)
        if let objects = tensor.buffer.objects {
            let range = (start * rowElements)..<((start + count) * rowElements)
            let rows: ObjectElements =
                switch objects {
                case .handles(let values): .handles(Array(values[range]))
                case .variants(let values): .variants(Array(values[range]))
                case .strings(let values): .strings(Array(values[range]))
                }
            return Tensor(dtype: tensor.dtype, shape: shape, buffer: TensorBuffer(objects: rows))
        }
        // The source was allocated whole, so its rows need no allocation check.
        let out = Tensor(uninitialized: tensor.dtype, shape: shape)
        let rowBytes = rowElements * tensor.dtype.byteSize
        if out.byteCount > 0 {
            out.buffer.base.copyMemory(from: tensor.buffer.base + start * rowBytes, byteCount: out.byteCount)
        }
        return out
    }

    /// A tensor of zeros (empty strings for `string`) of `shape`, for elements never written.
    static func zeros(_ dtype: DType, _ shape: TensorShape, node: String) throws(WeftError) -> Tensor {
        guard dtype.isObject else { return try IndexedCopy.zeros(dtype, shape, node: node) }
        _ = try shape.checkedElementCount(dtype: dtype)
        return Tensor(uninitialized: dtype, shape: shape)
    }

    /// `count` empty slots, refused with `resourceExhausted` when their bookkeeping alone would
    /// not fit in the memory budget (`TensorMemory`) left: a `num_elements` of two billion.
    static func slots<Slot>(_ count: Int, of slot: Slot, node: String) throws(WeftError) -> [Slot] {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Slot>.stride)
        guard !overflow, bytes <= TensorMemory.limit - TensorMemory.liveBytes else {
            throw WeftError(
                .resourceExhausted,
                "OOM when allocating a list of \(count) elements: more than this machine's memory (node '\(node)')"
            )
        }
        return Array(repeating: slot, count: count)
    }

    /// The single value of a scalar int32 input, as TensorFlow's list and array ops take
    /// indices and sizes.
    static func int32Scalar(_ tensor: Tensor, what: String, node: String) throws(WeftError) -> Int {
        guard tensor.dtype == .int32, tensor.shape.rank == 0, let value = tensor.scalar(as: Int32.self) else {
            throw .invalidArgument(
                "\(what) must be a scalar int32 tensor, but got a \(tensor.dtype) tensor of shape \(tensor.shape)",
                node: node
            )
        }
        return Int(value)
    }

    /// The values of an int32 vector input (indices), as `Int`s.
    static func int32Vector(_ tensor: Tensor, what: String, node: String) throws(WeftError) -> [Int] {
        guard tensor.dtype == .int32, tensor.shape.rank == 1 else {
            throw .invalidArgument(
                "Expected \(what) to be an int32 vector, but received a \(tensor.dtype) tensor of shape \(tensor.shape)",
                node: node
            )
        }
        return tensor.withElements(of: Int32.self) { $0.map(Int.init) }
    }
}
