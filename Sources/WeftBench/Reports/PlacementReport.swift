import Foundation
import WeftCluster
import WeftRuntime

/// Writes the files of `weft bench placement` into one folder: `placement.csv`,
/// `placement.json`, `prediction-quality.json` (rank correlation and regret per workload), the charts `step-time.svg`, `predicted-vs-measured.svg`, `bytes-moved.svg`, `placement-time.svg`, and
/// per workload and strategy `graphs/WORKLOAD.STRATEGY.dot` (and `.svg` where Graphviz is installed).
public struct PlacementReport: Sendable {
    /// The folder written to.
    public let directory: URL

    /// Writes into `directory`, creating it if needed.
    public init(directory: URL) throws(WeftError) {
        self.directory = directory
        try Self.createDirectory(directory.appendingPathComponent("graphs"))
    }

    /// Writes the table as CSV and JSON and the charts; returns the files written.
    public func writeRows(_ rows: [PlacementRow]) throws(WeftError) -> [URL] {
        let json: Data
        let quality: Data
        do {
            json = try PlacementTable.json(rows)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            quality = try encoder.encode(PredictionQuality.of(rows))
        } catch {
            throw WeftError(.internal, "cannot encode the rows as JSON: \(error)")
        }
        let files: [(String, Data)] = [
            ("placement.csv", Data(PlacementTable.csv(rows).utf8)),
            ("placement.json", json),
            ("prediction-quality.json", quality),
            ("step-time.svg", Data(BarChart.stepTime(rows).svg.utf8)),
            ("predicted-vs-measured.svg", Data(BarChart.predictedVersusMeasured(rows).svg.utf8)),
            ("bytes-moved.svg", Data(BarChart.bytesMoved(rows).svg.utf8)),
            ("placement-time.svg", Data(BarChart.placementTime(rows).svg.utf8)),
        ]
        return try files.map { (name, data) throws(WeftError) in
            try write(data, to: directory.appendingPathComponent(name))
        }
    }

    /// What drawing one placed workload produced.
    public struct Pictures: Sendable {
        /// DOT files, and SVG files where `dot` rendered them.
        public var files: [URL] = []
        /// Whether Graphviz's `dot` was found; without it only DOT files are written.
        public var rendered = true
        /// Whether the graph was drawn collapsed by name scope.
        public var collapsed = false
        /// Pictures that `dot` could not render, and why; their DOT files are written.
        public var problems: [String] = []
    }

    /// Writes a DOT picture of `placed` for every strategy that placed it, rendered to SVG when
    /// `dot` is on the PATH.
    public func drawPlacements(_ placed: PlacementBenchmark.PlacedWorkload) throws(WeftError) -> Pictures {
        var pictures = Pictures()
        for (strategy, placement) in placed.placements.sorted(by: { $0.key < $1.key }) {
            let picture = PlacedGraphPicture(
                graph: placed.runtime,
                placement: placement,
                devices: placed.devices,
                title: "\(placed.workload.name) (\(placed.workload.parameters)) placed by \(strategy)"
            )
            pictures.collapsed = picture.collapsed
            let base = directory.appendingPathComponent(
                "graphs/\(fileName(placed.workload.name)).\(fileName(strategy))"
            )
            let dotFile = try write(Data(picture.dot.utf8), to: base.appendingPathExtension("dot"))
            pictures.files.append(dotFile)
            let svgFile = base.appendingPathExtension("svg")
            guard pictures.rendered else { continue }
            do {
                if try PlacedGraphPicture.render(dotFile, to: svgFile) {
                    pictures.files.append(svgFile)
                } else {
                    pictures.rendered = false
                }
            } catch {
                pictures.problems.append(error.message)
            }
        }
        return pictures
    }

    private func fileName(_ text: String) -> String {
        String(text.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }

    private func write(_ data: Data, to url: URL) throws(WeftError) -> URL {
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw WeftError(.permissionDenied, "cannot write \(url.path): \(error.localizedDescription)")
        }
        return url
    }

    private static func createDirectory(_ url: URL) throws(WeftError) {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw WeftError(.permissionDenied, "cannot create the folder \(url.path): \(error.localizedDescription)")
        }
    }
}
