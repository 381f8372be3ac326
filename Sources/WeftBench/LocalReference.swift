import Weft
import WeftRuntime

/// One step of a workload in a local session: the values every strategy's first step must
/// match, and the size of every tensor some placement sends between workers.
struct LocalReference: Sendable {
    /// The workload's fetches after its initializers and one step.
    let fetched: [Tensor]
    /// Bytes of each tensor some strategy sends, by tensor name (`layer/read:0`).
    let sizes: [String: Int]

    /// Runs the initializers and one step of `built` in a fresh local session, fetching the
    /// tensors in `sizing` in the same step (they are part of it, so nothing extra runs).
    init(_ built: BuiltWorkload, sizing: Set<String>) throws(WeftError) {
        let session = Session(graph: built.graph)
        defer { session.close() }
        if !built.initializers.isEmpty { _ = try session.run(fetches: [], targets: built.initializers) }
        // A control edge sends a Boolean scalar; it is not a tensor of the graph.
        let sized = sizing.filter { !$0.hasPrefix("^") }.sorted()
        let values = try session.run(fetches: built.fetches + sized, feeds: built.feeds, targets: built.targets)
        fetched = Array(values.prefix(built.fetches.count))
        var sizes: [String: Int] = [:]
        for (name, tensor) in zip(sized, values.dropFirst(built.fetches.count)) { sizes[name] = tensor.byteCount }
        self.sizes = sizes
    }

    /// Payload bytes of sending `tensors` once each: one byte for a control edge's Boolean.
    func bytes(sending tensors: [String]) -> Int? {
        var total = 0
        for name in tensors {
            if name.hasPrefix("^") {
                total += DType.bool.byteSize
            } else if let size = sizes[name] {
                total += size
            } else {
                return nil  // not sized: better no figure than a wrong one
            }
        }
        return total
    }
}

/// Compares fetched values with a reference: floats within a relative 1e-5.
enum ValueComparison {
    /// Relative tolerance for floating-point values; below magnitude 1 it is absolute, so
    /// values that are zero up to rounding compare equal.
    static let tolerance = 1e-5

    /// A description of the first difference between `expected` and `actual`, or `nil`.
    static func firstDifference(expected: [Tensor], actual: [Tensor], names: [String]) -> String? {
        guard expected.count == actual.count else {
            return "\(actual.count) values fetched instead of \(expected.count)"
        }
        for (index, (want, got)) in zip(expected, actual).enumerated() {
            let name = names.indices.contains(index) ? names[index] : "fetch \(index)"
            guard want.dtype == got.dtype, want.shape == got.shape else {
                return "\(name) is \(got.dtype) \(got.shape), expected \(want.dtype) \(want.shape)"
            }
            if want.dtype.isFloatingPoint {
                for (position, (a, b)) in zip(want.doubleValues, got.doubleValues).enumerated() where !close(a, b) {
                    return "\(name)[\(position)] is \(b), expected \(a)"
                }
            } else if want != got {
                return "\(name) is \(got), expected \(want)"
            }
        }
        return nil
    }

    static func close(_ a: Double, _ b: Double) -> Bool {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
        if a == b { return true }  // equal infinities too
        return Swift.abs(a - b) <= tolerance * Swift.max(1, Swift.abs(a), Swift.abs(b))
    }
}
