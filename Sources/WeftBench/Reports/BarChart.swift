import Foundation

/// A grouped bar chart as a standalone SVG file, written by hand: one panel per group
/// (workload) with its own value axis, since workloads differ by orders of magnitude, and one
/// bar per series (strategy) in the same colour in every panel, named in the legend.
public struct BarChart: Sendable {
    /// One group's bars: a value per series, `nil` where there is none.
    public struct Group: Sendable {
        /// The group's label (the workload).
        public var label: String
        /// Values by series name.
        public var values: [String: Double]
    }

    /// The chart's title.
    public var title: String
    /// The unit of the values, shown in every panel's title (`ms`).
    public var unit: String
    /// The series, in legend order.
    public var series: [String]
    /// The groups, left to right.
    public var groups: [Group]

    /// Makes a chart.
    public init(title: String, unit: String, series: [String], groups: [Group]) {
        self.title = title
        self.unit = unit
        self.series = series
        self.groups = groups
    }

    /// Tableau's ten colours: distinguishable, and readable for most colour-blind readers.
    static let palette = [
        "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    ]

    static func colour(_ index: Int) -> String { palette[index % palette.count] }

    /// The light grey of the value grid lines.
    static let gridColour = "#e0e0e0"

    private let barWidth = 26.0
    private let panelHeight = 240.0
    private let top = 80.0

    private var panelWidth: Double { max(170, Double(series.count) * (barWidth + 6) + 80) }

    /// The SVG document.
    public var svg: String {
        let width = max(480, Double(groups.count) * panelWidth + 20, legendWidth)
        let height = top + panelHeight + 70
        var parts: [String] = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(Int(width))" height="\#(Int(height))" "#
                + #"viewBox="0 0 \#(Int(width)) \#(Int(height))" font-family="sans-serif" font-size="11">"#,
            #"<rect width="100%" height="100%" fill="white"/>"#,
            text(title, x: 10, y: 22, size: 16, weight: "bold"),
        ]
        parts += legend()
        for (index, group) in groups.enumerated() {
            parts += panel(group, x: 10 + Double(index) * panelWidth)
        }
        parts.append("</svg>")
        return parts.joined(separator: "\n") + "\n"
    }

