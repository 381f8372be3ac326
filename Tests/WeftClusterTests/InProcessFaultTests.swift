import Foundation
import Logging
import Synchronization
import Testing
import Weft
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

@testable import WeftCluster

/// A coordinator and workers on an `InProcessNetwork`: whole steps without sockets, with the
/// faults each failure rule is about injected exactly where it matters.
final class InProcessCluster: Sendable {
    let network = InProcessNetwork()
    let coordinator: Coordinator
    let workers: [Worker]

    init(
        workers count: Int,
        heartbeatTimeout: Duration = .milliseconds(400),
        logger: Logger = Logger(label: "weft.test.inprocess")
    ) throws {
        var configuration = Coordinator.Configuration(listen: "coordinator")
        configuration.heartbeatInterval = .milliseconds(50)
        configuration.heartbeatTimeout = heartbeatTimeout
        configuration.requestTimeout = .seconds(1)
        coordinator = Coordinator(configuration, transport: try network.endpoint("coordinator"), logger: logger)
        coordinator.start()
        let network = self.network
        workers = try (0..<count).map { task in
            try Self.worker(task, on: network, logger: logger)
        }
        for worker in workers { worker.start() }
        let deadline = ContinuousClock.now + .seconds(10)
        while workers.contains(where: { $0.device == nil }) && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
    }

    static func worker(_ task: Int, on network: InProcessNetwork, logger: Logger) throws -> Worker {
        Worker(
            .init(listen: "worker\(task)", coordinator: "coordinator", job: "worker", task: task),
            transport: try network.endpoint("worker\(task)"),
            logger: logger
        )
    }

    /// Options for a session on this network.
    func options(stepTimeout: Duration = .seconds(5)) throws -> RemoteSessionOptions {
        var options = RemoteSessionOptions()
        options.transport = try network.endpoint("client-\(UUID().uuidString)")
        options.stepTimeout = stepTimeout
        options.waitForWorkers = .seconds(2)
        return options
    }

    func stop() {
        for worker in workers { worker.stop() }
        coordinator.stop()
    }

    /// `sum` = `a` (on task 0) + `b` (on task 1): a step that needs both workers and a tensor
    /// between them, so it always goes through the coordinator.
    static let graphText = """
        node { name: "a" op: "Const" device: "/job:worker/task:0"
          attr { key: "dtype" value { type: DT_FLOAT } }
          attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 2 } } } }
        node { name: "b" op: "Const" device: "/job:worker/task:1"
          attr { key: "dtype" value { type: DT_FLOAT } }
          attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 3 } } } }
        node { name: "sum" op: "AddV2" input: "a" input: "b" device: "/job:worker/task:1"
          attr { key: "T" value { type: DT_FLOAT } } }
        """
}

@Suite(.serialized) struct InProcessFaultTests {
    func sum(_ session: Session) throws(WeftError) -> Float? {
        try session.run(fetches: ["sum:0"]).first?.scalar(as: Float.self)
    }

    @Test func healthyNetwork_runsSteps() throws {
        let cluster = try InProcessCluster(workers: 2)
        defer { cluster.stop() }
        try Session(target: "coordinator", graph: try Graph(graphDefText: InProcessCluster.graphText), options: try cluster.options())
            .run { (session: Session) throws in
                #expect(try sum(session) == 5)
                #expect(try sum(session) == 5)
            }
    }

    @Test func droppedRunPartitionReply_failsTheStepAtItsDeadline_andTheNextStepRuns() throws {
        let cluster = try InProcessCluster(workers: 2)
        defer { cluster.stop() }
        let graph = try Graph(graphDefText: InProcessCluster.graphText)
        try Session(target: "coordinator", graph: graph, options: try cluster.options(stepTimeout: .milliseconds(300)))
            .run { (session: Session) throws in
                #expect(try sum(session) == 5)
                cluster.network.inject(.drop, on: .reply(to: .runPartition), from: "worker1")
                let started = ContinuousClock.now
                let failure = #expect(throws: WeftError.self) { try sum(session) }
                #expect(failure?.code == .deadlineExceeded)
                #expect(failure?.message.contains("/job:worker/task:1") == true)
                #expect(ContinuousClock.now - started < .seconds(2))
                #expect(try sum(session) == 5)
            }
    }

