/// Refines a k-way partition for traffic (`TensorNets`' connectivity − 1) under a balance bound,
/// after recursive bisection has found its shape.
///
/// Bisection cuts a graph, which can only approximate traffic: a tensor read on three other
/// workers costs three edges there but is sent to each worker once. This pass works on the
/// tensors themselves, greedily as METIS's k-way refinement does: first it moves vertices off
/// parts above their limit (cheapest moves first), then it repeatedly moves boundary vertices to
/// the part where they save the most traffic, while the destination stays within its limit.
struct KWayRefinement {
    let nets: TensorNets
    let vertexWeight: [Double]
    let parts: Int
    /// The parts every vertex may use, as bits.
    let masks: [UInt64]
    /// The most weight every part may hold.
    let limits: [Double]
    /// Pins of net `n` in part `p`: `pinsIn[n * parts + p]`.
    private var pinsIn: [Int32] = []
    /// The parts holding pins of net `n`, as bits: boundary tests and gains read one word per
    /// net instead of scanning every part.
    private var partsOf: [UInt64] = []
    private var partWeight: [Double] = []
    /// Per-part scratch of `gains(of:)`.
    private var connected: [Int] = []

    init(nets: TensorNets, vertexWeight: [Double], parts: Int, masks: [UInt64], limits: [Double]) {
        self.nets = nets
        self.vertexWeight = vertexWeight
        self.parts = parts
        self.masks = masks
        self.limits = limits
    }

    /// Balances `part`, then improves its traffic for up to `passes` passes. In the first
    /// `plateauPasses` a move that saves nothing is made too: a tensor read in several parts
    /// leaves a part only when its last reader does, and the readers before it save nothing.
    mutating func refine(_ part: inout [Int], passes: Int, plateauPasses: Int = 0, random: inout SplitMix64) {
        pinsIn = [Int32](repeating: 0, count: nets.count * parts)
        partsOf = [UInt64](repeating: 0, count: nets.count)
        for net in 0..<nets.count {
            for pin in nets.pins[nets.pinStart[net]..<nets.pinStart[net + 1]] {
                pinsIn[net * parts + part[pin]] += 1
                partsOf[net] |= 1 << UInt64(part[pin])
            }
        }
        partWeight = [Double](repeating: 0, count: parts)
        for v in part.indices { partWeight[part[v]] += vertexWeight[v] }
        connected = [Int](repeating: 0, count: parts)
        rebalance(&part)
        // After the first pass only the vertices sharing a tensor with a moved one can gain
        // anything new, so each later pass visits those alone, as METIS keeps its boundary list.
        var order = Array(part.indices)
        var touched = [Bool](repeating: false, count: part.count)
        for pass in 0..<passes {
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, random.below(i + 1)) }
            var next: [Int] = []
            for v in order where isBoundary(v, part) {
                guard let (to, gain) = bestMove(v, part),
                    gain > 0 || (gain == 0 && (pass < plateauPasses || evens(v, to, part)))
                else {
                    continue
                }
                move(v, to: to, &part)
                touch(v, &touched, &next)
            }
            guard !next.isEmpty else { return }
            for v in next { touched[v] = false }
            order = next
        }
    }

    /// Queues for the next pass the vertices sharing a tensor with `v`. A tensor read by very
    /// many groups changes their gains too little for one move to matter, and is skipped.
    private func touch(_ v: Int, _ touched: inout [Bool], _ next: inout [Int]) {
        for net in nets.nets[nets.netStart[v]..<nets.netStart[v + 1]] {
            let pins = nets.pinStart[net]..<nets.pinStart[net + 1]
            guard pins.count <= Self.widestTouchedNet else { continue }
            for pin in nets.pins[pins] where !touched[pin] {
                touched[pin] = true
                next.append(pin)
            }
        }
    }

    /// Nets with more pins than this do not queue their pins when one of them moves.
    static let widestTouchedNet = 64

    /// Moves vertices off every part above its limit, losing as little traffic as it can.
    private mutating func rebalance(_ part: inout [Int]) {
        for over in 0..<parts where partWeight[over] > limits[over] {
            var candidates: [(v: Int, gain: Int)] = []
            for v in part.indices where part[v] == over {
                if let (_, gain) = bestMove(v, part) { candidates.append((v, gain)) }
            }
            candidates.sort { $0.gain > $1.gain }
            for candidate in candidates where partWeight[over] > limits[over] {
                // Earlier moves changed the gains and the room left: look again.
                if let (to, _) = bestMove(candidate.v, part) { move(candidate.v, to: to, &part) }
            }
        }
    }

    /// Whether some net of `v` has a pin in another part.
    private func isBoundary(_ v: Int, _ part: [Int]) -> Bool {
        let own: UInt64 = 1 << UInt64(part[v])
        for net in nets.nets[nets.netStart[v]..<nets.netStart[v + 1]] where partsOf[net] != own { return true }
        return false
    }

    /// Whether moving `v` to `to` leaves the two parts more even, relative to their limits.
    private func evens(_ v: Int, _ to: Int, _ part: [Int]) -> Bool {
        (partWeight[to] + vertexWeight[v]) / limits[to] < partWeight[part[v]] / limits[part[v]]
    }

    /// The allowed part with room for `v` where it saves the most traffic, and the bytes saved
    /// (negative when every move costs).
    private mutating func bestMove(_ v: Int, _ part: [Int]) -> (to: Int, gain: Int)? {
        let from = part[v]
        var leaving = 0
        var total = 0
        for p in 0..<parts { connected[p] = 0 }
        for net in nets.nets[nets.netStart[v]..<nets.netStart[v + 1]] {
            let weight = nets.netWeight[net]
            total += weight
            // v is the net's last pin in its part: moving it takes the part out of the net.
            if pinsIn[net * parts + from] == 1 { leaving += weight }
            var bits = partsOf[net]
            while bits != 0 {
                connected[bits.trailingZeroBitCount] += weight
                bits &= bits - 1
            }
        }
        var best: (to: Int, gain: Int)?
        for to in 0..<parts where to != from && masks[v] & (1 << UInt64(to)) != 0 {
            guard partWeight[to] + vertexWeight[v] <= limits[to] else { continue }
            // Nets with no pin in `to` yet gain it as a part.
            let gain = leaving - (total - connected[to])
            if gain > best?.gain ?? .min { best = (to, gain) }
        }
        return best
    }

    private mutating func move(_ v: Int, to: Int, _ part: inout [Int]) {
        let from = part[v]
        for net in nets.nets[nets.netStart[v]..<nets.netStart[v + 1]] {
            pinsIn[net * parts + from] -= 1
            if pinsIn[net * parts + from] == 0 { partsOf[net] &= ~(1 << UInt64(from)) }
            pinsIn[net * parts + to] += 1
            partsOf[net] |= 1 << UInt64(to)
        }
        partWeight[from] -= vertexWeight[v]
        partWeight[to] += vertexWeight[v]
        part[v] = to
    }
}
