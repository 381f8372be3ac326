import Foundation
import WeftCluster
import WeftPlacement
import WeftRuntime

/// A picture of a placed graph in Graphviz DOT: nodes filled with their worker's colour, edges
/// between workers drawn thick and red. Graphs above `detailLimit` nodes are collapsed into
/// one box per name scope and worker, with edge counts, so the picture stays readable.
public struct PlacedGraphPicture: Sendable {
    /// Graphs with more nodes than this are drawn collapsed by name scope.
    public static let detailLimit = 2_000
    /// A collapsed picture is made coarser until it has at most this many boxes.
    static let boxLimit = 120

    /// The DOT text.
    public let dot: String
    /// Whether nodes were collapsed into name-scope boxes.
    public let collapsed: Bool

    /// Draws `graph` as placed by `placement` (devices in `devices` order get the palette's colours).
    public init(graph: RuntimeGraph, placement: [String: DeviceName], devices: [DeviceName], title: String) {
        let colours = Dictionary(uniqueKeysWithValues: devices.sorted().enumerated().map { ($1, BarChart.colour($0)) })
        collapsed = graph.nodes.count > Self.detailLimit
        var lines = [
            "digraph placed {",
            "  graph [rankdir=TB, label=\(quoted(title)), labelloc=t, fontname=\"sans-serif\"];",
            "  node [shape=box, style=\"filled,rounded\", fontname=\"sans-serif\", fontsize=10];",
            "  edge [color=\"#999999\", arrowsize=0.6];",
        ]
        if collapsed {
            // Collapsed boxes have long edges across many ranks (a constant feeding every stage);
            // bounded crossing minimisation keeps dot's layout to seconds instead of minutes.
            lines.append("  graph [mclimit=0.2, nslimit=4, nslimit1=4];")
        }
        lines += Self.legend(colours)
        lines +=
            collapsed
            ? Self.collapsedBody(graph, placement, colours) : Self.detailedBody(graph, placement, colours)
        lines.append("}")
        dot = lines.joined(separator: "\n") + "\n"
    }

    private static func legend(_ colours: [DeviceName: String]) -> [String] {
        var lines = ["  subgraph cluster_legend {", "    label=\"workers\"; fontsize=10;"]
        for (device, colour) in colours.sorted(by: { $0.key < $1.key }) {
            lines.append(
                "    \(quoted("legend \(device)")) [label=\(quoted(device.description)), fillcolor=\(quoted(colour))];"
            )
        }
        lines.append("  }")
        return lines
    }

    private static func detailedBody(
        _ graph: RuntimeGraph,
        _ placement: [String: DeviceName],
        _ colours: [DeviceName: String]
    ) -> [String] {
        var lines: [String] = []
        for node in graph.nodes {
            let colour = placement[node.info.name].flatMap { colours[$0] } ?? "#ffffff"
            lines.append(
                "  \(quoted(node.info.name)) [label=\(quoted("\(node.info.name)\n\(node.info.op)")), fillcolor=\(quoted(colour))];"
            )
        }
        for node in graph.nodes {
            let consumer = node.info.name
            let edges = node.dataInputs.map { ($0.node, false) } + node.controlInputs.map { ($0, true) }
            for (producer, isControl) in edges {
                let name = graph.nodes[producer].info.name
                let crossing = placement[name] != placement[consumer]
                var style: [String] = crossing ? ["color=\"#d62728\"", "penwidth=2.5"] : []
                if isControl { style.append("style=dashed") }
                lines.append(
                    "  \(quoted(name)) -> \(quoted(consumer))"
                        + (style.isEmpty ? "" : " [\(style.joined(separator: ", "))]") + ";"
                )
            }
        }
        return lines
    }

