import Foundation

/// The rows of `weft bench placement` as text: an aligned table, CSV and JSON. Every figure
/// that was not measured or predicted is written "n/a" (empty in CSV, `null` in JSON).
public enum PlacementTable {
    /// A column: its header and how a row shows in it.
    struct Column: Sendable {
        var header: String
        var leftAligned = false
        var text: @Sendable (PlacementRow) -> String
    }

    static let columns: [Column] = [
        Column(header: "workload", leftAligned: true) { $0.workload },
        Column(header: "nodes") { "\($0.nodes)" },
        Column(header: "strategy", leftAligned: true) { $0.strategy },
        Column(header: "place ms") { milliseconds($0.placementSeconds) },
        Column(header: "as coord.") { row in row.sameAsCoordinator.map { $0 ? "yes" : "no" } ?? "n/a" },
        Column(header: "bound ms") { milliseconds($0.predicted.bounds?.seconds) },
        Column(header: "pred. step ms") { milliseconds($0.predicted.predictedStepSeconds) },
        Column(header: "pred/bound") { fixed($0.predicted.predictedOverBound) },
        Column(header: "step ms p50") { milliseconds($0.medianStepSeconds) },
        Column(header: "step ms p90") { milliseconds($0.p90StepSeconds) },
        Column(header: "pooled p50") { milliseconds($0.pooledMedianStepSeconds) },
        Column(header: "p50/bound") { fixed($0.measuredOverBound) },
        Column(header: "tensors/step") { $0.tensorsPerStep.map(String.init) ?? "n/a" },
        Column(header: "bytes/step") { $0.bytesPerStep.map(byteCount) ?? "n/a" },
        Column(header: "pred. bytes") { $0.predicted.bytesPerStep.map(byteCount) ?? "n/a" },
        Column(header: "cut edges") { "\($0.cutEdges)" },
        Column(header: "node bal.") { fixed($0.nodeBalance) },
        Column(header: "compute bal.") { fixed($0.computeBalance) },
        Column(header: "pred. bal.") { fixed($0.predicted.computeBalance) },
        Column(header: "pred. peak mem") { ($0.predicted.peakMemoryBytes?.values.max()).map(byteCount) ?? "n/a" },
        Column(header: "mem limit") { row in
            row.memoryLimitBytes.map { byteCount($0) + (row.peakWithinLimit == false ? " OVER" : "") } ?? "n/a"
        },
        Column(header: "values", leftAligned: true) { row in
            // A problem after matching values (a later step failed) still fails the row.
            switch (row.valuesMatch, row.problem) {
            case (false?, _): "MISMATCH"
            case (_, _?): "FAILED"
            case (true?, nil): "ok"
            case (nil, nil): "not run"
            }
        },
    ]

    /// One line per workload with its knobs, for above the table.
    public static func workloadLines(_ rows: [PlacementRow]) -> String {
        var seen = Set<String>()
        return rows.filter { seen.insert($0.workload + " " + $0.parameters).inserted }
            .map { "\($0.workload): \($0.nodes) nodes (\($0.parameters)) on \($0.workers) workers" }
            .joined(separator: "\n")
    }

    /// An aligned table, one line per row, followed by every row's problem in full.
    public static func text(_ rows: [PlacementRow]) -> String {
        let cells = [columns.map(\.header)] + rows.map { row in columns.map { $0.text(row) } }
        let widths = columns.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
        var lines = cells.map { line in
            columns.indices.map { column in
                pad(line[column], to: widths[column], left: columns[column].leftAligned)
            }.joined(separator: "  ")
        }
        lines.insert(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "), at: 1)
        for row in rows {
            if let problem = row.problem { lines.append("\(row.workload) × \(row.strategy): \(problem)") }
        }
        return lines.joined(separator: "\n")
    }

    /// Every row as CSV with a header line; times in seconds, unknown figures empty.
    public static func csv(_ rows: [PlacementRow]) -> String {
        let header = [
            "workload", "parameters", "nodes", "strategy", "workers", "graph_build_s", "placement_s",
            "same_placement_as_coordinator", "predicted_step_s",
            "session_setup_s", "steps", "step_median_s", "step_p90_s", "tensors_per_step", "bytes_per_step",
            "traffic_source", "predicted_tensors_per_step", "predicted_bytes_per_step", "cut_edges", "node_balance",
            "compute_balance", "predicted_compute_balance", "predicted_peak_memory_max_bytes", "values_match",
            "problem", "bound_work_per_worker_s", "bound_critical_path_s", "predicted_over_bound",
            "measured_over_bound", "memory_limit_bytes", "predicted_peak_memory_by_worker", "step_median_pooled_s",
        ]
        let lines = rows.map { row -> [String] in
            [
                row.workload, row.parameters, "\(row.nodes)", row.strategy, "\(row.workers)",
                number(row.graphBuildSeconds),
                number(row.placementSeconds), row.sameAsCoordinator.map(String.init) ?? "",
                number(row.predicted.predictedStepSeconds), number(row.sessionSetupSeconds), "\(row.steps)",
                number(row.medianStepSeconds), number(row.p90StepSeconds), row.tensorsPerStep.map(String.init) ?? "",
                row.bytesPerStep.map(String.init) ?? "", row.trafficSource.rawValue,
                row.predicted.tensorsPerStep.map(String.init) ?? "", row.predicted.bytesPerStep.map(String.init) ?? "",
                "\(row.cutEdges)",
                number(row.nodeBalance), number(row.computeBalance), number(row.predicted.computeBalance),
                (row.predicted.peakMemoryBytes?.values.max()).map(String.init) ?? "",
                row.valuesMatch.map(String.init) ?? "", row.problem ?? "",
                number(row.predicted.bounds?.workPerDeviceSeconds), number(row.predicted.bounds?.criticalPathSeconds),
                number(row.predicted.predictedOverBound), number(row.measuredOverBound),
                row.memoryLimitBytes.map(String.init) ?? "", peaksByWorker(row.predicted.peakMemoryBytes),
                number(row.pooledMedianStepSeconds),
            ]
        }
        return ([header] + lines).map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// Every row as a JSON array, keys sorted, unknown figures `null`.
    public static func json(_ rows: [PlacementRow]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // NaN is not JSON; a placement that failed has no time.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf",
            negativeInfinity: "-inf",
            nan: "n/a"
        )
        return try encoder.encode(rows)
    }

    /// `/job:worker/task:0=123;…` in device order; empty without a prediction.
    static func peaksByWorker(_ peaks: [String: Int]?) -> String {
        (peaks ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func pad(_ text: String, to width: Int, left: Bool) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return left ? text + fill : fill + text
    }

    static func milliseconds(_ seconds: Double?) -> String {
        guard let seconds, seconds.isFinite else { return "n/a" }
        let ms = seconds * 1e3
        return String(format: ms < 10 ? "%.3f" : ms < 1000 ? "%.1f" : "%.0f", ms)
    }

    static func fixed(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "n/a" }
        return String(format: "%.2f", value)
    }

    static func number(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "" }
        return "\(value)"
    }

    /// `1.5 KB`, `12.0 MB`: decimal units, as network traffic is counted.
    static func byteCount(_ bytes: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
