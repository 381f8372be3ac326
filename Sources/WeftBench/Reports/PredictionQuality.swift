import Foundation

/// How well the cost model ranked the strategies of one workload: the Spearman rank correlation
/// of predicted and measured step times, and the regret of trusting the prediction (the measured
/// step of the predicted best over the measured best). Strategies whose placements split the
/// graph alike are compared by their pooled steps (`PlacementRow.pooledMedianStepSeconds`).
public struct PredictionQuality: Sendable, Hashable, Codable {
    /// The workload and its knobs.
    public var workload: String
    /// Strategies with both a prediction and a measurement.
    public var strategies: Int
    /// Spearman's ρ of predicted against measured median step (1: same order); `nil` below two
    /// strategies or when either side is all ties.
    public var spearman: Double?
    /// The strategy predicted fastest.
    public var predictedBest: String
    /// The strategy measured fastest.
    public var measuredBest: String
    /// Measured median step of the predicted best over the measured best (1: no regret), pooled
    /// over strategies that placed alike.
    public var regret: Double

    /// One figure per workload of `rows` (in their order) that has at least one row with both
    /// a prediction and a measured step.
    public static func of(_ rows: [PlacementRow]) -> [PredictionQuality] {
        var order: [String] = []
        var byWorkload: [String: [(strategy: String, predicted: Double, measured: Double)]] = [:]
        for row in rows {
            guard let predicted = row.predicted.predictedStepSeconds,
                let measured = row.pooledMedianStepSeconds ?? row.medianStepSeconds,
                predicted.isFinite, measured.isFinite, !row.failed
            else { continue }
            let key = "\(row.workload) (\(row.parameters))"
            if byWorkload[key] == nil { order.append(key) }
            byWorkload[key, default: []].append((row.strategy, predicted, measured))
        }
        return order.compactMap { key in
            guard let entries = byWorkload[key],
                let predictedBest = entries.min(by: { $0.predicted < $1.predicted }),
                let measuredBest = entries.min(by: { $0.measured < $1.measured })
            else { return nil }
            return PredictionQuality(
                workload: key,
                strategies: entries.count,
                spearman: spearman(entries.map(\.predicted), entries.map(\.measured)),
                predictedBest: predictedBest.strategy,
                measuredBest: measuredBest.strategy,
                regret: measuredBest.measured > 0 ? predictedBest.measured / measuredBest.measured : 1
            )
        }
    }

    /// Spearman's ρ: Pearson's correlation of the ranks, ties sharing their mean rank.
    static func spearman(_ x: [Double], _ y: [Double]) -> Double? {
        guard x.count == y.count, x.count >= 2 else { return nil }
        let (rx, ry) = (ranks(x), ranks(y))
        let mean = Double(x.count + 1) / 2
        var (covariance, varianceX, varianceY) = (0.0, 0.0, 0.0)
        for index in x.indices {
            covariance += (rx[index] - mean) * (ry[index] - mean)
            varianceX += (rx[index] - mean) * (rx[index] - mean)
            varianceY += (ry[index] - mean) * (ry[index] - mean)
        }
        guard varianceX > 0, varianceY > 0 else { return nil }
        return covariance / (varianceX * varianceY).squareRoot()
    }

    /// Ranks from 1, ties given the mean of the ranks they span.
    static func ranks(_ values: [Double]) -> [Double] {
        let sorted = values.indices.sorted { values[$0] < values[$1] }
        var result = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < sorted.count {
            var end = start
            while end + 1 < sorted.count && values[sorted[end + 1]] == values[sorted[start]] { end += 1 }
            for position in start...end { result[sorted[position]] = Double(start + end) / 2 + 1 }
            start = end + 1
        }
        return result
    }

    /// One line per workload, for below the table.
    public static func text(_ qualities: [PredictionQuality]) -> String {
        qualities.map { quality in
            let rho = quality.spearman.map { String(format: "%.2f", $0) } ?? "n/a"
            return "\(quality.workload): Spearman ρ \(rho) over \(quality.strategies) strategies; predicted best "
                + "\(quality.predictedBest), measured best \(quality.measuredBest), regret "
                + String(format: "%.2f×", quality.regret)
        }.joined(separator: "\n")
    }
}
