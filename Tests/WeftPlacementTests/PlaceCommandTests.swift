import Foundation
import Testing
import WeftRuntime
import WeftTestKit

@testable import Weft
@testable import WeftPlacement

/// `weft place` and the export it writes.
@Suite struct PlaceCommandTests {
    /// A small model: weights read by two layers, a control edge, and a tensor read twice by one node.
    static func model() -> Graph {
        let graph = Graph()
        graph.asDefault {
            let x = constant(Tensor([Float](repeating: 0.5, count: 64)), name: "x")
            let scale = constant(Tensor([Float](repeating: 2, count: 64)), name: "scale")
            var h = x
            for layer in 0..<6 { h = graph.nameScope("layer\(layer)") { tanh(h * scale + h) } }
            let total = sum(h * h, axes: [0], name: "total")
            _ = graph.controlDependencies(on: [total.operation]) { identity(x, name: "after") }
        }
        return graph
    }

    @Test(arguments: [1, 3])
    func place_writesEveryNodeAndTheCostGraph(workers: Int) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("weft-place-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let graph = Self.model()
        let graphFile = folder.appendingPathComponent("model.pbtxt")
        try graph.graphDefText.write(to: graphFile, atomically: true, encoding: .utf8)
        let output = folder.appendingPathComponent("placement.json")
        let run = try Fixtures.runWeft([
            "place", "--graph", graphFile.path, "--jobs", "worker=\(workers)", "--strategy", "min-cut", "--output",
            output.path,
        ])
        #expect(run.status == 0, "\(run.output)")
        let export = try JSONDecoder().decode(PlacementExport.self, from: Data(contentsOf: output))
        let names = graph.graphDef.node.map(\.name)
        #expect(export.nodes.map(\.name) == names)
        #expect(Set(export.nodes.map(\.device)).isSubset(of: Set(export.devices)))
        #expect(export.devices.count == workers)
        // Every input of every node is an edge, named by its tensor, and carries the tensor's bytes.
        let inputs = graph.graphDef.node.reduce(0) { $0 + $1.input.count }
        #expect(export.edges.count == inputs)
        #expect(export.edges.contains { $0.tensor == "x:0" && $0.bytes == 256 })
        #expect(export.edges.contains { $0.tensor == "^total" && $0.bytes == 1 })
        // The totals agree with the edges and nets written beside them.
        var traffic = 0
        for net in export.nets {
            traffic += net.bytes * (Set(net.groups.map { export.groups[$0].part }).count - 1)
        }
        #expect(export.totals.trafficBytes == traffic)
        let cut = export.edges.filter { export.nodes[$0.from].device != export.nodes[$0.to].device }
        #expect(export.totals.cutEdgeBytes == cut.reduce(0) { $0 + $1.bytes })
        #expect(export.totals.trafficBytes <= export.totals.cutEdgeBytes)
        if workers == 1 { #expect(export.totals.trafficBytes == 0) }
    }

    @Test func place_refusesAGraphAndAWorkloadTogether() throws {
        let run = try Fixtures.runWeft(["place", "--graph", "g.pb", "--workload", "mlp"])
        #expect(run.status != 0 && run.output.contains("exactly one of --graph and --workload"))
    }
}
