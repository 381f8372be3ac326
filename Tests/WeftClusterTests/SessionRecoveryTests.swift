import Foundation
import Logging
import Synchronization
import Testing
import WeftProto
import WeftRuntime
import WeftTestKit
import WeftTransport

@testable import Weft
@testable import WeftCluster

/// Sessions outlive a coordinator killed with SIGKILL, and no session state outlives its
/// lease: real `weft` processes.
@Suite(.serialized) struct SessionRecoveryTests {
    /// The processes a test started, stopped at its end.
    private final class Children: Sendable {
        private let processes = Mutex<[Process]>([])

        func add(_ process: Process) { processes.withLock { $0.append(process) } }

        func stop() {
            let all = processes.withLock { $0 }
            for process in all where process.isRunning { process.terminate() }
            for process in all { process.waitUntilExit() }
        }
    }

    private static func launch(_ arguments: [String], into children: Children) throws -> (Process, String) {
        let (process, address) = try ProcessCluster.launch(Fixtures.weftExecutable, arguments + ["--exit-with-parent"])
        children.add(process)
        return (process, address)
    }

    private static func startCoordinator(
        _ listen: String,
        extra: [String] = [],
        into children: Children
    ) throws -> (Process, String) {
        try launch(["coordinator", "--listen", listen] + extra, into: children)
    }

    private static func startWorkers(_ count: Int, coordinator: String, into children: Children) throws -> [Process] {
        try (0..<count).map { task in
            try launch(
                [
                    "worker", "--listen", "tcp://127.0.0.1:0", "--coordinator", coordinator, "--job", "worker",
                    "--task", "\(task)",
                ],
                into: children
            ).0
        }
    }

