import Dispatch
import Foundation
import Synchronization
import Testing
import WeftRuntime

@testable import Weft
@testable import WeftCluster

/// Between-graph replication on a real cluster over loopback ZeroMQ: clients with sessions of
/// their own share variables through a shared container, asynchronously and as synchronous
/// replicas (`SyncReplicasOptimizer`).
@Suite(.serialized) struct BetweenGraphReplicationTests {
    static let cluster: LocalCluster = try! LocalCluster(jobs: JobCounts(parsing: "ps=1,worker=2"))

    /// A client's own graph: `w` on the ps and an op adding one to it.
    private static func counterGraph() -> (Graph, Variable, Output) {
        let graph = Graph()
        let (w, add) = graph.asDefault {
            let w = graph.device("/job:ps/task:0") { Variable([Float(1), 2], name: "w") }
            return (w, graph.device("/job:worker/task:0") { w.assignAdd([Float(1), 1]) })
        }
        return (graph, w, add)
    }

    private static func options(_ sharing: SharedVariables?) -> RemoteSessionOptions {
        var options = RemoteSessionOptions()
        options.sharedVariables = sharing
        return options
    }

    private static func code(_ body: () throws -> Void) -> WeftError.Code? {
        do { try body() } catch let error as WeftError { return error.code } catch { return .unknown }
        return nil
    }

    @Test func twoClients_shareTheContainer_aThirdWithoutTheTokenIsRefused_andItOutlivesOneSession() throws {
        let name = "model-\(UUID().uuidString)"
        let (graph1, w1, add1) = Self.counterGraph()
        let first = try Session(target: Self.cluster.address, graph: graph1, options: Self.options(.create(name)))
        let token = try #require(first.sharedVariablesToken)
        #expect(token.count == 32 && token.allSatisfy(\.isHexDigit))
        try first.run(graph1.asDefault { globalVariablesInitializer() })
        try first.run([add1])

        let (graph2, w2, add2) = Self.counterGraph()
        let second = try Session(
            target: Self.cluster.address,
            graph: graph2,
            options: Self.options(.join(name, token: token))
        )
        defer { second.close() }
        #expect(second.sharedVariablesToken == token)
        #expect(try second.run(w2).scalars(as: Float.self) == [2, 3])
        try second.run([add2])
        #expect(try first.run(w1).scalars(as: Float.self) == [3, 4])

        // Without the token nothing is reached: no session opens, whatever the token tried.
        let (graph3, w3, _) = Self.counterGraph()
        let wrong = String(repeating: "0", count: 32)
        for sharing in [SharedVariables.join(name, token: wrong), .create(name), .join(name, token: "")] {
            #expect(
                Self.code {
                    _ = try Session(target: Self.cluster.address, graph: graph3, options: Self.options(sharing))
                }
                    == .permissionDenied,
                "\(sharing)"
            )
        }
        // A session of its own sees none of the container's values.
        let own = try Session(target: Self.cluster.address, graph: graph3)
        #expect(Self.code { _ = try own.run(w3) } == .failedPrecondition)
        own.close()

