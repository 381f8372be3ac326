import Testing
import WeftPlacement
import WeftProto
import WeftRuntime

@testable import WeftCluster

/// The coordinator's rules for shared variable containers, without sockets.
@Suite struct SharedContainersTests {
    private static func request(_ name: String, token: String?, fresh: String = "t1") -> SharedContainers.Request {
        SharedContainers.Request(name: name, token: token, freshToken: fresh, freshID: "c-" + fresh)
    }

    private static func code(_ body: () throws -> Void) -> WeftError.Code? {
        do { try body() } catch let error as WeftError { return error.code } catch { return .unknown }
        return nil
    }

    @Test func theCreatorGetsTheToken_othersJoinOnlyWithIt() throws {
        var containers = SharedContainers()
        let created = try containers.admit("s1", Self.request("m", token: nil))
        #expect(created == .init(id: "c-t1", createdToken: "t1"))
        #expect(
            try containers.admit("s2", Self.request("m", token: "t1", fresh: "t2"))
                == .init(id: "c-t1", createdToken: nil)
        )
        #expect(
            Self.code { _ = try containers.admit("s3", Self.request("m", token: nil, fresh: "t3")) }
                == .permissionDenied
        )
        #expect(Self.code { _ = try containers.admit("s3", Self.request("m", token: "t2")) } == .permissionDenied)
        #expect(Self.code { _ = try containers.admit("s3", Self.request("other", token: "t1")) } == .permissionDenied)
        #expect(Self.code { _ = try containers.admit("s3", Self.request("", token: nil)) } == .invalidArgument)
        #expect(containers.memberCount("m") == 2)
    }

    @Test func aContainerEndsWithItsLastSession_andItsNameCanBeCreatedAnew() throws {
        var containers = SharedContainers()
        _ = try containers.admit("s1", Self.request("m", token: nil))
        _ = try containers.admit("s2", Self.request("m", token: "t1"))
        containers.hosted("s1", on: DeviceName(job: "ps", task: 0))
        containers.hosted("s2", on: DeviceName(job: "worker", task: 1))
        #expect(containers.leave("s1") == nil)
        #expect(containers.memberCount("m") == 1)
        let ended = containers.leave("s2")
        #expect(
            ended == .init(id: "c-t1", hosts: [DeviceName(job: "ps", task: 0), DeviceName(job: "worker", task: 1)])
        )
        #expect(containers.memberCount("m") == 0)
        #expect(Self.code { _ = try containers.admit("s3", Self.request("m", token: "t1")) } == .permissionDenied)
        // A new container of the same name has a new worker-side id: nothing of the old one shows.
        #expect(try containers.admit("s4", Self.request("m", token: nil, fresh: "t9")).id == "c-t9")
    }

    @Test func tokensCompareWholly() {
        #expect(SharedContainers.constantTimeEqual("abc", "abc"))
        #expect(!SharedContainers.constantTimeEqual("abc", "abd"))
        #expect(!SharedContainers.constantTimeEqual("abc", "abcd"))
    }

    private static func session(_ handle: String) throws -> CoordinatorSession {
        let nodes = [
            Tensorflow_NodeDef.with {
                $0.name = "a"
                $0.op = "NoOp"
                $0.device = "/job:worker/task:0"
            }
        ]
        let graph = try RuntimeGraph(nodes: nodes)
        let strategy = try PlacementStrategies.named("explicit")
        return CoordinatorSession(
            handle: handle,
            client: "client-1",
            owner: nil,
            strategy: strategy,
            options: PlacementOptions(),
            nodes: nodes,
            library: Tensorflow_FunctionDefLibrary(),
            graph: graph,
            placement: ["a": DeviceName(job: "worker", task: 0)],
            lease: .seconds(30),
            now: .now
        )
    }

    @Test func clusterState_opensOnlyAdmittedSessions_andCarriesTheContainerInTheirRecords() throws {
        var state = ClusterState(.init(heartbeatTimeout: .seconds(1), incarnation: 1))
        let admission = try #require(try state.open(Self.session("s1"), sharing: Self.request("m", token: nil)))
        #expect(admission.createdToken == "t1")
        #expect(state.sessions["s1"]?.record.sharedContainer == "c-t1")
        #expect(
            Self.code { _ = try state.open(Self.session("s2"), sharing: Self.request("m", token: "bad")) }
                == .permissionDenied
        )
        #expect(state.sessions["s2"] == nil)
        _ = try state.open(Self.session("s3"), sharing: Self.request("m", token: "t1"))
        _ = try state.close("s1", caller: nil, client: "client-1", now: .now)
        #expect(state.containers.memberCount("m") == 1)
        _ = try state.close("s3", caller: nil, client: "client-1", now: .now)
        #expect(state.containers.memberCount("m") == 0)
    }

    @Test func aRestartedCoordinator_adoptsTheContainer_fromTheRecordsWorkersBring() throws {
        var first = ClusterState(.init(heartbeatTimeout: .seconds(1), incarnation: 1))
        _ = try first.open(Self.session("s1"), sharing: Self.request("m", token: nil))
        let record = try #require(first.sessions["s1"]?.record)
        #expect(record.sharedContainerName == "m" && record.sharedContainerToken == "t1")

        var restarted = ClusterState(.init(heartbeatTimeout: .seconds(1), incarnation: 2))
        let registration = Weft_RegisterWorker.with {
            $0.job = "worker"
            $0.task = 0
            $0.address = "tcp://127.0.0.1:7100"
            $0.incarnation = 10
            $0.coordinatorIncarnation = 1
            $0.sessions = [
                .with {
                    $0.handle = "s1"
                    $0.record = record
                }
            ]
        }
        let registered = try restarted.register(registration, task: 0, now: .now)
        #expect(registered.renewed == ["s1"])
        #expect(restarted.sessions["s1"]?.sharedContainer == "c-t1")
        #expect(restarted.containers.memberCount("m") == 1)
        // The token admits a new client to the adopted container, and only the token.
        #expect(
            try restarted.open(Self.session("s2"), sharing: Self.request("m", token: "t1", fresh: "t5"))?.id == "c-t1"
        )
        #expect(
            Self.code { _ = try restarted.open(Self.session("s3"), sharing: Self.request("m", token: nil)) }
                == .permissionDenied
        )
    }
}
