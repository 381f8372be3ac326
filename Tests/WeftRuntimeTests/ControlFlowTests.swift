import Dispatch
import Foundation
import Synchronization
import Testing
import WeftProto
import WeftRuntime

/// Dataflow control flow in the executor, on hand-built graphs in the form `tf.compat.v1`
/// writes (the TensorFlow-made cases are in Tests/Conformance/controlflow_*).
@Suite struct ControlFlowTests {
    private static func node(
        _ name: String,
        _ op: String,
        _ inputs: [String] = [],
        _ attributes: [String: Tensorflow_AttrValue] = [:]
    ) -> Tensorflow_NodeDef {
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

    private static func enter(_ name: String, _ input: String, frame: String, constant: Bool = false) -> Tensorflow_NodeDef {
        var frameName = Tensorflow_AttrValue()
        frameName.s = Data(frame.utf8)
        var isConstant = Tensorflow_AttrValue()
        isConstant.b = constant
        var parallel = Tensorflow_AttrValue()
        parallel.i = 4
        return node(name, "Enter", [input], ["frame_name": frameName, "is_constant": isConstant, "parallel_iterations": parallel])
    }

    /// `i = 0; while condition(i, n): i += 1`, `condition` being `Less` or a constant true.
    private static func countingLoop(forever: Bool = false) -> [Tensorflow_NodeDef] {
        [
            placeholder("n", .int32),
            constant("zero", Tensor(Int32(0))),
            enter("enter", "zero", frame: "loop"),
            enter("enter_n", "n", frame: "loop", constant: true),
            node("merge", "Merge", ["enter", "next"]),
            forever ? constant("always", Tensor(true), control: ["merge"]) : node("less", "Less", ["merge", "enter_n"]),
            node("cond", "LoopCond", [forever ? "always" : "less"]),
            node("switch", "Switch", ["merge", "cond"]),
            node("exit", "Exit", ["switch"]),
            node("body", "Identity", ["switch:1"]),
            constant("one", Tensor(Int32(1)), control: ["body"]),
            node("add", "AddV2", ["body", "one"]),
            node("next", "NextIteration", ["add"]),
        ]
    }

    private static func plan(_ nodes: [Tensorflow_NodeDef], feeds: [String], fetch: String) throws -> StepPlan {
        try StepPlan(
            graph: try RuntimeGraph(nodes: nodes),
            feeds: feeds.map { TensorName(node: $0, index: 0) },
            fetches: [try TensorName(parsing: fetch)],
            targets: []
        )
    }

    private static func run(_ plan: StepPlan, _ feeds: [Tensor], cancellation: StepCancellation = StepCancellation())
        throws(WeftError) -> Tensor?
    {
        let context = StepContext(id: 1, resources: ResourceContainer(), cancellation: cancellation)
        return try plan.run(feeds: feeds, step: context).first
    }

    @Test(arguments: [0, 1, 5, 300])
    func whileLoop_countsToItsBound(bound: Int32) throws {
        let plan = try Self.plan(Self.countingLoop(), feeds: ["n"], fetch: "exit")
        #expect(try Self.run(plan, [Tensor(bound)])?.scalar(as: Int32.self) == bound)
    }

    @Test func runawayLoop_failsAtTheStepDeadline() throws {
        let plan = try Self.plan(Self.countingLoop(forever: true), feeds: ["n"], fetch: "exit")
        let start = ContinuousClock.now
        let error = #expect(throws: WeftError.self) {
            try Self.run(plan, [Tensor(Int32(0))], cancellation: StepCancellation(deadline: .now + .milliseconds(200)))
        }
        #expect(error?.code == .deadlineExceeded)
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func runawayLoop_endsWhenItsOwnerCancelsTheStep() throws {
        let plan = try Self.plan(Self.countingLoop(forever: true), feeds: ["n"], fetch: "exit")
        let cancellation = StepCancellation()
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) {
            cancellation.cancel(WeftError(.cancelled, "the session was closed"))
        }
        let error = #expect(throws: WeftError.self) {
            try Self.run(plan, [Tensor(Int32(0))], cancellation: cancellation)
        }
        #expect(error?.code == .cancelled)
    }

    @Test func fetchingTheUntakenOutputOfASwitch_isAnInvalidArgument() throws {
        let nodes = [
            Self.placeholder("p", .bool), Self.constant("x", Tensor(Float(3))), Self.node("switch", "Switch", ["x", "p"]),
        ]
        let plan = try Self.plan(nodes, feeds: ["p"], fetch: "switch:1")
        #expect(try Self.run(plan, [Tensor(true)])?.scalar(as: Float.self) == 3)
        let error = #expect(throws: WeftError.self) { try Self.run(plan, [Tensor(false)]) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("dead") == true)
    }

    @Test func mergeForwardsTheLiveBranch_andADeadNodeDoesNotRun() throws {
        let nodes = [
            Self.placeholder("p", .bool), Self.constant("x", Tensor(Float(3))), Self.node("switch", "Switch", ["x", "p"]),
            // Would fail on a dead input: the untaken branch must not run it.
            Self.node("bad", "Reshape", ["switch", "p"]),
            Self.node("double", "AddV2", ["switch:1", "switch:1"]),
            Self.node("merge", "Merge", ["bad", "double"]),
        ]
        let plan = try Self.plan(nodes, feeds: ["p"], fetch: "merge")
        #expect(try Self.run(plan, [Tensor(true)])?.scalar(as: Float.self) == 6)
        let index = try Self.plan(nodes, feeds: ["p"], fetch: "merge:1")
        #expect(try Self.run(index, [Tensor(true)])?.scalar(as: Int32.self) == 1)
    }

    @Test func aFetchedTensorThatIsFed_isTheFedValue_andItsProducerDoesNotRun() throws {
        // The placeholder would fail if it ran: fed, it must not.
        let plan = try StepPlan(
            graph: try RuntimeGraph(nodes: [Self.placeholder("p", .float)]),
            feeds: [TensorName(node: "p", index: 0)],
            fetches: [TensorName(node: "p", index: 0)],
            targets: []
        )
        #expect(plan.nodeNames.isEmpty)
        #expect(try Self.run(plan, [Tensor(Float(2.5))])?.scalar(as: Float.self) == 2.5)
    }

    @Test func malformedControlFlow_isRefusedWhenPlanned() throws {
        let exitOutside = [Self.constant("x", Tensor(Float(1))), Self.node("exit", "Exit", ["x"])]
        let error = #expect(throws: WeftError.self) { try Self.plan(exitOutside, feeds: [], fetch: "exit") }
        #expect(error?.code == .invalidArgument)

        let insideLoop = #expect(throws: WeftError.self) {
            try Self.plan(Self.countingLoop(), feeds: ["n"], fetch: "add")
        }
        #expect(insideLoop?.code == .invalidArgument)
        #expect(insideLoop?.message.contains("inside a while loop") == true)
    }
}
