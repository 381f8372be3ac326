import Dispatch
import Foundation
import Synchronization
import Testing
import WeftProto
import WeftRuntime

/// The lock-free executor of plans without control flow: independent expensive kernels run at
/// once, a failure anywhere fails the step without hanging it, and many threads finishing nodes
/// together lose no value.
@Suite struct SimpleExecutorTests {
    /// Kernels that wait for each other: each `Meet` returns only once `parties` of them are
    /// running at the same time, or fails after 5 s.
    private final class Meeting: Sendable {
        private let arrived = Mutex(0)
        let parties: Int

        init(parties: Int) { self.parties = parties }

        func meet() -> Bool {
            arrived.withLock { $0 += 1 }
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline {
                if arrived.withLock({ $0 }) >= parties { return true }
                usleep(1_000)
            }
            return false
        }
    }

    /// `Meet` (expensive), `One` (inexpensive: 1), `Count` (the number of its inputs), `Sum` (of
    /// its scalar inputs), `Fail`.
    private func registry(meeting: Meeting) -> OpRegistry {
        func op(_ name: String, expensive: Bool, _ body: @escaping @Sendable (OpKernelContext) throws(WeftError) -> Float) -> OpDefinition {
            OpDefinition(
                name,
                inputCount: nil,
                isExpensive: expensive,
                outputTypes: { _, _ in [OutputType(.float)] },
                makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(Tensor(try body(context)))] } }
            )
        }
        return OpRegistry([
            op("Meet", expensive: true) { context throws(WeftError) in
                guard meeting.meet() else { throw WeftError(.deadlineExceeded, "'\(context.node)' ran alone") }
                return 1
            },
            op("One", expensive: false) { _ in 1 },
            op("Count", expensive: true) { context in Float(context.inputs.count) },
            op("Sum", expensive: true) { context throws(WeftError) in
                var total: Float = 0
                for index in context.inputs.indices { total += try context.input(index).scalar(as: Float.self) ?? .nan }
                return total
            },
            op("Fail", expensive: true) { context throws(WeftError) in
                throw WeftError(.invalidArgument, "'\(context.node)' fails")
            },
        ])
    }

    private func node(_ name: String, _ op: String, _ inputs: [String] = []) -> Tensorflow_NodeDef {
        Tensorflow_NodeDef.with {
            $0.name = name
            $0.op = op
            $0.input = inputs
        }
    }

    private func plan(_ nodes: [Tensorflow_NodeDef], meeting: Meeting, fetch: String) throws -> StepPlan {
        let graph = try RuntimeGraph(nodes: nodes, registry: registry(meeting: meeting))
        // The executor as written: the graphs repeat nodes, which simplification would merge.
        return try StepPlan(graph: graph, feeds: [], fetches: [TensorName(node: fetch, index: 0)], targets: [], optimizations: .none)
    }

    private func run(_ plan: StepPlan, step: UInt64 = 1) throws(WeftError) -> Float? {
        try plan.run(feeds: [], step: StepContext(id: step, resources: ResourceContainer()))[0].scalar(as: Float.self)
    }

    @Test func independentExpensiveKernels_runAtTheSameTime() throws {
        let meeting = Meeting(parties: 3)
        let nodes = [node("a", "Meet"), node("b", "Meet"), node("c", "Meet"), node("total", "Count", ["a", "b", "c"])]
        #expect(try run(plan(nodes, meeting: meeting, fetch: "total")) == 3)
    }

    @Test func aFailingNodeAmongParallelChains_failsTheStep_andTheNextStepRuns() throws {
        let meeting = Meeting(parties: 1)
        var nodes: [Tensorflow_NodeDef] = []
        for chain in 0..<40 {
            nodes.append(node("c\(chain)/0", chain == 17 ? "Fail" : "Count"))
            for link in 1..<20 { nodes.append(node("c\(chain)/\(link)", "Count", ["c\(chain)/\(link - 1)"])) }
        }
        nodes.append(node("total", "Count", (0..<40).map { "c\($0)/19" }))
        let failing = try plan(nodes, meeting: meeting, fetch: "total")
        do {
            _ = try run(failing)
            Issue.record("the step should fail")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("'c17/0' fails"))
        }
        let healthy = try plan(nodes.map { $0.op == "Fail" ? node($0.name, "Count") : $0 }, meeting: meeting, fetch: "total")
        #expect(try run(healthy, step: 3) == 40)
    }

    @Test func manyThreadsFinishingNodes_loseNoValue() throws {
        // 64 fan-outs of 32 expensive leaves, summed per group, then the sums summed: every step
        // spreads its nodes over the pool, and a lost or doubled delivery changes the result.
        let meeting = Meeting(parties: 1)
        var nodes = [node("root", "One")]
        for group in 0..<64 {
            for leaf in 0..<32 { nodes.append(node("g\(group)/l\(leaf)", "Sum", ["root"])) }
            nodes.append(node("g\(group)/sum", "Sum", (0..<32).map { "g\(group)/l\($0)" }))
        }
        nodes.append(node("total", "Sum", (0..<64).map { "g\($0)/sum" }))
        let plan = try plan(nodes, meeting: meeting, fetch: "total")
        for step in 1...50 { #expect(try run(plan, step: UInt64(step)) == 2048) }
    }

    @Test func graphInTopologicalOrder_keepsItsOrderInThePlan() throws {
        // Chain after chain, as the API builds graphs; Kahn's order would go link by link.
        let nodes = [
            node("a0", "One"), node("a1", "Sum", ["a0"]), node("b0", "One"), node("b1", "Sum", ["b0"]),
            node("total", "Sum", ["a1", "b1"]),
        ]
        let plan = try plan(nodes, meeting: Meeting(parties: 1), fetch: "total")
        #expect(plan.nodeNames == ["a0", "a1", "b0", "b1", "total"])
        #expect(try run(plan) == 2)
    }

    @Test func graphOutOfOrder_runsInATopologicalOrder() throws {
        let nodes = [
            node("total", "Sum", ["a1", "b1"]), node("a1", "Sum", ["a0", "a0"]), node("a0", "One"),
            node("b1", "Count", ["a0", "a1"]),
        ]
        let plan = try plan(nodes, meeting: Meeting(parties: 1), fetch: "total")
        #expect(Set(plan.nodeNames) == ["a0", "a1", "b1", "total"])
        #expect(try run(plan) == 4)
    }
}
