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

    /// `i = 0; acc = 0; while i < n: acc += (i < 3 ? i + 100 : i); i += 1`: a cond inside the
    /// loop's body, so dead values flow inside every iteration.
    private static func loopWithACond() -> [Tensorflow_NodeDef] {
        [
            placeholder("n", .int32),
            constant("zero", Tensor(Int32(0))),
            enter("enter", "zero", frame: "loop"),
            enter("enter_acc", "zero", frame: "loop"),
            enter("enter_n", "n", frame: "loop", constant: true),
            node("merge", "Merge", ["enter", "next"]),
            node("merge_acc", "Merge", ["enter_acc", "next_acc"]),
            node("less", "Less", ["merge", "enter_n"]),
            node("cond", "LoopCond", ["less"]),
            node("switch", "Switch", ["merge", "cond"]),
            node("switch_acc", "Switch", ["merge_acc", "cond"]),
            node("exit", "Exit", ["switch"]),
            node("exit_acc", "Exit", ["switch_acc"]),
            node("body", "Identity", ["switch:1"]),
            node("body_acc", "Identity", ["switch_acc:1"]),
            constant("three", Tensor(Int32(3)), control: ["body"]),
            node("small", "Less", ["body", "three"]),
            node("branch", "Switch", ["body", "small"]),
            node("taken", "Identity", ["branch:1"]),
            constant("hundred", Tensor(Int32(100)), control: ["taken"]),
            node("plus_hundred", "AddV2", ["taken", "hundred"]),
            node("untaken", "Identity", ["branch"]),
            node("picked", "Merge", ["plus_hundred", "untaken"]),
            node("add_acc", "AddV2", ["body_acc", "picked"]),
            node("next_acc", "NextIteration", ["add_acc"]),
            constant("one", Tensor(Int32(1)), control: ["body"]),
            node("add", "AddV2", ["body", "one"]),
            node("next", "NextIteration", ["add"]),
        ]
    }

    /// The first step runs a loop of expensive ops on the general executor; once their kernels
    /// were seen to run quickly, later steps run it on one thread. Both give TensorFlow's values.
    @Test(arguments: [0, 1, 2, 5])
    func loopWithACondInItsBody_givesTheSameValueOnEveryStep(bound: Int32) throws {
        let plan = try Self.plan(Self.loopWithACond(), feeds: ["n"], fetch: "exit_acc")
        let expected = (0..<bound).reduce(Int32(0)) { sum, i in sum + (i < 3 ? i + 100 : i) }
        for _ in 0..<4 {
            #expect(try Self.run(plan, [Tensor(bound)])?.scalar(as: Int32.self) == expected)
        }
    }

    @Test func runawayLoop_failsAtTheStepDeadline_onEveryStep() throws {
        let plan = try Self.plan(Self.countingLoop(forever: true), feeds: ["n"], fetch: "exit")
        for _ in 0..<3 {
            let start = ContinuousClock.now
            let error = #expect(throws: WeftError.self) {
                try Self.run(plan, [Tensor(Int32(0))], cancellation: StepCancellation(deadline: .now + .milliseconds(100)))
            }
            #expect(error?.code == .deadlineExceeded)
            #expect(ContinuousClock.now - start < .seconds(5))
        }
    }

    @Test func aKernelFailingMidLoop_failsTheStep_onEveryStep() throws {
        // Assert that i < 3 before each increment: a bound past 3 fails in iteration 3.
        var nodes = Self.countingLoop()
        nodes.removeAll { $0.name == "add" }
        nodes += [
            Self.constant("limit", Tensor(Int32(3)), control: ["body"]),
            Self.node("below", "Less", ["body", "limit"]),
            Self.node("check", "Assert", ["below", "body"]),
            Self.node("add", "AddV2", ["body", "one", "^check"]),
        ]
        let plan = try Self.plan(nodes, feeds: ["n"], fetch: "exit")
        for _ in 0..<3 {
            #expect(try Self.run(plan, [Tensor(Int32(3))])?.scalar(as: Int32.self) == 3)
            let error = #expect(throws: WeftError.self) { try Self.run(plan, [Tensor(Int32(5))]) }
            #expect(error?.code == .invalidArgument)
        }
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
