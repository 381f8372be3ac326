/// How the elements of two operands line up with the elements of a binary op's result under
/// NumPy broadcasting: shapes are aligned at their last dimension, and a dimension of size 1
/// (or a missing one) stretches to the other operand's size.
///
/// The layout is worked out once per kernel call; `combine` then runs one tight loop per
/// layout, so the per-element work is a load, the operation and a store.
struct Broadcast: Sendable {
    /// The result's shape.
    let shape: TensorShape
    /// How to walk the operands.
    let layout: Layout

    /// The iteration patterns `combine` has loops for.
    enum Layout: Sendable, Equatable {
        /// Both operands have the result's elements in the same order.
        case elementwise
        /// The left operand is a single element paired with every element of the right.
        case scalarLeft
        /// The right operand is a single element paired with every element of the left.
        case scalarRight
        /// The general case, with the result's dimensions merged where possible. `sizes` are the
        /// merged dimensions; a stride of 0 repeats an operand along that dimension.
        case strided(sizes: [Int], lhsStrides: [Int], rhsStrides: [Int])
    }

    /// Works out the broadcast of two shapes; `invalidArgument` with TensorFlow's message
    /// (`Incompatible shapes: [2,3] vs. [4]`) when a dimension pair is neither equal nor 1.
    init(_ lhs: TensorShape, _ rhs: TensorShape) throws(WeftError) {
        if lhs == rhs {
            self.shape = lhs
            self.layout = .elementwise
            return
        }
        let shape = try Self.shape(lhs, rhs)
        self.shape = shape
        if lhs.elementCount == 1 {
            layout = .scalarLeft
        } else if rhs.elementCount == 1 {
            layout = .scalarRight
        } else {
            layout = Self.stridedLayout(lhs, rhs, result: shape)
        }
    }

    /// The broadcast shape of two shapes.
    static func shape(_ lhs: TensorShape, _ rhs: TensorShape) throws(WeftError) -> TensorShape {
        let rank = max(lhs.rank, rhs.rank)
        var dimensions = [Int](repeating: 1, count: rank)
        for axis in 0..<rank {
            let left = dimension(lhs, axis, rank)
            let right = dimension(rhs, axis, rank)
            if left == right || right == 1 {
                dimensions[axis] = left
            } else if left == 1 {
                dimensions[axis] = right
            } else {
                throw WeftError(.invalidArgument, "Incompatible shapes: \(lhs) vs. \(rhs)")
            }
        }
        return TensorShape(dimensions)
    }

    /// Dimension `axis` of `shape` once padded with leading 1s to `rank` dimensions.
    private static func dimension(_ shape: TensorShape, _ axis: Int, _ rank: Int) -> Int {
        let offset = rank - shape.rank
        return axis < offset ? 1 : shape.dimensions[axis - offset]
    }

    /// Strides of each operand over the result's dimensions (0 where it is repeated), with
    /// size-1 dimensions dropped and neighbours merged when both operands walk them as one.
    private static func stridedLayout(_ lhs: TensorShape, _ rhs: TensorShape, result: TensorShape) -> Layout {
        let rank = result.rank
        let lhsStrides = broadcastStrides(lhs, rank)
        let rhsStrides = broadcastStrides(rhs, rank)
        var sizes: [Int] = []
        var left: [Int] = []
        var right: [Int] = []
        for axis in 0..<rank where result.dimensions[axis] != 1 {
            let size = result.dimensions[axis]
            // Merge with the previous dimension when, for both operands, stepping the previous
            // one equals stepping this one `size` times: the pair is then one longer dimension.
            if let last = sizes.indices.last,
                left[last] == lhsStrides[axis] * size, right[last] == rhsStrides[axis] * size
            {
                sizes[last] *= size
                left[last] = lhsStrides[axis]
                right[last] = rhsStrides[axis]
            } else {
                sizes.append(size)
                left.append(lhsStrides[axis])
                right.append(rhsStrides[axis])
            }
        }
        if sizes.count == 1, left[0] == 1, right[0] == 1 { return .elementwise }
        return .strided(sizes: sizes, lhsStrides: left, rhsStrides: right)
    }

    /// Row-major strides of `shape` padded to `rank` dimensions, 0 along its size-1 dimensions.
    private static func broadcastStrides(_ shape: TensorShape, _ rank: Int) -> [Int] {
        var strides = [Int](repeating: 0, count: rank)
        var step = 1
        for axis in (0..<rank).reversed() {
            let size = dimension(shape, axis, rank)
            strides[axis] = size == 1 ? 0 : step
            step *= size
        }
        return strides
    }
}

extension Broadcast {
    /// Fills `out` (the result's elements) with `body(lhs element, rhs element)` for every
    /// result position. Marked always-inline so that `body` is inlined into each loop.
    @inline(__always)
    func combine<A, B, R>(
        _ lhs: UnsafeBufferPointer<A>,
        _ rhs: UnsafeBufferPointer<B>,
        into out: UnsafeMutableBufferPointer<R>,
        _ body: (A, B) -> R
    ) {
        let count = out.count
        guard count > 0, let l = lhs.baseAddress, let r = rhs.baseAddress, let o = out.baseAddress else { return }
        switch layout {
        case .elementwise:
            for i in 0..<count { o[i] = body(l[i], r[i]) }
        case .scalarLeft:
            let a = l[0]
            for i in 0..<count { o[i] = body(a, r[i]) }
        case .scalarRight:
            let b = r[0]
            for i in 0..<count { o[i] = body(l[i], b) }
        case .strided(let sizes, let lhsStrides, let rhsStrides):
            Self.strided(l, r, o, count: count, sizes, lhsStrides, rhsStrides, body)
        }
    }

    /// The general loop: an odometer over all but the last merged dimension, and along the last
    /// one a loop specialised for the common stride pairs (contiguous or repeated operands).
    @inline(__always)
    private static func strided<A, B, R>(
        _ l: UnsafePointer<A>,
        _ r: UnsafePointer<B>,
        _ o: UnsafeMutablePointer<R>,
        count: Int,
        _ sizes: [Int],
        _ lhsStrides: [Int],
        _ rhsStrides: [Int],
        _ body: (A, B) -> R
    ) {
        let outer = sizes.count - 1
        let inner = sizes[outer]
        let li = lhsStrides[outer]
        let ri = rhsStrides[outer]
        withUnsafeTemporaryAllocation(of: Int.self, capacity: max(outer, 1)) { counters in
            counters.initialize(repeating: 0)
            var lo = 0
            var ro = 0
            var oo = 0
            while oo < count {
                let lp = l + lo
                let rp = r + ro
                let op = o + oo
                switch (li, ri) {
                case (1, 1): for j in 0..<inner { op[j] = body(lp[j], rp[j]) }
                case (1, 0):
                    let b = rp[0]
                    for j in 0..<inner { op[j] = body(lp[j], b) }
                case (0, 1):
                    let a = lp[0]
                    for j in 0..<inner { op[j] = body(a, rp[j]) }
                default: for j in 0..<inner { op[j] = body(lp[j &* li], rp[j &* ri]) }
                }
                oo += inner
                // Advance the odometer over the outer dimensions.
                var axis = outer - 1
                while axis >= 0 {
                    counters[axis] += 1
                    lo += lhsStrides[axis]
                    ro += rhsStrides[axis]
                    if counters[axis] < sizes[axis] { break }
                    lo -= lhsStrides[axis] * sizes[axis]
                    ro -= rhsStrides[axis] * sizes[axis]
                    counters[axis] = 0
                    axis -= 1
                }
            }
        }
    }
}
