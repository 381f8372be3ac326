import Foundation
import WeftCluster
import WeftRuntime

/// `weft bench scale`: the coordinator's cost per event as the cluster grows, from its state
/// machines alone (`ClusterSimulation`), at several sizes so the growth shows.
public enum ScaleBenchmark {
    /// Simulates each size in turn.
    public static func run(
        sizes: [Int],
        workersPerHost: Int,
        strategy: String
    ) throws(WeftError) -> [ClusterSimulation.Figures] {
        var rows: [ClusterSimulation.Figures] = []
        for workers in sizes {
            rows.append(try ClusterSimulation.run(workers: workers, workersPerHost: workersPerHost, strategy: strategy))
        }
        return rows
    }

    /// How a cost grew from the first row to `row`, over how `n log n` grew: at most about 1
    /// when the cost grows no faster than `n log n`.
    public static func growthOverNLogN(
        _ cost: (ClusterSimulation.Figures) -> Double,
        from first: ClusterSimulation.Figures,
        to row: ClusterSimulation.Figures
    ) -> Double {
        func nLogN(_ n: Int) -> Double { Double(n) * log2(Double(max(n, 2))) }
        guard cost(first) > 0 else { return 0 }
        return (cost(row) / cost(first)) / (nLogN(row.workers) / nLogN(first.workers))
    }
}