    private func legend() -> [String] {
        var parts: [String] = []
        var x = 10.0
        for (index, name) in series.enumerated() {
            parts.append(#"<rect x="\#(x)" y="36" width="12" height="12" fill="\#(Self.colour(index))"/>"#)
            parts.append(text(name, x: x + 16, y: 46))
            x += Self.legendItemWidth(name)
        }
        return parts
    }

    /// The legend's width, so the picture is wide enough to show all of it.
    private var legendWidth: Double { series.reduce(20) { $0 + Self.legendItemWidth($1) } }

    /// A legend entry's swatch, its name at about 7 points a character, and the gap after it.
    private static func legendItemWidth(_ name: String) -> Double { 16 + Double(name.count) * 7 + 18 }

    private func panel(_ group: Group, x: Double) -> [String] {
        let axisX = x + 54
        let bottom = top + panelHeight
        let maximum = group.values.values.filter(\.isFinite).max() ?? 0
        let ticks = Self.ticks(upTo: maximum)
        let scale = panelHeight / (ticks.last ?? 1)
        var parts = [text("\(group.label) (\(unit))", x: axisX, y: top - 14, weight: "bold")]
        for tick in ticks {
            let y = bottom - tick * scale
            parts.append(
                #"<line x1="\#(axisX - 4)" y1="\#(y)" x2="\#(x + panelWidth - 10)" y2="\#(y)" stroke="\#(Self.gridColour)"/>"#
            )
            parts.append(text(Self.label(tick), x: axisX - 6, y: y + 4, anchor: "end"))
        }
        parts.append(#"<line x1="\#(axisX)" y1="\#(top)" x2="\#(axisX)" y2="\#(bottom)" stroke="black"/>"#)
        parts.append(
            #"<line x1="\#(axisX)" y1="\#(bottom)" x2="\#(x + panelWidth - 10)" y2="\#(bottom)" stroke="black"/>"#
        )
        for (index, name) in series.enumerated() {
            let barX = axisX + 8 + Double(index) * (barWidth + 6)
            guard let value = group.values[name], value.isFinite else {
                parts.append(text("n/a", x: barX + barWidth / 2, y: bottom - 4, anchor: "middle", size: 9))
                continue
            }
            let barHeight = max(value * scale, value > 0 ? 1 : 0)
            parts.append(
                #"<rect x="\#(barX)" y="\#(bottom - barHeight)" width="\#(barWidth)" height="\#(barHeight)" "#
                    + #"fill="\#(Self.colour(index))"><title>\#(escape("\(name): \(Self.label(value)) \(unit)"))</title></rect>"#
            )
            parts.append(
                text(Self.label(value), x: barX + barWidth / 2, y: bottom - barHeight - 3, anchor: "middle", size: 9)
            )
        }
        return parts
    }

    private func text(
        _ content: String,
        x: Double,
        y: Double,
        anchor: String = "start",
        size: Int = 11,
        weight: String = "normal"
    ) -> String {
        #"<text x="\#(x)" y="\#(y)" text-anchor="\#(anchor)" font-size="\#(size)" font-weight="\#(weight)">\#(escape(content))</text>"#
    }

    /// Round tick values from 0 to at least `maximum`: steps of 1, 2 or 5 times a power of ten.
    static func ticks(upTo maximum: Double) -> [Double] {
        guard maximum > 0, maximum.isFinite else { return [0, 1] }
        let rough = maximum / 4
        let magnitude = Foundation.pow(10, (Foundation.log10(rough)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let count = Int((maximum / step).rounded(.up))
        return (0...max(count, 1)).map { Double($0) * step }
    }

    /// A short label: `0.25`, `12`, `3.4k`, `1.2M`, `5G`.
    static func label(_ value: Double) -> String {
        let units: [(Double, String)] = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (size, suffix) in units where Swift.abs(value) >= size {
            return trimmed(value / size) + suffix
        }
        return trimmed(value)
    }

    private static func trimmed(_ value: Double) -> String {
        if value == value.rounded() { return String(Int(value)) }
        return String(format: Swift.abs(value) < 1 ? "%.3g" : "%.1f", value)
    }
}

/// `text` with XML's special characters escaped.
func escape(_ text: String) -> String {
    var result = ""
    result.reserveCapacity(text.count)
    for character in text {
        switch character {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        default: result.append(character)
        }
    }
    return result
}

extension BarChart {
    /// Median step time per strategy per workload, in milliseconds.
    public static func stepTime(_ rows: [PlacementRow]) -> BarChart {
        chart(rows, title: "Median step time by placement strategy", unit: "ms") {
            $0.medianStepSeconds.map { $0 * 1e3 }
        }
    }

    /// Predicted step beside the measured median and 90th percentile, per workload and strategy.
    public static func predictedVersusMeasured(_ rows: [PlacementRow]) -> BarChart {
        let groups = rows.map { row in
            Group(
                label: "\(row.workload) · \(row.strategy)",
                values: [
                    "predicted": row.predicted.predictedStepSeconds.map { $0 * 1e3 },
                    "measured p50": row.medianStepSeconds.map { $0 * 1e3 },
                    "measured p90": row.p90StepSeconds.map { $0 * 1e3 },
                ].compactMapValues { $0 }
            )
        }
        return BarChart(
            title: "Predicted and measured step time",
            unit: "ms",
            series: ["predicted", "measured p50", "measured p90"],
            groups: groups
        )
    }

    /// Bytes sent between workers per step, per strategy per workload.
    public static func bytesMoved(_ rows: [PlacementRow]) -> BarChart {
        chart(rows, title: "Bytes sent between workers per step", unit: "bytes") { $0.bytesPerStep.map(Double.init) }
    }

    /// Placement time per strategy per workload, in milliseconds.
    public static func placementTime(_ rows: [PlacementRow]) -> BarChart {
        chart(rows, title: "Placement time by strategy", unit: "ms") { $0.placementSeconds * 1e3 }
    }

    static func chart(_ rows: [PlacementRow], title: String, unit: String, value: (PlacementRow) -> Double?) -> BarChart
    {
        var series: [String] = []
        var groups: [Group] = []
        for row in rows {
            if !series.contains(row.strategy) { series.append(row.strategy) }
            if groups.last?.label != row.workload { groups.append(Group(label: row.workload, values: [:])) }
            groups[groups.count - 1].values[row.strategy] = value(row)
        }
        return BarChart(title: title, unit: unit, series: series, groups: groups)
    }
}
