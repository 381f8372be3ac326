import Foundation
import Testing
import WeftProto
import WeftRuntime
import WeftTestKit

@testable import Weft

@Suite struct GraphDefTests {
    @Test func textAndBinaryForms_roundTrip() throws {
        let graph = Graph()
        let y = graph.asDefault { () -> Output in
            let x = placeholder(.float, shape: [2], name: "x")
            return x * 3 + 1
        }
        let fromText = try Graph(graphDefText: graph.graphDefText)
        let fromBinary = try Graph(serializedGraphDef: try graph.serializedGraphDef())
        #expect(fromText.graphDef == graph.graphDef)
        #expect(fromBinary.graphDef == graph.graphDef)
        let session = Session(graph: fromBinary)
        let result = try session.run(fetches: [y.name], feeds: ["x:0": Tensor([Float(1), 2])])
        #expect(try result[0].scalars(as: Float.self) == [4, 7])
    }

    @Test func tensorFlowsTextGraph_loads() throws {
        let url = Fixtures.conformance.appendingPathComponent("core_seed.pbtxt")
        let graph = try Graph(contentsOf: url)
        #expect(graph.operation(named: "foo")?.type == "VariableV2")
        #expect(try graph.tensor(named: "foo:0").dtype == .int32)
    }

    @Test func importedGraph_canBeExtended() throws {
        let graph = try Graph(contentsOf: Fixtures.conformance.appendingPathComponent("core_seed.pbtxt"))
        let foo = try graph.tensor(named: "foo/read:0")
        let plusOne = graph.asDefault { foo + 1 }
        #expect(plusOne.operation.name == "add")
        let session = Session(graph: graph)
        _ = try session.run(fetches: [], targets: ["init"])
        #expect(try session.run(plusOne).scalar(as: Int32.self) == 43)
    }

    @Test func unknownOps_areUnimplemented_allListedAtOnce() throws {
        var graphDef = Tensorflow_GraphDef()
        for (name, op) in [("mystery", "NoSuchOp"), ("riddle", "NoSuchOp"), ("enigma", "AlsoMissing")] {
            var node = Tensorflow_NodeDef()
            node.name = name
            node.op = op
            graphDef.node.append(node)
        }
        let error = try #require(throws: WeftError.self) { try Graph(graphDef: graphDef) }
        #expect(error.code == .unimplemented)
        #expect(error.message.contains("2 op types"))
        #expect(error.message.contains("AlsoMissing (node 'enigma')"))
        #expect(error.message.contains("NoSuchOp (2 nodes"))
    }

    @Test func garbage_isAnInvalidArgument() throws {
        #expect(throws: WeftError.self) { try Graph(graphDefText: "node { name: ") }
        #expect(throws: WeftError.self) { try Graph(serializedGraphDef: Data([0xff, 0xff, 0xff])) }
    }

    @Test func constantsOfEveryDtype_roundTrip() throws {
        let graph = Graph()
        let tensors: [Tensor] = [
            Tensor([Float(1.5), -2]), Tensor([Double(1.25)]), Tensor([Int32(-7)]), Tensor([Int64(1 << 40)]),
            Tensor([true, false]), Tensor([UInt8(200)]), Tensor([Int8(-3)]), Tensor([Int16(-300)]),
            Tensor([UInt16(60000)]), Tensor([UInt32(4_000_000_000)]), Tensor([UInt64(1) << 63]), Tensor([Float16(0.5)]),
        ]
        let outputs = graph.asDefault { tensors.map { constant($0) } }
        let reloaded = try Graph(graphDefText: graph.graphDefText)
        let values = try Session(graph: reloaded).run(fetches: outputs.map(\.name))
        #expect(values == tensors)
    }
}
