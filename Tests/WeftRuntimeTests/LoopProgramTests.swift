import Foundation
import Testing
import WeftProto

@testable import WeftRuntime

/// Loops compiled to straight-line code (`LoopProgram`): which loops compile, and that they
/// give the general executor's values, step after step.
@Suite struct LoopProgramTests {
    private static func node(_ name: String, _ op: String, _ inputs: [String] = [], _ attributes: [String: Tensorflow_AttrValue] = [:])
        -> Tensorflow_NodeDef
    {
        Tensorflow_NodeDef.with {
            $0.name = name
            $0.op = op
            $0.input = inputs
            $0.attr = attributes
        }
    }

    private static func constant(_ name: String, _ value: Tensor, control: [String] = []) -> Tensorflow_NodeDef {
        var dtype = Tensorflow_AttrValue()
        dtype.type = Tensorflow_DataType(rawValue: value.dtype.rawValue) ?? .dtInvalid
        var tensor = Tensorflow_AttrValue()
        tensor.tensor = value.proto
        return node(name, "Const", control.map { "^\($0)" }, ["dtype": dtype, "value": tensor])
    }

    private static func placeholder(_ name: String, _ dtype: DType) -> Tensorflow_NodeDef {
        var type = Tensorflow_AttrValue()
        type.type = Tensorflow_DataType(rawValue: dtype.rawValue) ?? .dtInvalid
        return node(name, "Placeholder", [], ["dtype": type])
    }

    private static func enter(_ name: String, _ input: String, constant: Bool = false) -> Tensorflow_NodeDef {
        var frameName = Tensorflow_AttrValue()
        frameName.s = Data("loop".utf8)
        var isConstant = Tensorflow_AttrValue()
        isConstant.b = constant
        return node(name, "Enter", [input], ["frame_name": frameName, "is_constant": isConstant])
    }

    /// `i = 0; x = 0; while i < n: x = tanh(x + v) * (merge_x's value_index + 1); i += 1`: the
    /// shape `tf.while_loop` writes, with a Merge's value_index read in the body.
    private static func tanhLoop() -> [Tensorflow_NodeDef] {
        [
            placeholder("n", .int32), placeholder("v", .float),
            constant("zero", Tensor(Int32(0))), constant("x0", Tensor(Float(0))),
            enter("enter_i", "zero"), enter("enter_x", "x0"), enter("enter_n", "n", constant: true),
            enter("enter_v", "v", constant: true),
            node("merge_i", "Merge", ["enter_i", "next_i"]), node("merge_x", "Merge", ["enter_x", "next_x"]),
            node("less", "Less", ["merge_i", "enter_n"]), node("cond", "LoopCond", ["less"]),
            node("switch_i", "Switch", ["merge_i", "cond"]), node("switch_x", "Switch", ["merge_x", "cond"]),
            node("exit_i", "Exit", ["switch_i"]), node("exit_x", "Exit", ["switch_x"]),
            node("body_i", "Identity", ["switch_i:1"]), node("body_x", "Identity", ["switch_x:1"]),
            constant("one", Tensor(Int32(1)), control: ["body_i"]),
            node("add_i", "AddV2", ["body_i", "one"]),
            node("add_x", "AddV2", ["body_x", "enter_v"]), node("tanh", "Tanh", ["add_x"]),
            node("index", "Cast", ["merge_x:1"], ["SrcT": type(.int32), "DstT": type(.float)]),
            node("scale", "AddV2", ["index", "one_f"]), constant("one_f", Tensor(Float(1)), control: ["body_x"]),
            node("scaled", "Mul", ["tanh", "scale"]),
            node("next_i", "NextIteration", ["add_i"]), node("next_x", "NextIteration", ["scaled"]),
        ]
    }

    private static func type(_ dtype: DType) -> Tensorflow_AttrValue {
        var value = Tensorflow_AttrValue()
        value.type = Tensorflow_DataType(rawValue: dtype.rawValue) ?? .dtInvalid
        return value
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
            Self.node("positive", "Greater", ["scaled", "x0_in"]), Self.constant("x0_in", Tensor(Float(0)), control: ["body_x"]),
            Self.node("branch", "Switch", ["scaled", "positive"]), Self.node("picked", "Merge", ["branch", "branch:1"]),
            Self.node("next_x", "NextIteration", ["picked"]),
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
        nodes += [Self.node("less", "Less", ["pair", "enter_n"]), Self.node("pair", "Pack", ["merge_i", "merge_i"], ["N": Self.count(2)])]
        let plan = try Self.plan(nodes, fetches: ["exit_x"])
        for step in 0..<3 {
            if step == 1 { Self.learnQuick(plan) }
            let context = StepContext(id: 1, resources: ResourceContainer())
            let error = #expect(throws: WeftError.self) { try plan.run(feeds: [Tensor(Int32(3)), Tensor(Float(1))], step: context) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("bool scalar") == true)
        }
    }

    /// Marks every kernel of `plan` seen to run quickly, so its loops run on one thread.
    private static func learnQuick(_ plan: StepPlan) {
        for node in plan.nodes.indices { plan.costs.learn(node, ranFor: .zero) }
    }

    private static func count(_ value: Int) -> Tensorflow_AttrValue {
        var attribute = Tensorflow_AttrValue()
        attribute.i = Int64(value)
        return attribute
    }
}
