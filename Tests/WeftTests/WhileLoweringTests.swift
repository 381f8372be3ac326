import Foundation
import Testing
import Weft

/// Functional loops lowered to dataflow loops in a session, as TensorFlow's runtime lowers them.
@Suite struct WhileLoweringTests {
    /// TensorFlow's `tf.while_loop` with v2 control flow: a `StatelessWhile` named `loop` whose
    /// outputs pass through TensorFlow's own `loop/Identity_N` nodes, the names the lowered loop
    /// would take first.
    private static let graphFile = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Conformance/controlflow_bench_tanh_loop_v2.pbtxt")

    @Test func aWhileWhoseNamesAreTaken_isLoweredUnderAFreeScope_andGivesTensorFlowsValue() throws {
        let graph = try Graph(graphDefText: String(contentsOf: Self.graphFile, encoding: .utf8))
        #expect(graph.graphDef.node.contains { $0.name == "loop/Identity_1" })
        let session = Session(graph: graph)
        var metadata = RunMetadata()
        let values = try session.run(fetches: ["x:0"], feeds: ["v:0": Tensor(Float(0.5))], metadata: &metadata)
        // TensorFlow's value, from the case's expectations.
        #expect(abs((values.first?.scalar(as: Float.self) ?? 0) - 0.8812252879) <= 1e-6)
        let nodes = metadata.partitionGraphs.flatMap(\.node)
        #expect(nodes.contains { $0.name == "loop/_lowered_1/LoopCond" })
        #expect(!nodes.contains { $0.op == "StatelessWhile" })
    }
}
