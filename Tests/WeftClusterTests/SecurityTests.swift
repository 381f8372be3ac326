import Foundation
import Testing
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTestKit
import WeftTransport

@testable import Weft
@testable import WeftCluster

/// Protected mode: without keys a process binds loopback only, unless told `--insecure`.
@Suite(.serialized) struct ProtectedModeTests {
    @Test(arguments: [
        ("tcp://127.0.0.1:7070", true), ("tcp://127.1.2.3:0", true), ("tcp://localhost:1", true),
        ("tcp://[::1]:7070", true), ("ipc:///tmp/weft", true), ("tcp://0.0.0.0:7070", false),
        ("tcp://*:7070", false), ("tcp://10.0.0.1:7070", false), ("tcp://127.0.0.1.example.com:1", false),
        ("tcp://host:7070", false),
    ])
    func loopbackAddresses_areLocal(address: String, local: Bool) {
        #expect(ListenPolicy.isLocal(address) == local)
    }

    @Test func nonLoopbackBind_withoutKeys_isRefusedUnlessInsecure() throws {
        let refused = try #require(throws: WeftError.self) {
            try Coordinator(Coordinator.Configuration(listen: "tcp://0.0.0.0:0"))
        }
        #expect(refused.code == .failedPrecondition)
        #expect(refused.message.contains("refusing to listen on tcp://0.0.0.0:0 without keys"), "\(refused.message)")
        let worker = try #require(throws: WeftError.self) {
            try Worker(Worker.Configuration(listen: "tcp://0.0.0.0:0", coordinator: "tcp://127.0.0.1:1", job: "w", task: 0))
        }
        #expect(worker.code == .failedPrecondition)
        var insecure = Coordinator.Configuration(listen: "tcp://0.0.0.0:0")
        insecure.insecure = true
        let coordinator = try Coordinator(insecure)
        coordinator.stop()
    }

    @Test func commandLine_refusesNonLoopbackBind_unlessInsecure() async throws {
        try await offTheCooperativePool {
            let coordinator = try Fixtures.runWeft(["coordinator", "--listen", "tcp://0.0.0.0:0"])
            #expect(coordinator.status != 0)
            #expect(coordinator.output.contains("refusing to listen on tcp://0.0.0.0:0 without keys"), "\(coordinator.output)")
            let worker = try Fixtures.runWeft([
                "worker", "--listen", "tcp://0.0.0.0:0", "--coordinator", "tcp://127.0.0.1:1", "--task", "0",
            ])
            #expect(worker.status != 0)
            #expect(worker.output.contains("refusing to listen on tcp://0.0.0.0:0 without keys"), "\(worker.output)")
            let started = try ProcessCluster.launch(
                Fixtures.weftExecutable,
                ["coordinator", "--listen", "tcp://0.0.0.0:0", "--insecure", "--exit-with-parent"]
            )
            // SIGKILL: a SIGTERM this early may come before the process handles it.
            kill(started.process.processIdentifier, SIGKILL)
            started.process.waitUntilExit()
        }
    }

    @Test func clusterFile_withoutKeys_bindsLoopbackAddressesThemselves_andInsecureIsItsChoice() throws {
        let loopback = try ClusterConfig(
            parsing: "coordinator: {address: 'tcp://127.0.0.1:7070'}\njobs: {worker: ['tcp://127.0.0.1:7071']}\n",
            file: "l.yaml"
        )
        #expect(try loopback.coordinatorConfiguration().listen == "tcp://127.0.0.1:7070")
        #expect(try loopback.workerConfiguration(job: "worker", task: 0).listen == "tcp://127.0.0.1:7071")
        let open = try ClusterConfig(
            parsing: "coordinator: {address: 'tcp://10.0.0.1:7070'}\njobs: {worker: ['tcp://10.0.0.2:7071']}\n"
                + "security: {insecure: true}\n",
            file: "o.yaml"
        )
        #expect(try open.coordinatorConfiguration().insecure)
        #expect(try open.workerConfiguration(job: "worker", task: 0).insecure)
    }
}

