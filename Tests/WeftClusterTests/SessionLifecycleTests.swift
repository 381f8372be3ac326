import Foundation
import Logging
import Testing
import WeftProto
import WeftRuntime
import WeftTestKit
import WeftTransport

@testable import Weft
@testable import WeftCluster

/// Sessions whose clients vanish, and processes started in any order: real `weft` processes.
@Suite(.serialized) struct SessionLifecycleTests {
    /// A client that opens a session, runs a step and disappears without closing: the
    /// coordinator frees the session everywhere once its lease runs out.
    @Test func vanishedClient_hasItsSessionFreedWhenTheLeaseRunsOut() async throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let graph = Graph()
        graph.asDefault {
            _ = Variable(Float(1), name: "v")
            globalVariablesInitializer()
        }
        let client = try MessagingNode(listen: "tcp://127.0.0.1:0", logger: Logger(label: "weft.tests.vanishing"))
        let created = try await client.request(
            .make(.createSession) { envelope in
                envelope.createSession = .with {
                    $0.graph = graph.graphDef
                    $0.client = "vanishing-client"
                    $0.leaseMs = Self.vanishingLease.millisecondsRoundedUp
                    $0.waitForWorkersMs = 5000
                }
            },
            to: cluster.address,
            timeout: .seconds(5)
        )
        let handle = created.envelope.session
        let step = try await client.request(
            .make(.runStep, session: handle) {
                $0.client = "vanishing-client"
                $0.runStep = .with { $0.targets = ["init"] }
            },
            to: cluster.address,
            timeout: .seconds(5)
        )
        #expect(step.error == nil)
        // Another client's session is listed without its handle.
        #expect(try ClusterClient.status(coordinator: cluster.address).sessions.map(\.handle) == [""])
        client.close()

        let freed = await eventually(timeout: Self.vanishingLease + .seconds(15)) {
            guard let status = try? ClusterClient.status(coordinator: cluster.address) else { return false }
            return status.sessions.isEmpty && status.workers.allSatisfy { $0.sessions == 0 }
        }
        #expect(freed, "the session outlived its \(Self.vanishingLease) lease by more than 15 s")
    }

    /// Long enough that the client's own requests (a step, a status) finish within it on a loaded
    /// machine, so only the vanishing ends the session; the freeing is then waited for, not timed.
    private static let vanishingLease = Duration.seconds(10)

    /// Durations in a message are another process's numbers: the largest a `uint64` holds is a
    /// very long wait, lease and deadline, not a trap that takes the coordinator down.
    @Test func largestWireDurations_areHonouredWithoutTrapping() async throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let graph = Graph()
        graph.asDefault { _ = constant(Float(2), name: "two") }
        let client = try MessagingNode(listen: "tcp://127.0.0.1:0", logger: Logger(label: "weft.tests.durations"))
        defer { client.close() }
        let created = try await client.request(
            .make(.createSession) { envelope in
                envelope.createSession = .with {
                    $0.graph = graph.graphDef
                    $0.client = "durations-client"
                    $0.leaseMs = .max
                    $0.waitForWorkersMs = .max
                }
            },
            to: cluster.address,
            timeout: .seconds(10)
        )
        let handle = created.envelope.session
        let step = try await client.request(
            .make(.runStep, session: handle) { envelope in
                envelope.client = "durations-client"
                envelope.deadlineMs = .max
                envelope.runStep = .with { $0.fetches = ["two:0"] }
            },
            to: cluster.address,
            timeout: .seconds(10)
        )
        #expect(step.tensors == [Tensor(Float(2))])
        _ = try await client.request(
            .make(.closeSession, session: handle) { $0.client = "durations-client" },
            to: cluster.address,
            timeout: .seconds(5)
        )
        #expect(try ClusterClient.status(coordinator: cluster.address).sessions.isEmpty)
    }

    /// A worker that starts before its coordinator registers once the coordinator is up.
    @Test func workerStartedBeforeTheCoordinator_joinsWhenItComes() throws {
        let port = try freePort()
        let coordinatorAddress = "tcp://127.0.0.1:\(port)"
        let worker = try ProcessCluster.worker(
            executable: Fixtures.weftExecutable,
            coordinator: coordinatorAddress,
            job: "worker",
            task: 0
        )
        defer { worker.terminate() }
        Thread.sleep(forTimeInterval: 0.5)
        let (coordinator, _) = try ProcessCluster.launch(
            Fixtures.weftExecutable,
            ["coordinator", "--listen", coordinatorAddress, "--exit-with-parent"]
        )
        defer { coordinator.terminate() }
        let graph = Graph()
        let value = graph.asDefault { graph.device("/job:worker/task:0") { constant(Float(20)) + 1 } }
        var options = RemoteSessionOptions()
        options.waitForWorkers = .seconds(5)
        let session = try Session(target: coordinatorAddress, graph: graph, options: options)
        #expect(try session.run(value).scalar(as: Float.self) == 21)
    }

    /// A port nothing listens on right now.
    private func freePort() throws -> Int {
        let probe = try MessagingNode(listen: "tcp://127.0.0.1:0", logger: Logger(label: "weft.tests.port"))
        defer { probe.close() }
        return Int(probe.boundAddress.split(separator: ":").last!)!
    }

    private func eventually(timeout: Duration, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }
}
