/// Element movement shared by the data-movement kernels (`Slice`, `StridedSlice`, `Pad`,
/// `MirrorPad`, `ReverseV2`, `BroadcastTo`, `Split`, `Unpack`, …). Elements move as
/// `dtype.byteSize`-byte words without looking at their type, so one implementation serves
/// every dtype, including ones added later.
enum IndexedCopy {
    /// Row-major strides, in elements, of a tensor with `dims`.
    static func strides(_ dims: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: dims.count)
        var stride = 1
        for d in dims.indices.reversed() {
            strides[d] = stride
            stride *= dims[d]
        }
        return strides
    }

    /// Per-dimension element offsets into a tensor of `dims` for the positions
    /// `begin[d], begin[d] + step[d], …` (`count[d]` of them): the maps `copy` walks.
    static func offsets(dims: [Int], begin: [Int], step: [Int], count: [Int]) -> [[Int]] {
        // No maps for an empty selection: a zero-size dimension beside a huge one is cheap.
        guard !count.contains(0) else { return count.map { _ in [] } }
        let strides = strides(dims)
        return dims.indices.map { d in (0..<count[d]).map { (begin[d] + $0 * step[d]) * strides[d] } }
    }

    /// For every position `p` of `dims` in row-major order, moves one element between
    /// `dense[p]` and `other[Σ_d offsets[d][p_d]]` (offsets in elements): from `other` to
    /// `dense` when `gather`, the other way otherwise.
    ///
    /// Trailing dimensions whose offsets are consecutive merge into one contiguous block, so a
    /// slice of whole rows is one `memcpy` per row and an identity map is a single `memcpy`.
    static func copy(
        dims: [Int],
        offsets: [[Int]],
        elementSize: Int,
        dense: UnsafeMutableRawPointer,
        other: UnsafeMutableRawPointer,
        gather: Bool
    ) {
        let total = dims.reduce(1, *)
        guard total > 0 else { return }
        var block = 1
        var base = 0
        var d = dims.count - 1
        while d >= 0, isContiguous(offsets[d], block: block) {
            block *= dims[d]
            base += offsets[d][0]
            d -= 1
        }
        let blockBytes = block * elementSize
        guard d >= 0 else {
            move(blockBytes, dense, other + base * elementSize, gather: gather)
            return
        }
        let inner = offsets[d]
        var counters = [Int](repeating: 0, count: d)
        var outer = base + (0..<d).reduce(0) { $0 + offsets[$1][0] }
        var target = dense
        for _ in 0..<(total / (block * dims[d])) {
            for offset in inner {
                move(blockBytes, target, other + (outer + offset) * elementSize, gather: gather)
                target += blockBytes
            }
            var j = d - 1
            while j >= 0 {
                outer -= offsets[j][counters[j]]
                counters[j] += 1
                if counters[j] < dims[j] {
                    outer += offsets[j][counters[j]]
                    break
                }
                counters[j] = 0
                outer += offsets[j][0]
                j -= 1
            }
        }
    }

    private static func isContiguous(_ map: [Int], block: Int) -> Bool {
        guard let first = map.first else { return false }
        for k in map.indices.dropFirst() where map[k] != first + k * block { return false }
        return true
    }

    @inline(__always)
    private static func move(
        _ bytes: Int,
        _ dense: UnsafeMutableRawPointer,
        _ other: UnsafeMutableRawPointer,
        gather: Bool
    ) {
        if gather { moveBytes(bytes, from: other, to: dense) } else { moveBytes(bytes, from: dense, to: other) }
    }

    /// Copies `bytes` bytes; element-sized moves are single loads and stores, not `memcpy` calls.
    @inline(__always)
    static func moveBytes(_ bytes: Int, from source: UnsafeRawPointer, to target: UnsafeMutableRawPointer) {
        switch bytes {
        case 1: target.storeBytes(of: source.load(as: UInt8.self), as: UInt8.self)
        case 2: target.storeBytes(of: source.loadUnaligned(as: UInt16.self), as: UInt16.self)
        case 4: target.storeBytes(of: source.loadUnaligned(as: UInt32.self), as: UInt32.self)
        case 8: target.storeBytes(of: source.loadUnaligned(as: UInt64.self), as: UInt64.self)
        default: target.copyMemory(from: source, byteCount: bytes)
        }
    }

    /// A new tensor of `shape` whose every element is `value`'s single element.
    static func filled(_ shape: TensorShape, with value: Tensor, node: String) throws(WeftError) -> Tensor {
        let out = try KernelChecks.allocate(value.dtype, shape, node: node)
        let size = value.dtype.byteSize
        switch size {
        case 1, 2, 4, 8: ElementFill.fill(out, with: value)
        default:
            for i in 0..<out.elementCount {
                (out.buffer.base + i * size).copyMemory(from: value.buffer.base, byteCount: size)
            }
        }
        return out
    }

    /// A new tensor of `shape` and `dtype` with all-zero bytes: 0, 0.0 and false in every dtype.
    static func zeros(_ dtype: DType, _ shape: TensorShape, node: String) throws(WeftError) -> Tensor {
        let out = try KernelChecks.allocate(dtype, shape, node: node)
        out.buffer.base.initializeMemory(as: UInt8.self, repeating: 0, count: out.byteCount)
        return out
    }
}

extension KernelChecks {
    /// Throws unless `tensor` is a vector.
    static func vector(_ tensor: Tensor, what: String, node: String) throws(WeftError) {
        guard tensor.shape.rank == 1 else {
            throw .invalidArgument("\(what) must be a vector, but got shape \(tensor.shape)", node: node)
        }
    }

    /// `axis` made non-negative, or `invalidArgument` unless it is in `[-rank, rank)`.
    static func axis(_ axis: Int, rank: Int, op: String, node: String) throws(WeftError) -> Int {
        guard axis >= -rank && axis < rank else {
            throw .invalidArgument("\(op): Expected axis in the range [\(-rank), \(rank)), but got \(axis)", node: node)
        }
        return axis < 0 ? axis + rank : axis
    }
}