/// A cluster of real processes with keys: CURVE on every socket, only listed keys get in, and
/// each key may do only what its role allows.
@Suite(.serialized) struct SecuredClusterTests {
    /// Sends `message` to `address` with `keys`, expecting `serverKey` there, and returns the error.
    private static func refusal(
        _ message: WireMessage,
        to address: String,
        as keys: CurveKeyPair,
        expecting serverKey: CurveKey
    ) -> WeftError? {
        do {
            let connection = try ClientConnection.connection(
                ClientSecurity(keyPair: keys, coordinatorKey: serverKey),
                coordinator: address
            )
            _ = try connection.request(message, to: address, timeout: .seconds(5))
            return nil
        } catch {
            return error
        }
    }

    /// A graph with `foo` (42) on `/job:worker/task:0`.
    private static func graph() -> (Graph, Variable, Weft.Operation) {
        let graph = Graph()
        let (variable, initialize) = graph.asDefault { () -> (Variable, Weft.Operation) in
            let variable = graph.device("/job:worker/task:0") { Variable(Float(42), name: "foo") }
            return (variable, globalVariablesInitializer())
        }
        return (graph, variable, initialize)
    }

    @Test func withKeys_aPeerWithoutAListedKey_cannotConnectToAnyProcess() async throws {
        try await offTheCooperativePool {
            let cluster = try ProcessCluster(
                executable: Fixtures.weftExecutable,
                jobs: JobCounts(parsing: "worker=1"),
                clients: ["alice"]
            )
            defer { cluster.stop() }
            let security = try #require(cluster.security)
            let alice = try cluster.clientSecurity("alice")
            // The listed client gets in: its session runs a step on the worker.
            let (graph, variable, initialize) = Self.graph()
            var options = RemoteSessionOptions()
            options.security = alice
            let session = try Session(target: cluster.address, graph: graph, options: options)
            defer { session.close() }
            try session.run(initialize)
            #expect(try session.run(variable).scalars(as: Float.self) == [42])
            // The command line: status and health with the client's key, and without it a clear refusal.
            let file = try #require(cluster.configFile)
            let key = "\(try #require(cluster.keysFolder))/alice.key"
            let status = try Fixtures.runWeft(["status", "--config", file, "--key", key])
            #expect(status.status == 0 && status.output.contains("1 open session"), "\(status.output)")
            let health = try Fixtures.runWeft(["health", "--config", file, "--key", key, "--job", "worker", "--task", "0"])
            #expect(health.status == 0, "\(health.output)")
            let keyless = try Fixtures.runWeft(["status", "--config", file])
            #expect(keyless.status != 0 && keyless.output.contains("--key FILE"), "\(keyless.output)")
            let stranger = try CurveKeyPair.generate()
            let keys = [security.coordinator.publicKey, security.tasks[DeviceName(job: "worker", task: 0)]!.publicKey]
            for (member, key) in zip(cluster.members, keys) {
                let error = Self.refusal(.make(.ping), to: member.address, as: stranger, expecting: key)
                #expect(error?.code == .unauthenticated, "\(member.name): \(String(describing: error))")
                // Nor does a peer without keys.
                let plain = Result { () throws(WeftError) in try ClusterClient.ping(member.address) }
                #expect(throws: WeftError.self, "\(member.name)") { try plain.get() }
            }
        }
    }

