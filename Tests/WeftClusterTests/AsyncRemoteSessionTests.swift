import Foundation
import Testing
import Weft
import WeftRuntime
import WeftTestKit

@testable import WeftCluster

/// `try await session.run(...)` on a cluster: the reply resumes the awaiting task on the
/// transport's thread; cancelling the task cancels the step on the coordinator.
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
        #expect(ContinuousClock.now - cancelled < .seconds(1))
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
}
