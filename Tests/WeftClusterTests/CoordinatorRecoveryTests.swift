import Testing
import WeftPlacement
import WeftProto
import WeftRuntime

@testable import Weft
@testable import WeftCluster

/// A restarted coordinator adopting sessions from registering workers: its registry alone,
/// without workers or steps.
@Suite struct CoordinatorRecoveryTests {
    private let coordinator: Coordinator
    private let start = ContinuousClock.now
    private let task0 = DeviceName(job: "worker", task: 0)
    private let task1 = DeviceName(job: "worker", task: 1)

    init() throws {
        coordinator = try Coordinator(Coordinator.Configuration(listen: "tcp://127.0.0.1:0"))
    }

    private func record(version: UInt64, nodes: [String: DeviceName]) -> Weft_SessionRecord {
        let graph = Graph()
        graph.asDefault {
            for (name, device) in nodes.sorted(by: { $0.key < $1.key }) {
                _ = graph.device(device.description) { constant(Float(1), name: name) }
            }
        }
        return .with {
            $0.client = "client-1"
            $0.strategy = "explicit"
            $0.leaseMs = 4000
            $0.version = version
            $0.graph = graph.graphDef
            $0.placement = Coordinator.placementList(nodes)
        }
    }

    private func registration(
        from coordinatorIncarnation: UInt64,
        holding held: [Weft_HeldSession],
        incarnation: UInt64 = 7
    ) -> Weft_RegisterWorker {
        .with {
            $0.job = "worker"
            $0.incarnation = incarnation
            $0.coordinatorIncarnation = coordinatorIncarnation
            $0.sessions = held
        }
    }

    private func held(_ handle: String, lastStep: UInt64, _ record: Weft_SessionRecord) -> Weft_HeldSession {
        .with {
            $0.handle = handle
            $0.lastStep = lastStep
            $0.record = record
        }
    }

    @Test func workerFromAnEarlierCoordinator_bringsItsSessionsBack() throws {
        let record = record(version: 1, nodes: ["a": task0, "b": task1])
        let renewed = coordinator.state.withLock { state in
            coordinator.adopt(
                registration(from: 99, holding: [held("s1", lastStep: 41, record)]),
                device: task0,
                in: &state,
                now: start
            )
        }
        #expect(renewed == ["s1"])
        let session = try #require(coordinator.state.withLock { $0.sessions["s1"] })
        #expect(session.client == "client-1")
        #expect(session.placement == ["a": task0, "b": task1])
        #expect(session.nextStep == 42)
        #expect(session.hosts == [task0: 7])
        #expect(session.lease == .seconds(4))
        // The other worker holding it joins, with a newer record and later steps.
        let newer = self.record(version: 2, nodes: ["a": task0, "b": task1, "c": task1])
        let joined = coordinator.state.withLock { state in
            coordinator.adopt(
                registration(from: 99, holding: [held("s1", lastStep: 50, newer)], incarnation: 8),
                device: task1,
                in: &state,
                now: start
            )
        }
        #expect(joined == ["s1"])
        #expect(session.hosts == [task0: 7, task1: 8])
        #expect(session.nextStep == 51)
        #expect(session.version == 2)
        #expect(session.placement["c"] == task1)
    }

    @Test func workerThatRegisteredWithThisCoordinator_keepsOnlyOpenSessions() {
        let record = record(version: 1, nodes: ["a": task0])
        let renewed = coordinator.state.withLock { state in
            coordinator.adopt(
                registration(from: coordinator.incarnation, holding: [held("closed", lastStep: 3, record)]),
                device: task0,
                in: &state,
                now: start
            )
        }
        #expect(renewed == [])
        #expect(coordinator.state.withLock { $0.sessions.isEmpty })
    }

    @Test func unusableRecord_isNotAdopted() {
        var record = record(version: 1, nodes: ["a": task0])
        record.placement = [.with {
            $0.node = "a"
            $0.device = "not a device"
        }]
        let renewed = coordinator.state.withLock { state in
            coordinator.adopt(
                registration(from: 99, holding: [held("s1", lastStep: 1, record)]),
                device: task0,
                in: &state,
                now: start
            )
        }
        #expect(renewed == [])
        #expect(coordinator.state.withLock { $0.sessions["s1"] == nil })
    }

    @Test func heartbeat_renewsOnlySessionsTheCoordinatorKeepsThere() {
        let record = record(version: 1, nodes: ["a": task0])
        _ = coordinator.state.withLock { state in
            coordinator.adopt(
                registration(from: 99, holding: [held("s1", lastStep: 1, record)]),
                device: task0,
                in: &state,
                now: start
            )
        }
        let onTask0 = coordinator.heartbeatReply(from: task0, held: ["s1", "gone"]).envelope.heartbeatReply
        #expect(onTask0.renewed == ["s1"])
        #expect(onTask0.coordinatorIncarnation == coordinator.incarnation)
        #expect(coordinator.heartbeatReply(from: task1, held: ["s1"]).envelope.heartbeatReply.renewed == [])
    }

    @Test func clientsLease_isCappedByTheConfiguration() throws {
        var configuration = Coordinator.Configuration(listen: "tcp://127.0.0.1:0")
        configuration.maximumSessionLease = .seconds(5)
        let capped = try Coordinator(configuration)
        #expect(capped.sessionLease(asked: .max) == .seconds(5))
        #expect(capped.sessionLease(asked: 1000) == .seconds(1))
        #expect(coordinator.sessionLease(asked: 0) == .seconds(30))
    }
}
