import Dispatch
import Foundation
import Synchronization
import Testing
import WeftProto
import WeftRuntime

/// Which thread ran each node of a step.
private final class ThreadLog: Sendable {
    private let threads = Mutex<[String: pthread_t]>([:])

    func record(_ node: String) { threads.withLock { $0[node] = pthread_self() } }

    func ranOnCaller(_ node: String, caller: pthread_t) -> Bool? {
        threads.withLock { $0[node] }.map { pthread_equal($0, caller) != 0 }
    }
}

/// Runs chains of probe kernels, some marked inexpensive and some expensive, and checks where
/// each ran under `StepPlan.InlineKernels`.
@Suite struct ExecutorSchedulingTests {
    private let log = ThreadLog()

    /// A registry with `Cheap` and `Costly` probes: one float output, any number of inputs.
    private func registry() -> OpRegistry {
        let log = self.log
        func probe(_ op: String, expensive: Bool) -> OpDefinition {
            OpDefinition(
                op,
                inputCount: nil,
                isExpensive: expensive,
                outputTypes: { _, _ in [OutputType(.float)] },
                makeKernel: { node in
                    ClosureKernel { context in
                        log.record(context.node)
                        return [.tensor(Tensor(Float(1)))]
                    }
                }
            )
        }
        return OpRegistry([probe("Cheap", expensive: false), probe("Costly", expensive: true)])
    }

    /// A chain `ops[0] -> ops[1] -> …`, nodes named `n0`, `n1`, …
    private func chain(_ ops: [String]) throws -> StepPlan {
        let nodes = ops.enumerated().map { index, op in
            Tensorflow_NodeDef.with {
                $0.name = "n\(index)"
                $0.op = op
                if index > 0 { $0.input = ["n\(index - 1)"] }
            }
        }
        let graph = try RuntimeGraph(nodes: nodes, registry: registry())
        return try StepPlan(
            graph: graph,
            feeds: [],
            fetches: [TensorName(node: "n\(ops.count - 1)", index: 0)],
            targets: []
        )
    }

    /// Starts the plan on this thread and waits for it; returns this thread.
    private func run(_ plan: StepPlan, inline: StepPlan.InlineKernels) throws -> pthread_t {
        let finished = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<[Tensor], WeftError>?>(nil)
        plan.run(feeds: [], step: StepContext(id: 1, resources: ResourceContainer()), inline: inline) { result in
            outcome.withLock { $0 = result }
            finished.signal()
        }
        finished.wait()
        let fetched = try outcome.withLock { $0! }.get()
        #expect(try fetched.map { try $0.scalars(as: Float.self) } == [[1]])
        return pthread_self()
    }

    @Test func inexpensiveOnly_runsCheapKernelsHere_andHandsExpensiveOnesToThePool() throws {
        let plan = try chain(["Cheap", "Cheap", "Costly", "Cheap"])
        let caller = try run(plan, inline: .inexpensive(limit: 16))
        #expect(log.ranOnCaller("n0", caller: caller) == true)
        #expect(log.ranOnCaller("n1", caller: caller) == true)
        #expect(log.ranOnCaller("n2", caller: caller) == false)
        // What follows an expensive node continues on the pool thread that ran it.
        #expect(log.ranOnCaller("n3", caller: caller) == false)
    }

    @Test func inexpensiveOnly_stopsAtItsLimit() throws {
        let plan = try chain(Array(repeating: "Cheap", count: 10))
        let caller = try run(plan, inline: .inexpensive(limit: 4))
        for index in 0..<4 { #expect(log.ranOnCaller("n\(index)", caller: caller) == true, "n\(index)") }
        for index in 4..<10 { #expect(log.ranOnCaller("n\(index)", caller: caller) == false, "n\(index)") }
    }

    @Test func all_runsAChainOfAnyKernelsHere() throws {
        let plan = try chain(["Cheap", "Costly", "Costly", "Cheap"])
        let caller = try run(plan, inline: .all)
        for index in 0..<4 { #expect(log.ranOnCaller("n\(index)", caller: caller) == true, "n\(index)") }
    }

    @Test func bookkeepingOps_areInexpensive_andComputeOpsAreNot() throws {
        for op in ["Const", "VariableV2", "Identity", "NoOp", "Placeholder", "Shape", "_Send", "_Recv"] {
            #expect(try OpRegistry.standard.definition(of: op, node: op).isExpensive == false, "\(op)")
        }
        for op in ["MatMul", "Add", "Assign", "Sum"] {
            #expect(try OpRegistry.standard.definition(of: op, node: op).isExpensive, "\(op)")
        }
    }
}