        // Closing the first session keeps the container for the second.
        first.close()
        #expect(try second.run(w2).scalars(as: Float.self) == [3, 4])
        try second.run([add2])
        #expect(try second.run(w2).scalars(as: Float.self) == [4, 5])
        second.close()
        // With its last session the container is gone: freed on every worker, and the token opens nothing.
        let deadline = ContinuousClock.now + .seconds(5)
        while Self.cluster.workers.contains(where: { $0.sharedContainerCount > 0 }), ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        #expect(Self.cluster.workers.map(\.sharedContainerCount) == [0, 0, 0])
        #expect(
            Self.code {
                _ = try Session(
                    target: Self.cluster.address,
                    graph: graph2,
                    options: Self.options(.join(name, token: token))
                )
            }
                == .permissionDenied
        )
    }

    @Test func aContainer_outlivesItsCreator_onWorkersTheJoinerHasNotUsedYet() throws {
        let name = "handoff-\(UUID().uuidString)"
        let (graph1, _, add1) = Self.counterGraph()
        let creator = try Session(target: Self.cluster.address, graph: graph1, options: Self.options(.create(name)))
        let token = try #require(creator.sharedVariablesToken)
        let (graph2, w2, _) = Self.counterGraph()
        let joiner = try Session(
            target: Self.cluster.address,
            graph: graph2,
            options: Self.options(.join(name, token: token))
        )
        defer { joiner.close() }
        try creator.run(graph1.asDefault { globalVariablesInitializer() })
        try creator.run([add1])
        creator.close()
        // The joiner's first step on the ps comes after the creator left: the values are there.
        #expect(try joiner.run(w2).scalars(as: Float.self) == [2, 3])
    }

    /// A linear regression `y = 2x - 1`, trained by two clients asynchronously, each on its own
    /// half of the data and its own worker, updating the same `w` and `b` on the ps.
    @Test func asyncBetweenGraphTraining_ofTwoClients_converges() throws {
        let name = "linreg-\(UUID().uuidString)"
        func build(_ replica: Int) -> (Graph, Weft.Operation, Weft.Operation, Variable, Variable) {
            let graph = Graph()
            let xs: [Float] = (0..<8).map { Float($0 * 2 + replica) / 8 - 1 }
            let built = graph.asDefault { () -> (Weft.Operation, Weft.Operation, Variable, Variable) in
                let (w, b) = graph.device("/job:ps/task:0") {
                    (Variable(Float(0), name: "w"), Variable(Float(0), name: "b"))
                }
                let train = graph.device("/job:worker/task:\(replica)") { () -> Weft.Operation in
                    let x = constant(xs)
                    let y = constant(xs.map { 2 * $0 - 1 })
                    let loss = mean(square(x * w.value + b.value - y))
                    return (try? GradientDescentOptimizer(learningRate: 0.3).minimize(loss)) ?? noOp()
                }
                return (globalVariablesInitializer(), train, w, b)
            }
            return (graph, built.0, built.1, built.2, built.3)
        }
        let (graph0, initialize, train0, w, b) = build(0)
        let (graph1, _, train1, _, _) = build(1)
        let chief = try Session(target: Self.cluster.address, graph: graph0, options: Self.options(.create(name)))
        defer { chief.close() }
        try chief.run(initialize)
        let token = try #require(chief.sharedVariablesToken)
        let other = try Session(
            target: Self.cluster.address,
            graph: graph1,
            options: Self.options(.join(name, token: token))
        )
        defer { other.close() }
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { replica in
            for _ in 0..<60 {
                do { try (replica == 0 ? chief : other).run(replica == 0 ? train0 : train1) } catch {
                    failures.withLock { $0.append("\(error)") }
                    return
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        let (wValue, bValue) = (try chief.run(w).doubleValues[0], try chief.run(b).doubleValues[0])
        #expect(abs(wValue - 2) < 0.05 && abs(bValue + 1) < 0.05, "w \(wValue), b \(bValue)")
    }

    /// One replica of a synchronous job: its own graph, `w` and the global step on the ps, the
    /// gradient of ½‖w − t‖² (`w − t`, with `t` fed) computed on its own worker.
    private struct Replica: Sendable {
        let graph: Graph
        let w: Variable
        let globalStep: Variable
        let target: Output
        let train: Weft.Operation
        let optimizer: SyncReplicasOptimizer
        let accumulated: Output

        init(_ index: Int) {
            let graph = Graph()
            self.graph = graph
            (w, globalStep, target, train, optimizer, accumulated) = graph.asDefault {
                let (w, step) = graph.device("/job:ps/task:0") {
                    (Variable([Float(1), -2], name: "w"), Variable(Int64(0), name: "global_step"))
                }
                let optimizer = SyncReplicasOptimizer(
                    GradientDescentOptimizer(learningRate: 0.5),
                    replicasToAggregate: 2
                )
                let (target, train) = graph.device("/job:worker/task:\(index)") { () -> (Output, Weft.Operation) in
                    let target = placeholder(.float, shape: [2], name: "t")
                    return (target, optimizer.applyGradients([(w.value - target, w)], globalStep: step))
                }
                // The accumulator the optimizer made for `w`, as TensorFlow's `_accumulator_list`.
                let handle = graph.operation(named: "sync_replicas/conditional_accumulator")
                let accumulator = ConditionalAccumulator(handle: handle?.output() ?? target, dtype: .float)
                return (w, step, target, train, optimizer, accumulator.numAccumulated())
            }
        }
    }

    private static func train(_ session: Session, _ replica: Replica, _ target: [Float]) throws {
        try session.run([], feeding: [replica.target: Tensor(target)], targets: [replica.train])
    }

    @Test func syncReplicas_applyTheAverageOfBothReplicas_andDropStaleGradients() throws {
        let name = "sync-\(UUID().uuidString)"
        let (r0, r1) = (Replica(0), Replica(1))
        let chief = try Session(target: Self.cluster.address, graph: r0.graph, options: Self.options(.create(name)))
        defer { chief.close() }
        let other = try Session(
            target: Self.cluster.address,
            graph: r1.graph,
            options: Self.options(.join(name, token: try #require(chief.sharedVariablesToken)))
        )
        defer { other.close() }
        try chief.run(r0.graph.asDefault { globalVariablesInitializer() })
        try chief.run(try #require(r0.optimizer.chiefInitOp))
        try chief.run(try #require(r0.optimizer.initTokensOp()))
        try other.run(try #require(r1.optimizer.localStepInitOp))
        let sync = try #require(r0.optimizer.syncOp)

        // Step 0: both gradients (at w0 = [1, -2]) arrive; the chief applies their average.
        try Self.train(chief, r0, [3, 0])
        try Self.train(other, r1, [-1, 4])
        #expect(try chief.run(r0.accumulated).scalars(as: Int32.self) == [2])
        try chief.run(sync)
        // w0 − ½·((w0 − t0) + (w0 − t1))/2 with t0 = [3, 0], t1 = [-1, 4]: the mean of t is [1, 2].
        let w1: [Float] = [1 - 0.5 * ((1 - 3) + (1 + 1)) / 2, -2 - 0.5 * ((-2 - 0) + (-2 - 4)) / 2]
        #expect(try other.run(r1.w).scalars(as: Float.self) == w1)
        #expect(try other.run(r1.globalStep).scalars(as: Int64.self) == [1])

        // Each replica's next gradient was computed at local step 0 (its first token): stale, dropped.
        try Self.train(chief, r0, [100, 100])
        try Self.train(other, r1, [100, 100])
        #expect(try chief.run(r0.accumulated).scalars(as: Int32.self) == [0])
        #expect(try chief.run(r0.w).scalars(as: Float.self) == w1)

        // Step 1: both replicas wait for their tokens until the chief's update releases them.
        let finished = DispatchGroup()
        let failures = Mutex<[String]>([])
        for (session, replica, target) in [(chief, r0, [Float(2), 2]), (other, r1, [Float(0), -2])] {
            DispatchQueue.global().async(group: finished) {
                do { try Self.train(session, replica, target) } catch { failures.withLock { $0.append("\(error)") } }
            }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while try chief.run(r0.accumulated).scalars(as: Int32.self) != [2], ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        #expect(finished.wait(timeout: .now() + 0.2) == .timedOut, "the replicas did not wait for the chief")
        try chief.run(sync)
        #expect(finished.wait(timeout: .now() + 10) == .success)
        #expect(failures.withLock { $0 }.isEmpty)
        let w2 = zip(w1, zip([Float(2), 2], [Float(0), -2])).map { w, t in w - 0.5 * ((w - t.0) + (w - t.1)) / 2 }
        let got = try chief.run(r0.w).scalars(as: Float.self)
        #expect(zip(got, w2).allSatisfy { abs($0 - $1) < 1e-6 }, "\(got) vs \(w2)")
        #expect(try chief.run(r0.globalStep).scalars(as: Int64.self) == [2])
    }

    @Test func blockedDequeueAndTake_endAtTheStepDeadline_andTheWorkerServesOn() throws {
        let graph = Graph()
        let (queue, take, enqueue) = graph.asDefault {
            graph.device("/job:ps/task:0") { () -> (FIFOQueue, Output, Weft.Operation) in
                let queue = FIFOQueue(componentTypes: [.int64], shapes: [PartialShape([])], name: "q")
                let accumulator = ConditionalAccumulator(dtype: .float, shape: PartialShape([2]), name: "acc")
                return (queue, accumulator.takeGradient(1), queue.enqueueMany([constant([Int64(7), 8])]))
            }
        }
        var options = RemoteSessionOptions()
        options.stepTimeout = .milliseconds(400)
        let session = try Session(target: Self.cluster.address, graph: graph, options: options)
        defer { session.close() }
        let dequeued = graph.asDefault { graph.device("/job:ps/task:0") { queue.dequeue()[0] } }
        for fetch in [dequeued, take] {
            let started = ContinuousClock.now
            #expect(Self.code { _ = try session.run(fetch) } == .deadlineExceeded)
            #expect(ContinuousClock.now - started < .seconds(5))
        }
        try session.run(enqueue)
        #expect(try session.run(dequeued).scalars(as: Int64.self) == [7])
        #expect(try session.run(graph.asDefault { queue.size() }).scalars(as: Int32.self) == [1])
    }
}