    @Test func duplicateReplies_andDuplicateRuns_changeNothing() throws {
        let cluster = try InProcessCluster(workers: 2)
        defer { cluster.stop() }
        let graph = try Graph(graphDefText: InProcessCluster.graphText)
        try Session(target: "coordinator", graph: graph, options: try cluster.options()).run { (session: Session) throws in
            cluster.network.inject(.duplicate, on: .reply(to: .runPartition), times: 4)
            cluster.network.inject(.duplicate, on: .reply(to: .registerPartition), times: 2)
            #expect(try sum(session) == 5)
            #expect(try sum(session) == 5)
            // A RunPartition that arrives twice runs twice; the step's answer is the first.
            cluster.network.inject(.duplicate, on: .request(.runPartition), to: "worker0")
            #expect(try sum(session) == 5)
            #expect(try sum(session) == 5)
        }
    }

    @Test func delayedReply_withinTheDeadline_changesNothing() throws {
        let cluster = try InProcessCluster(workers: 2)
        defer { cluster.stop() }
        let graph = try Graph(graphDefText: InProcessCluster.graphText)
        try Session(target: "coordinator", graph: graph, options: try cluster.options(stepTimeout: .seconds(2)))
            .run { (session: Session) throws in
                cluster.network.inject(.delay(.milliseconds(200)), on: .reply(to: .runPartition), from: "worker0")
                #expect(try sum(session) == 5)
            }
    }

    @Test func droppedRegistrationReply_failsTheStep_andTheNextStepRegistersAgain() throws {
        let cluster = try InProcessCluster(workers: 2)
        defer { cluster.stop() }
        let graph = try Graph(graphDefText: InProcessCluster.graphText)
        cluster.network.inject(.drop, on: .reply(to: .registerPartition), from: "worker0")
        try Session(target: "coordinator", graph: graph, options: try cluster.options()).run { (session: Session) throws in
            let failure = #expect(throws: WeftError.self) { try sum(session) }
            #expect(failure?.code == .unavailable)
            #expect(failure?.message.contains("/job:worker/task:0") == true)
            #expect(try sum(session) == 5)
        }
    }

    @Test func cutWorker_isDeclaredDead_andTheStepInFlightFailsAtOnce() throws {
        let cluster = try InProcessCluster(workers: 2)
        defer { cluster.stop() }
        let graph = try Graph(graphDefText: InProcessCluster.graphText)
        // Every step through the coordinator, which watches the workers: a direct step would
        // reach worker 1, cut off from the coordinator only, and succeed.
        var options = try cluster.options(stepTimeout: .seconds(20))
        options.directRoutes = false
        try Session(target: "coordinator", graph: graph, options: options)
            .run { (session: Session) throws in
                #expect(try sum(session) == 5)
                cluster.network.cut("worker1", "coordinator")
                let started = ContinuousClock.now
                let failure = #expect(throws: WeftError.self) { try sum(session) }
                #expect(failure?.code == .unavailable)
                #expect(failure?.message.contains("/job:worker/task:1") == true)
                // Within the heartbeat timeout and a check or two, far from the step's 20 s.
                #expect(ContinuousClock.now - started < .seconds(3))
                let snapshot = cluster.coordinator.snapshot()
                #expect(snapshot.workers.first { $0.device == "/job:worker/task:1" }?.healthy == false)
                // Healed, it beats again and serves the session on.
                cluster.network.heal("worker1", "coordinator")
                let deadline = ContinuousClock.now + .seconds(5)
                while cluster.coordinator.snapshot().workers.contains(where: { !$0.healthy }),
                    ContinuousClock.now < deadline
                {
                    Thread.sleep(forTimeInterval: 0.02)
                }
                #expect(try sum(session) == 5)
            }
    }

