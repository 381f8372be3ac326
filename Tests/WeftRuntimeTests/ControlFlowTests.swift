import Dispatch
import Foundation
import Synchronization
import Testing
import WeftProto
import WeftRuntime

/// Dataflow control flow in the executor, on hand-built graphs in the form `tf.compat.v1`
/// writes (the TensorFlow-made cases are in Tests/Conformance/controlflow_*).
@Suite struct ControlFlowTests {

    /// `i = 0; while condition(i, n): i += 1`, `condition` being `Less` or a constant true.
    private static func countingLoop(forever: Bool = false) -> [Tensorflow_NodeDef] {
        [
            NodeDefs.placeholder("n", .int32),
            NodeDefs.constant("zero", Tensor(Int32(0))),
            NodeDefs.enter("enter", "zero", frame: "loop"),
            NodeDefs.enter("enter_n", "n", frame: "loop", constant: true),
            NodeDefs.node("merge", "Merge", ["enter", "next"]),
            forever
                ? NodeDefs.constant("always", Tensor(true), control: ["merge"])
                : NodeDefs.node("less", "Less", ["merge", "enter_n"]),
            NodeDefs.node("cond", "LoopCond", [forever ? "always" : "less"]),
            NodeDefs.node("switch", "Switch", ["merge", "cond"]),
            NodeDefs.node("exit", "Exit", ["switch"]),
            NodeDefs.node("body", "Identity", ["switch:1"]),
            NodeDefs.constant("one", Tensor(Int32(1)), control: ["body"]),
            NodeDefs.node("add", "AddV2", ["body", "one"]),
            NodeDefs.node("next", "NextIteration", ["add"]),
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

    private static func run(
        _ plan: StepPlan,
        _ feeds: [Tensor],
        cancellation: StepCancellation = StepCancellation()
    )
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
            NodeDefs.placeholder("p", .bool), NodeDefs.constant("x", Tensor(Float(3))),
            NodeDefs.node("switch", "Switch", ["x", "p"]),
        ]
        let plan = try Self.plan(nodes, feeds: ["p"], fetch: "switch:1")
        #expect(try Self.run(plan, [Tensor(true)])?.scalar(as: Float.self) == 3)
        let error = #expect(throws: WeftError.self) { try Self.run(plan, [Tensor(false)]) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("dead") == true)
    }

    @Test func mergeForwardsTheLiveBranch_andADeadNodeDoesNotRun() throws {
        let nodes = [
            NodeDefs.placeholder("p", .bool), NodeDefs.constant("x", Tensor(Float(3))),
            NodeDefs.node("switch", "Switch", ["x", "p"]),
            // Would fail on a dead input: the untaken branch must not run it.
            NodeDefs.node("bad", "Reshape", ["switch", "p"]),
            NodeDefs.node("double", "AddV2", ["switch:1", "switch:1"]),
            NodeDefs.node("merge", "Merge", ["bad", "double"]),
        ]
        let plan = try Self.plan(nodes, feeds: ["p"], fetch: "merge")
        #expect(try Self.run(plan, [Tensor(true)])?.scalar(as: Float.self) == 6)
        let index = try Self.plan(nodes, feeds: ["p"], fetch: "merge:1")
        #expect(try Self.run(index, [Tensor(true)])?.scalar(as: Int32.self) == 1)
    }

    @Test func aFetchedTensorThatIsFed_isTheFedValue_andItsProducerDoesNotRun() throws {
        // The placeholder would fail if it ran: fed, it must not.
        let plan = try StepPlan(
            graph: try RuntimeGraph(nodes: [NodeDefs.placeholder("p", .float)]),
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
            NodeDefs.placeholder("n", .int32),
            NodeDefs.constant("zero", Tensor(Int32(0))),
            NodeDefs.enter("enter", "zero", frame: "loop"),
            NodeDefs.enter("enter_acc", "zero", frame: "loop"),
            NodeDefs.enter("enter_n", "n", frame: "loop", constant: true),
            NodeDefs.node("merge", "Merge", ["enter", "next"]),
            NodeDefs.node("merge_acc", "Merge", ["enter_acc", "next_acc"]),
            NodeDefs.node("less", "Less", ["merge", "enter_n"]),
            NodeDefs.node("cond", "LoopCond", ["less"]),
            NodeDefs.node("switch", "Switch", ["merge", "cond"]),
            NodeDefs.node("switch_acc", "Switch", ["merge_acc", "cond"]),
            NodeDefs.node("exit", "Exit", ["switch"]),
            NodeDefs.node("exit_acc", "Exit", ["switch_acc"]),
            NodeDefs.node("body", "Identity", ["switch:1"]),
            NodeDefs.node("body_acc", "Identity", ["switch_acc:1"]),
            NodeDefs.constant("three", Tensor(Int32(3)), control: ["body"]),
            NodeDefs.node("small", "Less", ["body", "three"]),
            NodeDefs.node("branch", "Switch", ["body", "small"]),
            NodeDefs.node("taken", "Identity", ["branch:1"]),
            NodeDefs.constant("hundred", Tensor(Int32(100)), control: ["taken"]),
            NodeDefs.node("plus_hundred", "AddV2", ["taken", "hundred"]),
            NodeDefs.node("untaken", "Identity", ["branch"]),
            NodeDefs.node("picked", "Merge", ["plus_hundred", "untaken"]),
            NodeDefs.node("add_acc", "AddV2", ["body_acc", "picked"]),
            NodeDefs.node("next_acc", "NextIteration", ["add_acc"]),
            NodeDefs.constant("one", Tensor(Int32(1)), control: ["body"]),
            NodeDefs.node("add", "AddV2", ["body", "one"]),
            NodeDefs.node("next", "NextIteration", ["add"]),
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
                try Self.run(
                    plan,
                    [Tensor(Int32(0))],
                    cancellation: StepCancellation(deadline: .now + .milliseconds(100))
                )
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
            NodeDefs.constant("limit", Tensor(Int32(3)), control: ["body"]),
            NodeDefs.node("below", "Less", ["body", "limit"]),
            NodeDefs.node("check", "Assert", ["below", "body"]),
            NodeDefs.node("add", "AddV2", ["body", "one", "^check"]),
        ]
        let plan = try Self.plan(nodes, feeds: ["n"], fetch: "exit")
        for _ in 0..<3 {
            #expect(try Self.run(plan, [Tensor(Int32(3))])?.scalar(as: Int32.self) == 3)
            let error = #expect(throws: WeftError.self) { try Self.run(plan, [Tensor(Int32(5))]) }
            #expect(error?.code == .invalidArgument)
        }
    }

    @Test func malformedControlFlow_isRefusedWhenPlanned() throws {
        let exitOutside = [NodeDefs.constant("x", Tensor(Float(1))), NodeDefs.node("exit", "Exit", ["x"])]
        let error = #expect(throws: WeftError.self) { try Self.plan(exitOutside, feeds: [], fetch: "exit") }
        #expect(error?.code == .invalidArgument)

        let insideLoop = #expect(throws: WeftError.self) {
            try Self.plan(Self.countingLoop(), feeds: ["n"], fetch: "add")
        }
        #expect(insideLoop?.code == .invalidArgument)
        #expect(insideLoop?.message.contains("inside a while loop") == true)
    }
}
