import Testing
import WeftPlacement
import WeftProto
import WeftRuntime

@testable import WeftCluster

/// A restarted coordinator adopting sessions from registering workers: the cluster's state
/// alone, without workers or steps.
@Suite struct CoordinatorRecoveryTests {
    let start = ContinuousClock.now
    let task0 = DeviceName(job: "worker", task: 0)
    let task1 = DeviceName(job: "worker", task: 1)
    let states = ClusterStateTests()

    func record(version: UInt64, nodes: [String: DeviceName]) -> Weft_SessionRecord {
        .with {
            $0.client = "client-1"
            $0.strategy = "explicit"
            $0.leaseMs = 4000
            $0.version = version
            $0.graph.node = nodes.sorted { $0.key < $1.key }.map { states.node($0.key, on: $0.value) }
            $0.placement = CoordinatorSession.placementList(nodes)
        }
    }

    func held(_ handle: String, lastStep: UInt64, _ record: Weft_SessionRecord) -> Weft_HeldSession {
        .with {
            $0.handle = handle
            $0.lastStep = lastStep
            $0.record = record
        }
    }

    @Test func restartedCoordinator_adoptsSessions_fromTheNewestRecord() throws {
        var cluster = ClusterState(.init(heartbeatTimeout: .seconds(1), incarnation: ClusterStateTests.incarnation))
        let older = record(version: 1, nodes: ["a": task0, "b": task1])
        let (_, renewed, directives) = try cluster.register(
            states.registration(0, incarnation: 7, coordinator: 99, holding: [held("s1", lastStep: 41, older)]),
            task: 0,
            now: start
        )
        #expect(renewed == ["s1"])
        #expect(directives.contains { if case .sessionAdopted("s1", task0) = $0 { true } else { false } })
        let adopted = try #require(cluster.sessions["s1"])
        #expect(adopted.client == "client-1")
        #expect(adopted.placement == ["a": task0, "b": task1])
        #expect(adopted.nextStep == 42)
        #expect(adopted.hosts == [task0: 7])
        #expect(adopted.lease == .seconds(4))
        // Requests wait until every worker of the session is back.
        #expect(!cluster.recovered("s1"))
        // The other worker brings a newer record (an extension) and later steps.
        let newer = record(version: 2, nodes: ["a": task0, "b": task1, "c": task1])
        let (_, joined, _) = try cluster.register(
            states.registration(1, incarnation: 8, coordinator: 99, holding: [held("s1", lastStep: 50, newer)]),
            task: 1,
            now: start
        )
        #expect(joined == ["s1"])
        let session = try #require(cluster.sessions["s1"])
        #expect(session.hosts == [task0: 7, task1: 8])
        #expect(session.nextStep == 51)
        #expect(session.version == 2)
        #expect(session.placement["c"] == task1)
        #expect(cluster.recovered("s1"))
        // An older record arriving last does not undo the newer one.
        let (_, again, _) = try cluster.register(
            states.registration(0, incarnation: 7, coordinator: 99, holding: [held("s1", lastStep: 41, older)]),
            task: 0,
            now: start
        )
        #expect(again == ["s1"])
        #expect(cluster.sessions["s1"]?.version == 2)
        // task0 holds version 1: its next heartbeat's answer brings it version 2.
        let answer = cluster.heartbeat(
            states.heartbeat(0, incarnation: 7, held: ["s1"], versions: ["s1": 1]),
            now: start
        )
        #expect(answer.records["s1"]?.version == 2)
    }

    @Test func workerThatRegisteredWithThisCoordinator_keepsOnlyOpenSessions() throws {
        var cluster = ClusterState(.init(heartbeatTimeout: .seconds(1), incarnation: ClusterStateTests.incarnation))
        let (_, renewed, _) = try cluster.register(
            states.registration(
                0,
                incarnation: 7,
                holding: [held("closed", lastStep: 3, record(version: 1, nodes: ["a": task0]))]
            ),
            task: 0,
            now: start
        )
        #expect(renewed.isEmpty)
        #expect(cluster.sessions.isEmpty)
    }

    @Test func unusableRecord_isNotAdopted() throws {
        var cluster = ClusterState(.init(heartbeatTimeout: .seconds(1), incarnation: ClusterStateTests.incarnation))
        var bad = record(version: 1, nodes: ["a": task0])
        bad.placement = [
            .with {
                $0.node = "a"
                $0.device = "not a device"
            }
        ]
        let (_, renewed, directives) = try cluster.register(
            states.registration(0, incarnation: 7, coordinator: 99, holding: [held("s1", lastStep: 1, bad)]),
            task: 0,
            now: start
        )
        #expect(renewed.isEmpty)
        #expect(cluster.sessions["s1"] == nil)
        #expect(directives.contains { if case .recordUnusable("s1", task0, _) = $0 { true } else { false } })
    }

    @Test func heartbeat_renewsOnlySessionsTheCoordinatorKeepsThere() throws {
        var cluster = ClusterState(.init(heartbeatTimeout: .seconds(1), incarnation: ClusterStateTests.incarnation))
        _ = try cluster.register(
            states.registration(
                0,
                incarnation: 7,
                coordinator: 99,
                holding: [held("s1", lastStep: 1, record(version: 1, nodes: ["a": task0]))]
            ),
            task: 0,
            now: start
        )
        _ = try cluster.register(states.registration(1, incarnation: 8), task: 1, now: start)
        #expect(
            cluster.heartbeat(
                states.heartbeat(0, incarnation: 7, held: ["s1", "gone"], versions: ["s1": 1]),
                now: start
            ).renewed == ["s1"]
        )
        #expect(cluster.heartbeat(states.heartbeat(1, incarnation: 8, held: ["s1"]), now: start).renewed.isEmpty)
    }

    @Test func clientsLease_isCappedByTheConfiguration() throws {
        var configuration = Coordinator.Configuration(listen: "tcp://127.0.0.1:0")
        configuration.maximumSessionLease = .seconds(5)
        let capped = try Coordinator(configuration)
        #expect(capped.sessionLease(asked: .max) == .seconds(5))
        #expect(capped.sessionLease(asked: 1000) == .seconds(1))
        let unlimited = try Coordinator(Coordinator.Configuration(listen: "tcp://127.0.0.1:0"))
        #expect(unlimited.sessionLease(asked: 0) == .seconds(30))
    }
}
