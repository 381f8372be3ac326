import Foundation
import Testing
import WeftProto

@testable import WeftRuntime

/// Loops compiled to straight-line code (`LoopProgram`): which loops compile, and that they
/// give the general executor's values, step after step.
@Suite struct LoopProgramTests {

    /// `i = 0; x = 0; while i < n: x = tanh(x + v) * (merge_x's value_index + 1); i += 1`: the
    /// shape `tf.while_loop` writes, with a Merge's value_index read in the body.
    private static func tanhLoop() -> [Tensorflow_NodeDef] {
        [
            NodeDefs.placeholder("n", .int32), NodeDefs.placeholder("v", .float),
            NodeDefs.constant("zero", Tensor(Int32(0))), NodeDefs.constant("x0", Tensor(Float(0))),
            NodeDefs.enter("enter_i", "zero", frame: "loop"), NodeDefs.enter("enter_x", "x0", frame: "loop"),
            NodeDefs.enter("enter_n", "n", frame: "loop", constant: true),
            NodeDefs.enter("enter_v", "v", frame: "loop", constant: true),
            NodeDefs.node("merge_i", "Merge", ["enter_i", "next_i"]),
            NodeDefs.node("merge_x", "Merge", ["enter_x", "next_x"]),
            NodeDefs.node("less", "Less", ["merge_i", "enter_n"]), NodeDefs.node("cond", "LoopCond", ["less"]),
            NodeDefs.node("switch_i", "Switch", ["merge_i", "cond"]),
            NodeDefs.node("switch_x", "Switch", ["merge_x", "cond"]),
            NodeDefs.node("exit_i", "Exit", ["switch_i"]), NodeDefs.node("exit_x", "Exit", ["switch_x"]),
            NodeDefs.node("body_i", "Identity", ["switch_i:1"]), NodeDefs.node("body_x", "Identity", ["switch_x:1"]),
            NodeDefs.constant("one", Tensor(Int32(1)), control: ["body_i"]),
            NodeDefs.node("add_i", "AddV2", ["body_i", "one"]),
            NodeDefs.node("add_x", "AddV2", ["body_x", "enter_v"]), NodeDefs.node("tanh", "Tanh", ["add_x"]),
            NodeDefs.node(
                "index",
                "Cast",
                ["merge_x:1"],
                ["SrcT": NodeDefs.type(.int32), "DstT": NodeDefs.type(.float)]
            ),
            NodeDefs.node("scale", "AddV2", ["index", "one_f"]),
            NodeDefs.constant("one_f", Tensor(Float(1)), control: ["body_x"]),
            NodeDefs.node("scaled", "Mul", ["tanh", "scale"]),
            NodeDefs.node("next_i", "NextIteration", ["add_i"]), NodeDefs.node("next_x", "NextIteration", ["scaled"]),
        ]
    }

    /// What `tanhLoop` computes, written out in Swift.
    private static func expected(_ n: Int32, _ v: Float) -> Float {
        var x: Float = 0
        for i in 0..<n { x = tanh(x + v) * (i == 0 ? 1 : 2) }
        return x
    }

    private static func plan(_ nodes: [Tensorflow_NodeDef], fetches: [String]) throws -> StepPlan {
        try StepPlan(
            graph: try RuntimeGraph(nodes: nodes),
            feeds: [TensorName(node: "n", index: 0), TensorName(node: "v", index: 0)],
            fetches: try fetches.map { try TensorName(parsing: $0) },
            targets: []
        )
    }

    @Test func aPlainWhileLoop_compiles_andOneWithACondInsideDoesNot() throws {
        let plan = try Self.plan(Self.tanhLoop(), fetches: ["exit_x"])
        #expect(plan.loopPrograms.count == 2)
        #expect(plan.loopPrograms[1] != nil)

        // A Switch on another predicate inside the body: a cond, left to the general executor.
        var withCond = Self.tanhLoop()
        withCond.removeAll { $0.name == "next_x" }
        withCond += [
            NodeDefs.node("positive", "Greater", ["scaled", "x0_in"]),
            NodeDefs.constant("x0_in", Tensor(Float(0)), control: ["body_x"]),
            NodeDefs.node("branch", "Switch", ["scaled", "positive"]),
            NodeDefs.node("picked", "Merge", ["branch", "branch:1"]),
            NodeDefs.node("next_x", "NextIteration", ["picked"]),
        ]
        #expect(try Self.plan(withCond, fetches: ["exit_x"]).loopPrograms[1] == nil)
    }

    @Test(arguments: [0, 1, 2, 17, 100])
    func aCompiledLoop_givesTheValuesOfTheLoopWrittenOut(bound: Int32) throws {
        let plan = try Self.plan(Self.tanhLoop(), fetches: ["exit_x", "exit_i"])
        // The first step runs on the general executor; then the kernels count as quick (as
        // they are in a release build), and the loop runs its program.
        for step in 0..<4 {
            if step == 1 { Self.learnQuick(plan) }
            let context = StepContext(id: 1, resources: ResourceContainer())
            let values = try plan.run(feeds: [Tensor(bound), Tensor(Float(0.25))], step: context)
            // Weft's tanh and Foundation's may differ in the last bit.
            let x = try #require(values.first?.scalar(as: Float.self))
            #expect(abs(x - Self.expected(bound, 0.25)) <= 1e-5)
            #expect(values.last?.scalar(as: Int32.self) == bound)
        }
    }

    @Test func aPredicateThatIsNotABoolScalar_failsTheStep() throws {
        var nodes = Self.tanhLoop()
        nodes.removeAll { $0.name == "less" }
        // A bool vector: LoopCond accepts it when planned, the Switch refuses it when run.
        nodes += [
            NodeDefs.node("less", "Less", ["pair", "enter_n"]),
            NodeDefs.node("pair", "Pack", ["merge_i", "merge_i"], ["N": NodeDefs.int(2)]),
        ]
        let plan = try Self.plan(nodes, fetches: ["exit_x"])
        for step in 0..<3 {
            if step == 1 { Self.learnQuick(plan) }
            let context = StepContext(id: 1, resources: ResourceContainer())
            let error = #expect(throws: WeftError.self) {
                try plan.run(feeds: [Tensor(Int32(3)), Tensor(Float(1))], step: context)
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("bool scalar") == true)
        }
    }

    /// Marks every kernel of `plan` seen to run quickly, so its loops run on one thread.
    private static func learnQuick(_ plan: StepPlan) {
        for node in plan.nodes.indices { plan.costs.learn(node, ranFor: .zero) }
    }

}
