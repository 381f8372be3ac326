/// Summary statistics of timing samples.
public struct Statistics: Sendable {
    /// The samples, sorted ascending.
    public let sorted: [Double]

    /// Sorts `samples`.
    public init(_ samples: [Double]) { sorted = samples.sorted() }

    /// The value below which `fraction` of the samples lie (nearest rank).
    public func percentile(_ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    /// The median.
    public var median: Double { percentile(0.5) }
    /// The 99th percentile.
    public var p99: Double { percentile(0.99) }
}

extension Statistics {
    /// The 90th percentile.
    public var p90: Double { percentile(0.9) }
}
