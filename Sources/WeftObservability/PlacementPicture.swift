import WeftCluster

/// A session's graph as the dashboard draws it: a box per node coloured by its worker, or,
/// when the graph has more nodes than fit, a box per name scope (`layer1/…`) at the deepest
/// level that fits, with how many of its nodes each worker holds.
struct PlacementPicture: Encodable {
    /// How many boxes a picture shows unless the request asks otherwise.
    static let defaultLimit = 80

    /// One node, or one name scope's nodes.
    struct Box: Encodable {
        /// The node's name, or the scope's (`layer1/dense`).
        var id: String
        /// Nodes inside: 1 for a single node.
        var nodes: Int
        /// The op of a single node; empty for a scope.
        var op: String
        /// The worker holding most of its nodes, which colours it.
        var device: String
        /// Nodes per worker.
        var devices: [String: Int]
    }

    /// Data or control flow from one box to another, with how many edges it stands for.
    struct Edge: Encodable {
        var from: String
        var to: String
        var count: Int
    }

    var session: String
    /// Name-scope levels kept: 0 when every node has its own box.
    var depth: Int
    var boxes: [Box]
    var edges: [Edge]
    /// Every worker in the picture, in the order of the legend.
    var devices: [String]

    init(_ placement: SessionPlacement, limit: Int) {
        session = placement.session
        let paths = placement.nodes.map { $0.name.split(separator: "/").map(String.init) }
        var depth = 0
        if placement.nodes.count > limit {
            let deepest = paths.map(\.count).max() ?? 1
            depth = 1
            for candidate in stride(from: deepest - 1, through: 1, by: -1)
            where Set(paths.map { Self.key($0, depth: candidate) }).count <= limit {
                depth = candidate
                break
            }
        }
        self.depth = depth
        let keys = paths.map { depth == 0 ? $0.joined(separator: "/") : Self.key($0, depth: depth) }
        var boxIndex: [String: Int] = [:]
        var boxes: [Box] = []
        var boxOfNode: [String: String] = [:]
        for (node, key) in zip(placement.nodes, keys) {
            boxOfNode[node.name] = key
            if let index = boxIndex[key] {
                boxes[index].nodes += 1
                boxes[index].op = ""
                boxes[index].devices[node.device, default: 0] += 1
            } else {
                boxIndex[key] = boxes.count
                boxes.append(Box(id: key, nodes: 1, op: node.op, device: node.device, devices: [node.device: 1]))
            }
        }
        for index in boxes.indices {
            boxes[index].device = boxes[index].devices.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? ""
        }
        var counts: [String: Int] = [:]
        var order: [(String, String)] = []
        for node in placement.nodes {
            guard let to = boxOfNode[node.name] else { continue }
            for input in node.inputs {
                guard let from = boxOfNode[Self.producer(input)], from != to else { continue }
                let key = from + "\u{0}" + to
                if counts[key] == nil { order.append((from, to)) }
                counts[key, default: 0] += 1
            }
        }
        self.boxes = boxes
        self.edges = order.map { Edge(from: $0.0, to: $0.1, count: counts[$0.0 + "\u{0}" + $0.1] ?? 0) }
        self.devices = Set(placement.nodes.map(\.device)).sorted()
    }

    /// The scope of a node at `depth` levels: its first `depth` name components, or its whole
    /// name when it has no more.
    private static func key(_ path: [String], depth: Int) -> String {
        path.prefix(depth).joined(separator: "/")
    }

    /// The node an input names: `x` for `x:1` and `^x`.
    private static func producer(_ input: String) -> String {
        var name = Substring(input)
        if name.hasPrefix("^") { name = name.dropFirst() }
        if let colon = name.lastIndex(of: ":") { name = name[..<colon] }
        return String(name)
    }
}