    @Test func aClientWithAKey_cannotTouchAnotherClientsSession_throughTheCoordinatorOrAWorker() async throws {
        try await offTheCooperativePool {
            let cluster = try ProcessCluster(
                executable: Fixtures.weftExecutable,
                jobs: JobCounts(parsing: "worker=1"),
                clients: ["alice", "bob"]
            )
            defer { cluster.stop() }
            let security = try #require(cluster.security)
            let (alice, bob) = (try cluster.clientSecurity("alice"), try cluster.clientSecurity("bob"))
            let (graph, variable, initialize) = Self.graph()
            var options = RemoteSessionOptions()
            options.security = alice
            let backend = try RemoteSessionBackend(coordinator: cluster.address, graph: graph, options: options)
            let session = Session(graph: graph, backend: backend)
            defer { session.close() }
            try session.run(initialize)
            #expect(try session.run(variable).scalars(as: Float.self) == [42])
            #expect(try session.run(variable).scalars(as: Float.self) == [42])  // the direct route
            let handle = backend.sessionHandle
            #expect(handle.count == 33, "128 random bits in hex: \(handle)")

            // Bob holds Alice's handle (leaked somehow) and tries everything the coordinator serves.
            let coordinatorKey = security.coordinator.publicKey
            let attempts: [(String, WireMessage)] = [
                ("read", .make(.runStep, session: handle) { $0.runStep = .with { $0.fetches = ["foo:0"] } }),
                ("write", .make(.runStep, session: handle) { $0.runStep = .with { $0.targets = ["init"] } }),
                ("extend", .make(.extendSession, session: handle) { $0.extendSession = .with { $0.graph = graph.graphDef } }),
                ("close", .make(.closeSession, session: handle)),
            ]
            for (what, message) in attempts {
                let error = Self.refusal(message, to: cluster.address, as: bob.keyPair, expecting: coordinatorKey)
                #expect(error?.code == .permissionDenied, "\(what): \(String(describing: error))")
            }
            // …and on the worker directly: its own steps, registering a partition, releasing it.
            let worker = cluster.members[1].address
            let workerKey = security.tasks[DeviceName(job: "worker", task: 0)]!.publicKey
            let direct: [(String, WireMessage)] = [
                (
                    "run", .make(.runPartition, session: handle, step: 1 << 62) {
                        $0.runPartition = .with { $0.handle = "\(handle)/p1//job:worker/task:0" }
                    }
                ),
                (
                    "register", .make(.registerPartition, session: handle) {
                        $0.registerPartition = .with {
                            $0.handle = "stolen"
                            $0.graph = graph.graphDef
                            $0.fetches = ["foo:0"]
                            $0.device = "/job:worker/task:0"
                        }
                    }
                ),
                ("release", .make(.releaseSession, session: handle)),
            ]
            for (what, message) in direct {
                let error = Self.refusal(message, to: worker, as: bob.keyPair, expecting: workerKey)
                #expect(error?.code == .permissionDenied, "worker \(what): \(String(describing: error))")
            }
            // Status shows Bob that a session exists, not its handle; Alice sees hers.
            let seenByBob = try ClusterClient.status(coordinator: cluster.address, security: bob).sessions
            #expect(seenByBob.map(\.handle) == [""] && seenByBob.map(\.client) == ["alice"])
            let seenByAlice = try ClusterClient.status(coordinator: cluster.address, security: alice).sessions
            #expect(seenByAlice.map(\.handle) == [handle])
            // Alice's session is untouched.
            #expect(try session.run(variable).scalars(as: Float.self) == [42])
        }
    }

