import Foundation
import Testing
import Weft
import WeftRuntime
import WeftTestKit

@testable import WeftCluster

/// `try await session.run(...)` on a cluster: the reply resumes the awaiting task on the
/// transport's thread; cancelling the task cancels the step on the coordinator, or on the worker a
/// direct step went to.
@Suite(.serialized) struct AsyncRemoteSessionTests {
    /// The steps the coordinator has in flight.
    static func inFlight(_ cluster: InProcessCluster) -> Int {
        cluster.coordinator.state.withLock { $0.cluster.inFlight.count }
    }

    static func eventually(within limit: Duration, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    @Test func cancelledTask_cancelsItsStepOnTheCoordinator_andTheSessionServesOn() async throws {
        let cluster = try InProcessCluster(workers: 1)
        defer { cluster.stop() }
        let graph = try Graph(graphDefText: FunctionalClusterTests.graphText)
        let session = try Session(target: "coordinator", graph: graph, options: try cluster.options(stepTimeout: .seconds(60)))
        defer { session.close() }
        let endless = Task { () async throws(WeftError) -> [Tensor] in try await session.run(fetches: ["endless:0"]) }
        #expect(await Self.eventually(within: .seconds(5)) { Self.inFlight(cluster) == 1 })
        let cancelled = ContinuousClock.now
        endless.cancel()
        let failure = await #expect(throws: WeftError.self) { try await endless.value }
        #expect(failure?.code == .cancelled)
        // Far below the step's 60 s deadline; the margin is for a loaded 2-core machine (seen: 2.6 s).
        #expect(ContinuousClock.now - cancelled < .seconds(10))
        // The coordinator ended the step, long before its 60 s deadline.
        #expect(await Self.eventually(within: .seconds(5)) { Self.inFlight(cluster) == 0 })
        let counted = try await session.run(fetches: ["bounded:0"])
        #expect(counted.first?.scalar(as: Int32.self) == 10)
    }

    @Test func errors_keepTheirCodes() async throws {
        let cluster = try InProcessCluster(workers: 2)
        defer { cluster.stop() }
        let graph = try Graph(graphDefText: InProcessCluster.graphText)
        let session = try Session(
            target: "coordinator",
            graph: graph,
            options: try cluster.options(stepTimeout: .milliseconds(300))
        )
        defer { session.close() }
        #expect(try await session.run(fetches: ["sum:0"]).first?.scalar(as: Float.self) == 5)
        let unknown = await #expect(throws: WeftError.self) { try await session.run(fetches: ["nowhere:0"]) }
        let unknownSync = #expect(throws: WeftError.self) { try session.run(fetches: ["nowhere:0"]) }
        #expect(unknown?.code == unknownSync?.code)
        #expect(unknown?.code != .cancelled && unknown?.code != .unknown)
        cluster.network.inject(.drop, on: .reply(to: .runPartition), from: "worker1")
        let late = await #expect(throws: WeftError.self) { try await session.run(fetches: ["sum:0"]) }
        #expect(late?.code == .deadlineExceeded)
        #expect(late?.message.contains("/job:worker/task:1") == true)
        #expect(try await session.run(fetches: ["sum:0"]).first?.scalar(as: Float.self) == 5)
    }

    @Test func concurrentAwaits_fromManyTasks_onARealCluster_getTheirOwnValues() async throws {
        let cluster = try LocalCluster(jobs: JobCounts(parsing: "worker=2"))
        defer { cluster.stop() }
        let graph = Graph()
        let (x, result) = graph.asDefault {
            let x = graph.device("/job:worker/task:0") { placeholder(.int64, shape: [], name: "x") }
            let squared = graph.device("/job:worker/task:0") { x * x }
            let result = graph.device("/job:worker/task:1") { squared + constant(Int64(1)) }
            return (x, result)
        }
        let session = try Session(target: cluster.address, graph: graph)
        defer { session.close() }
        try await withThrowingTaskGroup(of: (Int64, Int64).self) { group in
            for task in Int64(0)..<16 {
                group.addTask {
                    var last: Int64 = -1
                    for round in Int64(0)..<5 {
                        let value = task * 10 + round
                        last = try await session.run(result, feeding: [x: Tensor(value)]).scalar(as: Int64.self) ?? -1
                        guard last == value * value + 1 else { return (value, last) }
                    }
                    return (task * 10 + 4, last)
                }
            }
            for try await (value, result) in group { #expect(result == value * value + 1) }
        }
    }

    @Test func cancelledTask_onARealCluster_endsWithCancelled_andTheSessionServesOn() async throws {
        let cluster = try LocalCluster(jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let graph = try Graph(graphDefText: FunctionalClusterTests.graphText)
        let session = try Session(target: cluster.address, graph: graph)
        defer { session.close() }
        let endless = Task { () async throws(WeftError) -> [Tensor] in try await session.run(fetches: ["endless:0"]) }
        try await Task.sleep(for: .milliseconds(300))
        endless.cancel()
        let failure = await #expect(throws: WeftError.self) { try await endless.value }
        #expect(failure?.code == .cancelled)
        let counted = try await session.run(fetches: ["bounded:0"])
        #expect(counted.first?.scalar(as: Int32.self) == 10)
        let status = try ClusterClient.status(coordinator: cluster.address)
        #expect(status.workers.allSatisfy { $0.healthy })
    }

    /// `count` counts from 0 up to the fed `limit`: a few steps with a small limit, practically
    /// forever with `Int32.max`, and one partition, so its steps can go straight to the worker.
    static let countingText = """
        node { name: "start" op: "Const" attr { key: "dtype" value { type: DT_INT32 } }
          attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 0 } } } }
        node { name: "limit" op: "Placeholder" attr { key: "dtype" value { type: DT_INT32 } } }
        node { name: "count" op: "While" input: "start" input: "limit"
          attr { key: "T" value { list { type: DT_INT32 type: DT_INT32 } } }
          attr { key: "cond" value { func { name: "below" } } }
          attr { key: "body" value { func { name: "next" } } } }
        library {
          function {
            signature { name: "below" input_arg { name: "i" type: DT_INT32 } input_arg { name: "n" type: DT_INT32 }
              output_arg { name: "holds" type: DT_BOOL } }
            node_def { name: "less" op: "Less" input: "i" input: "n" attr { key: "T" value { type: DT_INT32 } } }
            ret { key: "holds" value: "less:z:0" }
          }
          function {
            signature { name: "next" input_arg { name: "i" type: DT_INT32 } input_arg { name: "n" type: DT_INT32 }
              output_arg { name: "i_next" type: DT_INT32 } output_arg { name: "n_next" type: DT_INT32 } }
            node_def { name: "one" op: "Const" attr { key: "dtype" value { type: DT_INT32 } }
              attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 1 } } } }
            node_def { name: "sum" op: "AddV2" input: "i" input: "one:output:0" attr { key: "T" value { type: DT_INT32 } } }
            node_def { name: "same" op: "Identity" input: "n" attr { key: "T" value { type: DT_INT32 } } }
            ret { key: "i_next" value: "sum:z:0" }
            ret { key: "n_next" value: "same:output:0" }
          }
        }
        """

    @Test func cancelledDirectStep_onARealCluster_stopsTheWorkersRun() async throws {
        let cluster = try LocalCluster(jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let worker = try #require(cluster.workers.first)
        let graph = try Graph(graphDefText: Self.countingText)
        var options = RemoteSessionOptions()
        options.stepTimeout = .seconds(600)  // far beyond the test: only the abort ends the loop
        let backend = try RemoteSessionBackend(coordinator: cluster.address, graph: graph, options: options)
        let session = Session(graph: graph, backend: backend)
        defer { session.close() }
        func coordinatorSteps() throws -> UInt64? {
            try ClusterClient.status(coordinator: cluster.address).sessions.first { $0.handle == backend.sessionHandle }?.steps
        }
        // The first step goes through the coordinator, whose reply offers the direct route.
        let counted = try await session.run(fetches: ["count:0"], feeds: ["limit:0": Tensor(Int32(10))])
        #expect(counted.first?.scalar(as: Int32.self) == 10)
        #expect(try coordinatorSteps() == 1)

        let endless = Task { () async throws(WeftError) -> [Tensor] in
            try await session.run(fetches: ["count:0"], feeds: ["limit:0": Tensor(Int32.max)])
        }
        #expect(await Self.eventually(within: .seconds(30)) { worker.executingSteps == 1 })
        #expect(try coordinatorSteps() == 1)  // the loop runs on the worker alone: a direct step
        endless.cancel()
        let failure = await #expect(throws: WeftError.self) { try await endless.value }
        #expect(failure?.code == .cancelled)
        #expect(await Self.eventually(within: .seconds(30)) { worker.executingSteps == 0 })
        #expect(worker.sessionCount == 1)  // aborted the step, not the session

        let again = try await session.run(fetches: ["count:0"], feeds: ["limit:0": Tensor(Int32(3))])
        #expect(again.first?.scalar(as: Int32.self) == 3)
    }

    @Test func awaitedClose_onARealCluster_isAcknowledged_andFreesTheWorkersState() async throws {
        let cluster = try LocalCluster(jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let worker = try #require(cluster.workers.first)
        let graph = try Graph(graphDefText: Self.countingText)
        let backend = try RemoteSessionBackend(coordinator: cluster.address, graph: graph)
        let session = Session(graph: graph, backend: backend)
        let counted = try await session.run(fetches: ["count:0"], feeds: ["limit:0": Tensor(Int32(4))])
        #expect(counted.first?.scalar(as: Int32.self) == 4)
        #expect(worker.sessionCount == 1)
        try await backend.closeAndWait()
        #expect(await Self.eventually(within: .seconds(10)) { worker.sessionCount == 0 })
        let status = try ClusterClient.status(coordinator: cluster.address)
        #expect(!status.sessions.contains { $0.handle == backend.sessionHandle })
        try await backend.closeAndWait()  // closing a closed session does nothing
    }
}
