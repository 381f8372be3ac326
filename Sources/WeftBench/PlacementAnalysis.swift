import Foundation
import WeftCluster
import WeftPlacement
import WeftProto
import WeftRuntime

/// What follows from a placement alone, exactly: the edges it cuts, the tensors one step sends
/// between workers (from the step's real partitions), and how evenly nodes are spread.
public struct PlacementAnalysis: Sendable {
    /// Edges of the whole graph (data and control) whose ends are on different workers.
    public var cutEdges: Int
    /// The tensors one step sends between workers: the `_Send` ops of the step's partitions.
    /// A control edge sends a one-byte Boolean; its name starts with `^`.
    public var sentTensors: [String]
    /// The step's nodes (without the partitioner's `_Send`/`_Recv` helpers) per device.
    public var nodesPerDevice: [DeviceName: Int]

    /// Nodes on the busiest worker over the mean over all `devices` (1 is perfect balance).
    public func nodeBalance(devices: [DeviceName]) -> Double {
        let counts = devices.map { Double(nodesPerDevice[$0, default: 0]) }
        let mean = counts.reduce(0, +) / Double(max(counts.count, 1))
        return mean > 0 ? (counts.max() ?? 0) / mean : 1
    }

    /// Analyses `placement` of `graph` for the step `feeds`/`fetches`/`targets`.
    public init(
        graph: RuntimeGraph,
        placement: [String: DeviceName],
        feeds: [String],
        fetches: [String],
        targets: [String]
    ) throws(WeftError) {
        cutEdges = Self.countCutEdges(graph, placement)
        let partitions = try Partitioner(graph: graph, placement: placement).partition(
            try RunSignature(feeds: feeds, fetches: fetches, targets: targets)
        )
        var sent: [String] = []
        var perDevice: [DeviceName: Int] = [:]
        for (device, partition) in partitions {
            for node in partition.nodes {
                if node.op == "_Send" {
                    sent.append(String(decoding: node.attr["tensor_name"]?.s ?? Data(), as: UTF8.self))
                } else if !node.name.hasPrefix("_weft/") {
                    perDevice[device, default: 0] += 1
                }
            }
        }
        sentTensors = sent
        nodesPerDevice = perDevice
    }

    private static func countCutEdges(_ graph: RuntimeGraph, _ placement: [String: DeviceName]) -> Int {
        let devices = graph.nodes.map { placement[$0.info.name] }
        var cut = 0
        for (index, node) in graph.nodes.enumerated() {
            for producer in node.dataInputs.map(\.node) + node.controlInputs where devices[producer] != devices[index] {
                cut += 1
            }
        }
        return cut
    }
}