    @Test func restartedWorker_breaksTheSessionsItHeld() throws {
        let cluster = try InProcessCluster(workers: 2)
        defer { cluster.stop() }
        let graph = try Graph(graphDefText: InProcessCluster.graphText)
        let restarted = Mutex<Worker?>(nil)
        defer { restarted.withLock { $0 }?.stop() }
        try Session(target: "coordinator", graph: graph, options: try cluster.options()).run { (session: Session) throws in
            #expect(try sum(session) == 5)
            cluster.workers[0].stop()
            let replacement = try InProcessCluster.worker(0, on: cluster.network, logger: Logger(label: "weft.test"))
            restarted.withLock { $0 = replacement }
            replacement.start()
            let deadline = ContinuousClock.now + .seconds(5)
            while replacement.device == nil && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.005) }
            let failure = #expect(throws: WeftError.self) { try sum(session) }
            #expect(failure?.code == .aborted)
            #expect(failure?.message.contains("restarted") == true)
        }
        // A new session runs on the new process.
        try Session(target: "coordinator", graph: graph, options: try cluster.options()).run { (session: Session) throws in
            #expect(try sum(session) == 5)
        }
    }
}

/// Placement that takes its time, as a min-cut over a large graph does.
struct SlowPlacement: PlacementStrategy {
    let name = "slow"
    let delay: Duration

    func place(_ problem: PlacementProblem) throws(WeftError) -> [DeviceName] {
        Thread.sleep(forTimeInterval: delay / .seconds(1))
        return try PlacementStrategies.named("explicit").place(problem)
    }
}

/// Keeps what a logger was told, so a test can tell what a process did.
final class CapturedLogs: Sendable {
    let messages = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "weft.test.captured") { _ in Handler(logs: self) }
    }

    struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            logs.messages.withLock { $0.append("\(event.message)") }
        }
    }
}

@Suite struct PlacementOffTheLockTests {
    @Test func slowExtension_whileHeartbeatsGoOn_declaresNoWorkerDead() async throws {
        let logs = CapturedLogs()
        let cluster = try InProcessCluster(workers: 2, heartbeatTimeout: .seconds(1), logger: logs.logger)
        defer { cluster.stop() }
        let nodes = try Graph(graphDefText: InProcessCluster.graphText).graphDef.node
        let graph = try RuntimeGraph(nodes: nodes)
        let devices = [DeviceName(job: "worker", task: 0), DeviceName(job: "worker", task: 1)]
        // Three heartbeat timeouts: under the lock, this would make both workers look dead.
        let strategy = SlowPlacement(delay: .seconds(3))
        let opened = cluster.coordinator.state.withLock { state in
            state.cluster.open(CoordinatorSession(
                handle: "slow",
                client: "c",
                owner: nil,
                strategy: strategy,
                options: PlacementOptions(),
                nodes: nodes,
                library: Tensorflow_FunctionDefLibrary(),
                graph: graph,
                placement: Dictionary(uniqueKeysWithValues: nodes.map { ($0.name, $0.name == "a" ? devices[0] : devices[1]) }),
                lease: .seconds(60),
                now: .now
            ))
        }
        #expect(opened)
        var envelope = Weft_Envelope()
        envelope.session = "slow"
        envelope.client = "c"
        envelope.extendSession.graph.node = [
            .with {
                $0.name = "c"
                $0.op = "NoOp"
                $0.device = "/job:worker/task:0"
            }
        ]
        let reply = try await cluster.coordinator.extendSession(envelope, caller: nil)
        #expect(reply.envelope.createSessionReply.placement.contains { $0.node == "c" })
        let workers = cluster.coordinator.snapshot().workers
        #expect(workers.count == 2 && workers.allSatisfy { $0.healthy })
        #expect(!logs.messages.withLock { $0 }.contains("worker declared dead"))
    }
}