    private static func killHard(_ process: Process) {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    private static func eventually(timeout: Duration, _ condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition()
    }

    /// Sessions held by each worker, by the coordinator's status (from their heartbeats).
    private static func workerSessions(_ coordinator: String, workers: Int) -> [UInt32]? {
        guard let status = try? ClusterClient.status(coordinator: coordinator),
            status.workers.filter(\.healthy).count == workers
        else { return nil }
        return status.workers.map(\.sessions)
    }

    @Test func coordinatorKilledBetweenSteps_clientsNextStepSucceedsWithItsVariables() throws {
        let children = Children()
        defer { children.stop() }
        let (first, address) = try Self.startCoordinator("tcp://127.0.0.1:0", into: children)
        _ = try Self.startWorkers(2, coordinator: address, into: children)
        let graph = Graph()
        let (initialize, bumps, total, a) = graph.asDefault { () -> (Weft.Operation, [Output], Output, Variable) in
            let a = graph.device("/job:worker/task:0") { Variable(Float(1), name: "a") }
            let b = graph.device("/job:worker/task:1") { Variable(Float(10), name: "b") }
            let bumps = [a.assignAdd(Float(1)), b.assignAdd(Float(10))]
            let total = graph.device("/job:worker/task:0") { a.value + b.value }
            return (globalVariablesInitializer(), bumps, total, a)
        }
        let backend = try RemoteSessionBackend(coordinator: address, graph: graph)
        let session = Session(graph: graph, backend: backend)
        try session.run(initialize)
        _ = try session.run(bumps)
        #expect(try session.run(total).scalar(as: Float.self) == 22)

        Self.killHard(first)
        _ = try Self.startCoordinator(address, into: children)
        // A request while the coordinator is down fails fast with `unavailable`; once this
        // process reaches the new one, the workers bring the session back to it.
        let started = ContinuousClock.now
        #expect(Self.eventually(timeout: .seconds(5)) { (try? ClusterClient.ping(address)) != nil })
        _ = try session.run(bumps)
        #expect(ContinuousClock.now - started < .seconds(8))
        #expect(try session.run(total).scalar(as: Float.self) == 33)
        // Extending the graph after the restart works too: the adopted session has its placement.
        let doubled = graph.asDefault { graph.device("/job:worker/task:1") { a.value * 2 } }
        #expect(try session.run(doubled).scalar(as: Float.self) == 6)

        // Closing is acknowledged, and frees the state on both workers.
        try backend.closeAndWait()
        #expect(Self.eventually(timeout: .seconds(3)) { Self.workerSessions(address, workers: 2) == [0, 0] })
    }

    /// An extension no step has used yet survives a coordinator killed right after it: every
    /// worker holding the session gets the new record with its next heartbeat's answer.
    @Test func extensionNoStepUsed_survivesACoordinatorKilledAfterIt() throws {
        let children = Children()
        defer { children.stop() }
        let (first, address) = try Self.startCoordinator("tcp://127.0.0.1:0", into: children)
        _ = try Self.startWorkers(2, coordinator: address, into: children)
        let graph = Graph()
        let (a, b) = graph.asDefault { () -> (Variable, Variable) in
            let a = graph.device("/job:worker/task:0") { Variable(Float(1), name: "a") }
            let b = graph.device("/job:worker/task:1") { Variable(Float(10), name: "b") }
            _ = globalVariablesInitializer()
            return (a, b)
        }
        let opened = graph.graphDef.node.count
        let total = graph.asDefault { graph.device("/job:worker/task:1") { a.value + b.value } }
        let full = graph.graphDef
        var opening = full
        opening.node = Array(full.node.prefix(opened))
        let client = try MessagingNode(listen: "tcp://127.0.0.1:0", logger: Logger(label: "weft.tests.extension"))
        defer { client.close() }
        let id = "extending"
        let handle = try Self.createSession(opening, client: client, at: address, id: id, leaseMs: 30_000)
        func step(fetches: [String] = [], targets: [String] = [], from client: MessagingNode) throws -> WireMessage {
            try client.requestAndWait(
                .make(.runStep, session: handle) {
                    $0.client = id
                    $0.runStep = .with {
                        $0.fetches = fetches
                        $0.targets = targets
                    }
                },
                to: address,
                timeout: .seconds(10)
            )
        }
        _ = try step(targets: ["init"], from: client)
        _ = try client.requestAndWait(
            .make(.extendSession, session: handle) {
                $0.client = id
                $0.extendSession = .with { $0.graph.node = Array(full.node.dropFirst(opened)) }
            },
            to: address,
            timeout: .seconds(10)
        )
        // Heartbeats come every 250 ms: a second is several chances for the record to arrive.
        Thread.sleep(forTimeInterval: 1)
        Self.killHard(first)
        _ = try Self.startCoordinator(address, into: children)
        #expect(Self.eventually(timeout: .seconds(5)) { (try? ClusterClient.ping(address)) != nil })
        // A new connection: this one saw the coordinator die.
        let after = try MessagingNode(listen: "tcp://127.0.0.1:0", logger: Logger(label: "weft.tests.extension"))
        defer { after.close() }
        let reply = try step(fetches: [total.tensorName.description], from: after)
        #expect(reply.tensors.first?.scalar(as: Float.self) == 11)
    }

    /// A worker that cannot be reached when its session closes frees the session once it is back.
    @Test func workerUnhealthyAtClose_freesTheSessionWhenItComesBack() throws {
        let children = Children()
        defer { children.stop() }
        let (_, address) = try Self.startCoordinator("tcp://127.0.0.1:0", into: children)
        let workers = try Self.startWorkers(2, coordinator: address, into: children)
        let graph = Graph()
        let initialize = graph.asDefault { () -> Weft.Operation in
            _ = graph.device("/job:worker/task:0") { Variable(Float(1), name: "a") }
            _ = graph.device("/job:worker/task:1") { Variable(Float(2), name: "b") }
            return globalVariablesInitializer()
        }
        let backend = try RemoteSessionBackend(coordinator: address, graph: graph)
        let session = Session(graph: graph, backend: backend)
        try session.run(initialize)
        #expect(Self.eventually(timeout: .seconds(3)) { Self.workerSessions(address, workers: 2) == [1, 1] })
        kill(workers[1].processIdentifier, SIGSTOP)
        defer { kill(workers[1].processIdentifier, SIGCONT) }
        #expect(Self.eventually(timeout: .seconds(5)) {
            (try? ClusterClient.status(coordinator: address))?.workers.filter(\.healthy).count == 1
        })
        try backend.closeAndWait()
        // Longer than the release request waits: only the worker's lease and heartbeats are left.
        Thread.sleep(forTimeInterval: 3)
        kill(workers[1].processIdentifier, SIGCONT)
        #expect(Self.eventually(timeout: .seconds(5)) { Self.workerSessions(address, workers: 2) == [0, 0] })
    }

    /// Closing, awaited or blocking, gives up at its deadline when the coordinator is gone.
    @Test(.serialized, arguments: [false, true])
    func closeWithTheCoordinatorGone_failsAfterItsDeadline(awaited: Bool) async throws {
        let children = Children()
        defer { children.stop() }
        let (coordinator, address) = try Self.startCoordinator("tcp://127.0.0.1:0", into: children)
        _ = try Self.startWorkers(1, coordinator: address, into: children)
        let graph = Graph()
        let value = graph.asDefault { constant(Float(2)) * 3 }
        var options = RemoteSessionOptions()
        options.closeTimeout = .seconds(1)
        let backend = try RemoteSessionBackend(coordinator: address, graph: graph, options: options)
        #expect(try await backend.run(feeds: [], fetches: [value.tensorName], targets: [], collectStatistics: false).values
            .first?.scalar(as: Float.self) == 6)
        Self.killHard(coordinator)
        let started = ContinuousClock.now
        let error =
            if awaited {
                await #expect(throws: WeftError.self) { try await backend.closeAndWait() }
            } else {
                #expect(throws: WeftError.self) { try backend.closeAndWait() }
            }
        #expect(error?.code == .deadlineExceeded)
        #expect(ContinuousClock.now - started < .seconds(3))
    }
    /// Issue 13's leak check: sessions through failed registrations, a coordinator killed and
    /// restarted, and client processes killed mid-step. Once leases run out, no worker holds any.
    /// `WEFT_LEAK_SESSIONS` sets how many sessions (200 by default).
    @Test func sessionsOfEveryKindOfFailure_areAllFreedOnceTheirLeasesRunOut() throws {
        let total = ProcessInfo.processInfo.environment["WEFT_LEAK_SESSIONS"].flatMap(Int.init) ?? 200
        let killedClients = 8
        let children = Children()
        defer { children.stop() }
        let flags = ["--max-session-lease-ms", "5000"]
        let (first, address) = try Self.startCoordinator("tcp://127.0.0.1:0", extra: flags, into: children)
        _ = try Self.startWorkers(2, coordinator: address, into: children)
        let started = ContinuousClock.now
        let client = try MessagingNode(listen: "tcp://127.0.0.1:0", logger: Logger(label: "weft.tests.leaks"))
        defer { client.close() }

        // Half the sessions fail to register on task 1 after task 0 took its partition.
        let failing = (total - killedClients) / 2
        for index in 0..<failing {
            let handle = try Self.createSession(Self.failingGraph(), client: client, at: address, id: "failing-\(index)")
            let error = #expect(throws: WeftError.self) {
                try client.requestAndWait(
                    .make(.runStep, session: handle) {
                        $0.client = "failing-\(index)"
                        $0.runStep = .with { $0.fetches = ["c0:0", "bad:0"] }
                    },
                    to: address,
                    timeout: .seconds(10)
                )
            }
            #expect(error?.code == .invalidArgument)
        }
        // The other half hold variables on both workers when the coordinator is killed.
        let holding = Graph()
        holding.asDefault {
            _ = holding.device("/job:worker/task:0") { Variable(Float(1), name: "a") }
            _ = holding.device("/job:worker/task:1") { Variable(Float(2), name: "b") }
            _ = globalVariablesInitializer()
        }
        for index in 0..<(total - killedClients - failing) {
            let id = "holding-\(index)"
            let handle = try Self.createSession(holding.graphDef, client: client, at: address, id: id)
            _ = try client.requestAndWait(
                .make(.runStep, session: handle) {
                    $0.client = id
                    $0.runStep = .with { $0.targets = ["init"] }
                },
                to: address,
                timeout: .seconds(10)
            )
        }
        Self.killHard(first)
        _ = try Self.startCoordinator(address, extra: flags, into: children)

        // Clients killed with SIGKILL while their step runs a loop that never ends.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("weft-endless-\(UUID()).pbtxt")
        try Self.endlessGraph().graphDefText.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let clients = try (0..<killedClients).map { _ in
            let process = Process()
            process.executableURL = Fixtures.weftExecutable
            process.arguments = [
                "run", file.path, "--coordinator", address, "--setup", "init", "--fetch", "endless:0", "--fetch", "v:0",
            ]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            children.add(process)
            return process
        }
        let running = Self.eventually(timeout: .seconds(20)) {
            (try? ClusterClient.status(coordinator: address))?.sessions.filter { $0.steps >= 2 }.count
                ?? 0 >= killedClients
        }
        #expect(running, "the clients' endless steps did not start")
        for process in clients { Self.killHard(process) }

        let freed = Self.eventually(timeout: .seconds(20)) { Self.workerSessions(address, workers: 2) == [0, 0] }
        #expect(freed, "workers still hold \(Self.workerSessions(address, workers: 2) ?? []) sessions")
        let status = try ClusterClient.status(coordinator: address)
        #expect(status.sessions.isEmpty)
        print("\(total) sessions created and freed in \(ContinuousClock.now - started)")
    }

    private static func createSession(
        _ graph: Tensorflow_GraphDef,
        client: MessagingNode,
        at address: String,
        id: String,
        leaseMs: UInt64 = 3000
    ) throws -> String {
        let created = try client.requestAndWait(
            .make(.createSession) { envelope in
                envelope.createSession = .with {
                    $0.graph = graph
                    $0.client = id
                    $0.leaseMs = leaseMs
                    $0.waitForWorkersMs = 5000
                }
            },
            to: address,
            timeout: .seconds(10)
        )
        return created.envelope.session
    }

    /// A constant on task 0 and, on task 1, a `Const` whose value is not of its dtype: the
    /// coordinator places it, task 1 refuses its partition, task 0 took its own.
    private static func failingGraph() -> Tensorflow_GraphDef {
        let graph = Graph()
        graph.asDefault { _ = graph.device("/job:worker/task:0") { constant(Float(1), name: "c0") } }
        var definition = graph.graphDef
        definition.node.append(
            .with {
                $0.name = "bad"
                $0.op = "Const"
                $0.device = "/job:worker/task:1"
                $0.attr["dtype"] = .with { $0.type = .dtFloat }
                $0.attr["value"] = .with {
                    $0.tensor = .with {
                        $0.dtype = .dtInt32
                        $0.intVal = [1]
                    }
                }
            }
        )
        return definition
    }

    /// A `While` that never ends on task 1 and a variable on task 0.
    private static func endlessGraph() throws -> Graph {
        let graph = try Graph(
            graphDefText: """
                node { name: "start" op: "Const" device: "/job:worker/task:1"
                  attr { key: "dtype" value { type: DT_INT32 } }
                  attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 0 } } } }
                node { name: "endless" op: "While" input: "start" device: "/job:worker/task:1"
                  attr { key: "T" value { list { type: DT_INT32 } } }
                  attr { key: "cond" value { func { name: "forever" } } }
                  attr { key: "body" value { func { name: "step" } } } }
                library {
                  function {
                    signature { name: "forever" input_arg { name: "i" type: DT_INT32 } output_arg { name: "holds" type: DT_BOOL } }
                    node_def { name: "yes" op: "Const" attr { key: "dtype" value { type: DT_BOOL } }
                      attr { key: "value" value { tensor { dtype: DT_BOOL tensor_shape {} bool_val: true } } } }
                    ret { key: "holds" value: "yes:output:0" }
                  }
                  function {
                    signature { name: "step" input_arg { name: "i" type: DT_INT32 } output_arg { name: "next" type: DT_INT32 } }
                    node_def { name: "one" op: "Const" attr { key: "dtype" value { type: DT_INT32 } }
                      attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 1 } } } }
                    node_def { name: "sum" op: "AddV2" input: "i" input: "one:output:0" attr { key: "T" value { type: DT_INT32 } } }
                    ret { key: "next" value: "sum:z:0" }
                  }
                }
                """
        )
        graph.asDefault {
            _ = graph.device("/job:worker/task:0") { Variable(Float(1), name: "v") }
            _ = globalVariablesInitializer()
        }
        return graph
    }
}
