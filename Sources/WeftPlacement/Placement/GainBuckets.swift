/// Fiduccia–Mattheyses gain buckets: vertices in doubly linked lists per gain bucket, so taking
/// a best vertex and updating a gain cost O(1) amortised.
///
/// Gains here are bytes, far too wide for one bucket per value, so buckets are geometric: four
/// per power of two, signed. The order within a bucket is last in, first out, as in FM; the
/// refiner always books the exact gain of the vertex it moves.
struct GainBuckets {
    private static let half = 256
    private static let bucketCount = 2 * half + 1
    private var head: [Int32]
    private var next: [Int32]
    private var previous: [Int32]
    /// The bucket of each vertex, -1 when absent.
    private var bucketOf: [Int32]
    /// No bucket above this one holds a vertex.
    private var top = -1
    /// Vertices inserted since the last `removeAll`, to clear in time proportional to them.
    private var inserted: [Int32] = []

    init(capacity: Int) {
        head = [Int32](repeating: -1, count: Self.bucketCount)
        next = [Int32](repeating: -1, count: capacity)
        previous = [Int32](repeating: -1, count: capacity)
        bucketOf = [Int32](repeating: -1, count: capacity)
    }

    /// The bucket of a gain: monotone in the gain.
    static func bucket(_ gain: Int) -> Int {
        guard gain != 0 else { return half }
        let magnitude = gain.magnitude
        let highBit = UInt.bitWidth - 1 - magnitude.leadingZeroBitCount
        let fraction =
            highBit >= 2 ? Int((magnitude >> UInt(highBit - 2)) & 3) : Int((magnitude << UInt(2 - highBit)) & 3)
        let step = min(half - 1, 1 + highBit * 4 + fraction)
        return gain > 0 ? half + step : half - step
    }

    func contains(_ v: Int) -> Bool { bucketOf[v] >= 0 }

    mutating func insert(_ v: Int, gain: Int) {
        let b = Self.bucket(gain)
        bucketOf[v] = Int32(b)
        previous[v] = -1
        next[v] = head[b]
        if head[b] >= 0 { previous[Int(head[b])] = Int32(v) }
        head[b] = Int32(v)
        top = max(top, b)
        inserted.append(Int32(v))
    }

    mutating func remove(_ v: Int) {
        let b = Int(bucketOf[v])
        guard b >= 0 else { return }
        if previous[v] >= 0 { next[Int(previous[v])] = next[v] } else { head[b] = next[v] }
        if next[v] >= 0 { previous[Int(next[v])] = previous[v] }
        bucketOf[v] = -1
    }

    mutating func update(_ v: Int, gain: Int) {
        guard bucketOf[v] != Int32(Self.bucket(gain)) else { return }
        remove(v)
        insert(v, gain: gain)
    }

    /// The first vertex, from the highest bucket down, that `accept` takes, looking at no more
    /// than `limit` vertices (a heavy vertex that fits nowhere must not stall the pass).
    mutating func best(limit: Int, _ accept: (Int) -> Bool) -> Int? {
        while top >= 0 && head[top] < 0 { top -= 1 }
        var looked = 0
        var b = top
        while b >= 0 && looked < limit {
            var v = head[b]
            while v >= 0 && looked < limit {
                if accept(Int(v)) { return Int(v) }
                looked += 1
                v = next[Int(v)]
            }
            b -= 1
        }
        return nil
    }

    /// Empties every bucket.
    mutating func removeAll() {
        for v in inserted { bucketOf[Int(v)] = -1 }
        inserted.removeAll(keepingCapacity: true)
        for b in 0...max(top, 0) { head[b] = -1 }
        top = -1
    }
}