    /// A box per (scope, worker) and an edge per pair of boxes, labelled with its edge count.
    private static func collapsedBody(
        _ graph: RuntimeGraph,
        _ placement: [String: DeviceName],
        _ colours: [DeviceName: String]
    ) -> [String] {
        let devices = graph.nodes.map { placement[$0.info.name] }
        let scopes = coarsestUsefulScopes(graph, devices)
        var boxIndex: [BoxKey: Int] = [:]
        var boxes: [(key: BoxKey, count: Int)] = []
        let boxOfNode = graph.nodes.indices.map { index -> Int in
            let key = BoxKey(scope: scopes[index], device: devices[index])
            if let box = boxIndex[key] {
                boxes[box].count += 1
                return box
            }
            boxIndex[key] = boxes.count
            boxes.append((key, 1))
            return boxes.count - 1
        }
        var edges: [EdgeKey: Int] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for producer in node.dataInputs.map(\.node) + node.controlInputs
            where boxOfNode[producer] != boxOfNode[index] {
                edges[EdgeKey(from: boxOfNode[producer], to: boxOfNode[index]), default: 0] += 1
            }
        }
        var lines: [String] = []
        for (box, entry) in boxes.enumerated() {
            let colour = entry.key.device.flatMap { colours[$0] } ?? "#ffffff"
            let label = "\(entry.key.scope)\n\(entry.count) node\(entry.count == 1 ? "" : "s")"
            lines.append("  b\(box) [label=\(quoted(label)), fillcolor=\(quoted(colour))];")
        }
        for (edge, count) in edges.sorted(by: { ($0.key.from, $0.key.to) < ($1.key.from, $1.key.to) }) {
            let crossing = boxes[edge.from].key.device != boxes[edge.to].key.device
            let width = crossing ? 1.5 + Foundation.log10(Double(count)) : 1
            let colour = crossing ? "#d62728" : "#999999"
            lines.append(
                "  b\(edge.from) -> b\(edge.to) [label=\"\(count)\", color=\"\(colour)\", penwidth=\(String(format: "%.1f", width))];"
            )
        }
        return lines
    }

    private struct BoxKey: Hashable {
        var scope: String
        var device: DeviceName?
    }

    private struct EdgeKey: Hashable {
        var from: Int
        var to: Int
    }

    /// The scope of each node at the finest of these levels that gives at most `boxLimit`
    /// boxes: the full name scope; its first component; that component with numbered scopes
    /// taken in ranges of 10, 100, … (`stage_1234` → `stage[1200…1299]`, so a pipeline keeps its
    /// order); and finally every numbered scope of one name together (`branch*`).
    private static func coarsestUsefulScopes(_ graph: RuntimeGraph, _ devices: [DeviceName?]) -> [String] {
        let first = { (name: String) in String(scope(of: name).split(separator: "/").first ?? "") }
        var levels: [(String) -> String] = [{ scope(of: $0) }, first]
        for size in [10, 100, 1_000, 10_000, 100_000] {
            levels.append { name in
                let (base, number) = numbered(first(name))
                guard let number else { return base }
                let start = number / size * size
                return "\(base)[\(start)…\(start + size - 1)]"
            }
        }
        levels.append { name in
            let (base, number) = numbered(first(name))
            return number == nil ? base : base + "*"
        }
        var scopes: [String] = []
        for level in levels {
            scopes = graph.nodes.map { node in
                let scope = level(node.info.name)
                return scope.isEmpty ? "(top level)" : scope
            }
            let boxes = Set(zip(scopes, devices).map { BoxKey(scope: $0, device: $1) })
            if boxes.count <= boxLimit { break }
        }
        return scopes
    }

    private static func scope(of name: String) -> String {
        guard let slash = name.lastIndex(of: "/") else { return "" }
        return String(name[..<slash])
    }

    /// A scope made unique by TensorFlow's rule split into its name and number: `stage_12` is
    /// (`stage`, 12); the first scope of a name, `stage`, is number 0. Unnumbered names have
    /// no number when they are empty.
    private static func numbered(_ scope: String) -> (base: String, number: Int?) {
        guard !scope.isEmpty else { return (scope, nil) }
        if let underscore = scope.lastIndex(of: "_"), let number = Int(scope[scope.index(after: underscore)...]) {
            return (String(scope[..<underscore]), number)
        }
        return (scope, 0)
    }

    /// How long `dot` may take to lay out one picture.
    public static let renderTimeout = Duration.seconds(60)

    /// Renders `dotFile` to `svgFile` with Graphviz's `dot -Tsvg`. Returns `false` without
    /// trying when `dot` is not on the PATH; throws when it runs and fails.
    public static func render(_ dotFile: URL, to svgFile: URL) throws(WeftError) -> Bool {
        guard let dot = executableOnPath("dot") else { return false }
        let process = Process()
        process.executableURL = dot
        process.arguments = ["-Tsvg", dotFile.path, "-o", svgFile.path]
        process.standardError = Pipe()
        do {
            try process.run()
        } catch {
            throw WeftError(.unavailable, "cannot run \(dot.path): \(error.localizedDescription)")
        }
        // dot's layout time grows quickly with edges; a picture is not worth a stalled benchmark.
        let deadline = ContinuousClock.now + renderTimeout
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw WeftError(
                .deadlineExceeded,
                "dot -Tsvg \(dotFile.lastPathComponent) took over \(renderTimeout); the DOT file is kept"
            )
        }
        guard process.terminationStatus == 0 else {
            throw WeftError(
                .internal,
                "dot -Tsvg \(dotFile.lastPathComponent) failed with status \(process.terminationStatus)"
            )
        }
        return true
    }

    /// The first executable called `name` in a `PATH` folder.
    static func executableOnPath(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").lazy.map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }
}

/// `text` as a DOT string literal.
func quoted(_ text: String) -> String {
    "\""
        + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        .replacingOccurrences(of: "\n", with: "\\n") + "\""
}