    @Test func aWorkerKey_cannotTakeOverAnotherTask() async throws {
        try await offTheCooperativePool {
            let cluster = try ProcessCluster(
                executable: Fixtures.weftExecutable,
                jobs: JobCounts(parsing: "worker=2"),
                clients: ["alice"]
            )
            defer { cluster.stop() }
            let security = try #require(cluster.security)
            let folder = try #require(cluster.keysFolder)
            let workerOne = try CurveKeyFile.readSecret("\(folder)/worker-1.key")
            let alice = try cluster.clientSecurity("alice")
            let addresses = [cluster.members[1].address, cluster.members[2].address]
            // Both tasks hold their places before anyone tries to take one.
            #expect(
                Self.workersListed(addresses, coordinator: cluster.address, security: alice, within: .seconds(20)),
                "both workers registered"
            )
            let takeOver = WireMessage.make(.registerWorker) { envelope in
                envelope.registerWorker = .with {
                    $0.job = "worker"
                    $0.task = 0
                    $0.address = cluster.members[2].address
                    $0.incarnation = 12345
                }
            }
            let coordinatorKey = security.coordinator.publicKey
            let error = Self.refusal(takeOver, to: cluster.address, as: workerOne, expecting: coordinatorKey)
            #expect(error?.code == .permissionDenied, "\(String(describing: error))")
            #expect(error?.message.contains("belongs to /job:worker/task:1") == true, "\(String(describing: error))")
            // Nor can it register its own task at task 0's address, which would cut task 0 off.
            let hijack = WireMessage.make(.registerWorker) { envelope in
                envelope.registerWorker = .with {
                    $0.job = "worker"
                    $0.task = 1
                    $0.address = cluster.members[1].address
                    $0.incarnation = 12345
                }
            }
            let stolen = Self.refusal(hijack, to: cluster.address, as: workerOne, expecting: coordinatorKey)
            #expect(stolen?.code == .permissionDenied, "\(String(describing: stolen))")
            let heartbeat = WireMessage.make(.heartbeat) { envelope in
                envelope.heartbeat = .with {
                    $0.job = "worker"
                    $0.task = 0
                    $0.incarnation = 12345
                }
            }
            let beat = Self.refusal(heartbeat, to: cluster.address, as: workerOne, expecting: coordinatorKey)
            #expect(beat?.code == .permissionDenied, "\(String(describing: beat))")
            // A worker key opens no session, and sends another worker no partition.
            let session = WireMessage.make(.createSession) { $0.createSession = .with { $0.client = "w" } }
            let opened = Self.refusal(session, to: cluster.address, as: workerOne, expecting: coordinatorKey)
            #expect(opened?.code == .permissionDenied, "\(String(describing: opened))")
            let workerZeroKey = security.tasks[DeviceName(job: "worker", task: 0)]!.publicKey
            let partition = WireMessage.make(.releaseSession, session: "s0")
            let released = Self.refusal(partition, to: cluster.members[1].address, as: workerOne, expecting: workerZeroKey)
            #expect(released?.code == .permissionDenied, "\(String(describing: released))")
            // Task 0 still holds its place: the cluster lists both workers, healthy (a heartbeat
            // late on a loaded machine may mark one unhealthy for a moment, so that is waited out).
            #expect(Self.workersListed(addresses, coordinator: cluster.address, security: alice, within: .seconds(10)))
            let status = try ClusterClient.status(coordinator: cluster.address, security: alice)
            #expect(status.workers.map(\.address) == addresses)
        }
    }

    /// Polls the coordinator's status until it lists exactly the workers at `addresses`, in task
    /// order and healthy; returns whether it did within `timeout`.
    private static func workersListed(
        _ addresses: [String],
        coordinator: String,
        security: ClientSecurity,
        within timeout: Duration
    ) -> Bool {
        let deadline = ContinuousClock.now + timeout
        repeat {
            if let status = try? ClusterClient.status(coordinator: coordinator, security: security),
                status.workers.map(\.address) == addresses, status.workers.allSatisfy(\.healthy)
            {
                return true
            }
            Thread.sleep(forTimeInterval: 0.1)
        } while ContinuousClock.now < deadline
        return false
    }

    @Test func keysGenerate_andClusterCheck_validateTheSecuritySection() async throws {
        try await offTheCooperativePool {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("weft-keys-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: folder) }
            for name in ["coordinator", "worker-0", "alice"] {
                let made = try Fixtures.runWeft(["keys", "generate", "--output", folder, "--name", name])
                #expect(made.status == 0 && made.output.contains("public key"), "\(made.output)")
            }
            let again = try Fixtures.runWeft(["keys", "generate", "--output", folder, "--name", "alice"])
            #expect(again.status != 0 && again.output.contains("exists"), "\(again.output)")
            let file = "\(folder)/cluster.yaml"
            try """
            coordinator: {address: "tcp://10.0.0.1:7070"}
            jobs: {worker: ["tcp://10.0.0.2:7071"]}
            security:
              coordinator: {public: coordinator.pub, secret: coordinator.key}
              tasks:
                worker:
                  - {public: worker-0.pub, secret: worker-0.key}
              clients:
                alice: alice.pub
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let ok = try Fixtures.runWeft(["cluster", "check", "--config", file])
            #expect(ok.status == 0 && ok.output.contains("CURVE keys for 2 processes and 1 client"), "\(ok.output)")
            // A readable secret, a secret of another key, a public key that is not Z85.
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: "\(folder)/worker-0.key")
            try "# not a key\nhello\n".write(toFile: "\(folder)/alice.pub", atomically: true, encoding: .utf8)
            let swapped = file.replacingOccurrences(of: "cluster.yaml", with: "swapped.yaml")
            try String(contentsOfFile: file, encoding: .utf8)
                .replacingOccurrences(of: "secret: coordinator.key", with: "secret: alice.key")
                .write(toFile: swapped, atomically: true, encoding: .utf8)
            let bad = try Fixtures.runWeft(["cluster", "check", "--config", swapped])
            #expect(bad.status == 1, "\(bad.output)")
            #expect(bad.output.contains("security.coordinator.secret: \(folder)/alice.key is not the secret key"), "\(bad.output)")
            #expect(bad.output.contains("security.tasks.worker[0].secret: the secret key file"), "\(bad.output)")
            #expect(bad.output.contains("chmod 600"), "\(bad.output)")
            #expect(bad.output.contains("security.clients.alice: \(folder)/alice.pub: a CURVE key is 40 Z85"), "\(bad.output)")
            #expect(bad.output.hasSuffix("3 problems\n") || bad.output.hasSuffix("4 problems\n"), "\(bad.output)")
        }
    }
}

/// Which role may send what: the table the coordinator and workers enforce.
@Suite struct AuthorizationTests {
    @Test func workers_takeSessionWorkOnlyFromTheCoordinator_andTensorsOnlyFromWorkers() {
        let worker = PeerRole.worker(DeviceName(job: "worker", task: 1))
        for kind in [MessageKind.registerPartition, .runPartition, .releaseSession, .abortStep, .measureLinks] {
            #expect(Authorization.allows(kind, from: .coordinator, to: .worker))
            #expect(!Authorization.allows(kind, from: worker, to: .worker))
        }
        #expect(Authorization.allows(.pushTensor, from: worker, to: .worker))
        #expect(!Authorization.allows(.pushTensor, from: .client("bob"), to: .worker))
        #expect(!Authorization.allows(.pushTensor, from: .coordinator, to: .worker))
        #expect(Authorization.allows(.runPartition, from: .client("bob"), to: .worker))  // own sessions only, checked there
        #expect(Authorization.allows(.abortStep, from: .client("bob"), to: .worker))  // own direct steps only, checked there
        #expect(!Authorization.allows(.registerPartition, from: .client("bob"), to: .worker))
    }

    @Test func theCoordinator_takesRegistrationsFromWorkers_andSessionsFromClients() {
        let worker = PeerRole.worker(DeviceName(job: "worker", task: 0))
        #expect(Authorization.allows(.registerWorker, from: worker, to: .coordinator))
        #expect(!Authorization.allows(.registerWorker, from: .client("eve"), to: .coordinator))
        #expect(!Authorization.allows(.createSession, from: worker, to: .coordinator))
        #expect(Authorization.allows(.createSession, from: .client("eve"), to: .coordinator))
        #expect(Authorization.allows(.ping, from: .client("eve"), to: .coordinator))
        #expect(throws: WeftError.self) { try Authorization.check(.ping(.init()), from: nil, to: .coordinator) }
    }
}

/// Without keys, a session answers only the client id it was opened with, which status shows
/// no other client, beside its unguessable handle.
@Suite(.serialized) struct KeylessOwnershipTests {
    @Test func anotherClientId_cannotTouchASession_atTheCoordinatorOrAWorker() async throws {
        try await offTheCooperativePool {
            let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "worker=1"))
            defer { cluster.stop() }
            let graph = Graph()
            let (variable, initialize) = graph.asDefault { () -> (Variable, Weft.Operation) in
                let variable = graph.device("/job:worker/task:0") { Variable(Float(42), name: "foo") }
                return (variable, globalVariablesInitializer())
            }
            let backend = try RemoteSessionBackend(coordinator: cluster.address, graph: graph)
            let session = Session(graph: graph, backend: backend)
            defer { session.close() }
            try session.run(initialize)
            #expect(try session.run(variable).scalars(as: Float.self) == [42])
            #expect(try session.run(variable).scalars(as: Float.self) == [42])  // the direct route
            let handle = backend.sessionHandle
            let connection = try ClientConnection.shared.get()
            let attempts: [(String, String, WireMessage)] = [
                ("read", cluster.address, .make(.runStep, session: handle) { $0.runStep = .with { $0.fetches = ["foo:0"] } }),
                ("close", cluster.address, .make(.closeSession, session: handle) { $0.client = "mallory" }),
                (
                    "run on the worker", cluster.members[1].address,
                    .make(.runPartition, session: handle, step: 1 << 62) {
                        $0.client = "mallory"
                        $0.runPartition = .with { $0.handle = "\(handle)/p1//job:worker/task:0" }
                    }
                ),
            ]
            for (what, address, message) in attempts {
                let error = Result { () throws(WeftError) in try connection.request(message, to: address, timeout: .seconds(5)) }
                #expect(throws: WeftError.self, "\(what)") { try error.get() }
                if case .failure(let failure) = error { #expect(failure.code == .permissionDenied, "\(what): \(failure)") }
            }
            #expect(try session.run(variable).scalars(as: Float.self) == [42])
        }
    }
}
