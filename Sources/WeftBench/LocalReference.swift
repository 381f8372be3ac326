import Weft
import WeftRuntime

/// One step of a workload in a local session: the values every strategy's first step must match.
struct LocalReference: Sendable {
    /// The workload's fetches after its initializers and one step.
    let fetched: [Tensor]

    /// Runs the initializers and one step of `built` in a fresh local session.
    init(_ built: BuiltWorkload) throws(WeftError) {
        let session = Session(graph: built.graph)
        defer { session.close() }
        if !built.initializers.isEmpty { _ = try session.run(fetches: [], targets: built.initializers) }
        fetched = try session.run(fetches: built.fetches, feeds: built.feeds, targets: built.targets)
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
