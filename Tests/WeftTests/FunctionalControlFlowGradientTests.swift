import Testing
import WeftProto
import WeftRuntime
import WeftTestKit

@testable import Weft

/// Gradients through functional `If` and `While` (TensorFlow 2.x's control flow), beyond the
/// TensorFlow values of the `gradients_cf2_*` conformance cases.
@Suite struct FunctionalControlFlowGradientTests {
    /// `if` calls `then` (x·y, or x·y after adding x to variable `v` when `stateful`) or `else`
    /// (x²) on inputs `x, x, v`: the same tensor twice, then a handle.
    static func ifGraph(stateful: Bool) throws -> Graph {
        let effect =
            stateful
            ? """
            node_def { name: "bump" op: "AssignAddVariableOp" input: "v" input: "a"
              attr { key: "dtype" value { type: DT_FLOAT } } }
            """ : ""
        let text = """
            node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } }
            node { name: "flag" op: "Placeholder" attr { key: "dtype" value { type: DT_BOOL } } }
            node { name: "v" op: "VarHandleOp" attr { key: "dtype" value { type: DT_FLOAT } }
              attr { key: "shape" value { shape {} } } attr { key: "shared_name" value { s: "v" } } }
            node { name: "if" op: "If" input: "flag" input: "x" input: "x" input: "v"
              attr { key: "Tcond" value { type: DT_BOOL } }
              attr { key: "Tin" value { list { type: DT_FLOAT type: DT_FLOAT type: DT_RESOURCE } } }
              attr { key: "Tout" value { list { type: DT_FLOAT } } }
              attr { key: "then_branch" value { func { name: "product" } } }
              attr { key: "else_branch" value { func { name: "square" } } } }
            library {
              function {
                signature { name: "product" input_arg { name: "a" type: DT_FLOAT } input_arg { name: "b" type: DT_FLOAT }
                  input_arg { name: "v" type: DT_RESOURCE } output_arg { name: "y" type: DT_FLOAT } }
                \(effect)
                node_def { name: "mul" op: "Mul" input: "a" input: "b" attr { key: "T" value { type: DT_FLOAT } } }
                ret { key: "y" value: "mul:z:0" }
              }
              function {
                signature { name: "square" input_arg { name: "a" type: DT_FLOAT } input_arg { name: "b" type: DT_FLOAT }
                  input_arg { name: "v" type: DT_RESOURCE } output_arg { name: "y" type: DT_FLOAT } }
                node_def { name: "sq" op: "Square" input: "a" attr { key: "T" value { type: DT_FLOAT } } }
                ret { key: "y" value: "sq:y:0" }
              }
            }
            """
        return try Graph(graphDefText: text)
    }

    @Test func aTensorGivenTwice_getsItsGradientOnce() throws {
        let graph = try Self.ifGraph(stateful: false)
        let x = try graph.tensor(named: "x:0")
        let flag = try graph.tensor(named: "flag:0")
        let gradient = try #require(try graph.gradients(of: try graph.tensor(named: "if:0"), with: x))
        let session = Session(graph: graph)
        defer { session.close() }
        for (taken, value) in [(true, Float(1.5)), (false, Float(-2.5))] {
            let result = try session.run(gradient, feeding: [x: Tensor(value), flag: Tensor(taken)])
            // Both branches give d/dx = 2x: x·x through both of its inputs, or x² through one.
            #expect(try result.scalar(as: Float.self) == 2 * value, "branch \(taken)")
        }
    }

    @Test func aBranchThatWrites_cannotBeDifferentiated() throws {
        let graph = try Self.ifGraph(stateful: true)
        let x = try graph.tensor(named: "x:0")
        let error = #expect(throws: WeftError.self) {
            try graph.gradients(of: try graph.tensor(named: "if:0"), with: x)
        }
        #expect(error?.code == .unimplemented)
        #expect(error?.message.contains("'bump' (AssignAddVariableOp)") == true, "\(error?.message ?? "")")
    }

    /// `call` calls `product` (of `ifGraph`) on `x, x, v`.
    static func callGraph(stateful: Bool) throws -> Graph {
        var graphDef = try Self.ifGraph(stateful: stateful).graphDef
        graphDef.node.removeAll { $0.name == "if" }
        graphDef.node.append(
            .with {
                $0.name = "call"
                $0.op = "StatefulPartitionedCall"
                $0.input = ["x", "x", "v"]
                $0.attr["Tin"] = .with { $0.list.type = [.dtFloat, .dtFloat, .dtResource] }
                $0.attr["Tout"] = .with { $0.list.type = [.dtFloat] }
                $0.attr["f"] = .with { $0.func.name = "product" }
            }
        )
        return try Graph(graphDef: graphDef)
    }

    @Test func aCall_isDifferentiatedThroughItsFunction() throws {
        let graph = try Self.callGraph(stateful: false)
        let x = try graph.tensor(named: "x:0")
        let gradient = try #require(try graph.gradients(of: try graph.tensor(named: "call:0"), with: x))
        let session = Session(graph: graph)
        defer { session.close() }
        let result = try session.run(gradient, feeding: [x: Tensor(Float(1.5))])
        #expect(try result.scalar(as: Float.self) == 3)
    }

    @Test func aCallThatWrites_cannotBeDifferentiated() throws {
        let graph = try Self.callGraph(stateful: true)
        let x = try graph.tensor(named: "x:0")
        let error = #expect(throws: WeftError.self) {
            try graph.gradients(of: try graph.tensor(named: "call:0"), with: x)
        }
        #expect(error?.code == .unimplemented)
        #expect(error?.message.contains("'bump' (AssignAddVariableOp)") == true, "\(error?.message ?? "")")
    }

    @Test func tenThousandIterationsOfAFunctionalWhile_giveTheFixedPointsDerivative() throws {
        let (graph, v, x) = try GradientTests.whileLoop("v2")
        try GradientTests.expectFixedPointDerivative(graph, v: v, x: x)
    }
}
