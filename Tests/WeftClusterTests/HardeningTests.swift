import Foundation
import Testing
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTestKit
import WeftTransport

@testable import Weft
@testable import WeftCluster

/// Messages and graphs a hostile or careless peer sends to real `weft` processes: each gets a
/// clear error, and every process keeps serving.
@Suite(.serialized) struct HardeningTests {
    /// A MEASURE_LINKS request whose sizes a worker cannot honour.
    private static func measureLinks(
        roundTrips: UInt32,
        payloadBytes: UInt64,
        peers: [Weft_PeerAddress] = []
    ) -> WireMessage {
        .make(.measureLinks) { envelope in
            envelope.measureLinks = .with {
                $0.peers = peers
                $0.roundTrips = roundTrips
                $0.payloadBytes = payloadBytes
            }
        }
    }

    private static func request(_ message: WireMessage, to address: String) throws(WeftError) -> WireMessage {
        try ClientConnection.shared.get().request(message, to: address, timeout: .seconds(10))
    }

    /// Waits until the coordinator lists `count` healthy workers.
    private static func waitForWorkers(_ count: Int, coordinator: String) throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while (try? ClusterClient.status(coordinator: coordinator))?.workers.filter(\.healthy).count != count {
            guard ContinuousClock.now < deadline else {
                throw WeftError(.deadlineExceeded, "\(count) workers did not register within 10 s")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    @Test(arguments: [(UInt32(1), UInt64.max), (UInt32(1), UInt64(1) << 40), (UInt32.max, UInt64(1))])
    func measureLinks_hugeSizes_refusedByTheWorker(roundTrips: UInt32, payloadBytes: UInt64) throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let worker = cluster.members[1]
        let peer = Weft_PeerAddress.with {
            $0.device = "coordinator"
            $0.address = cluster.address
        }
        let error = try #require(throws: WeftError.self) {
            try Self.request(
                Self.measureLinks(roundTrips: roundTrips, payloadBytes: payloadBytes, peers: [peer]),
                to: worker.address
            )
        }
        #expect(error.code == .invalidArgument, "\(error)")
        #expect(error.message.contains("MEASURE_LINKS"), "\(error)")
        try ClusterClient.ping(worker.address)
    }

    @Test func measureLinks_hugeSize_refusedByTheCoordinator_workersLive() throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "worker=2"))
        defer { cluster.stop() }
        try Self.waitForWorkers(2, coordinator: cluster.address)
        for _ in 0..<2 {
            let error = try #require(throws: WeftError.self) {
                try Self.request(Self.measureLinks(roundTrips: 1, payloadBytes: 1 << 40), to: cluster.address)
            }
            #expect(error.code == .invalidArgument, "\(error)")
        }
        for member in cluster.members { try ClusterClient.ping(member.address) }
        let status = try ClusterClient.status(coordinator: cluster.address)
        #expect(status.workers.count == 2 && status.workers.allSatisfy(\.healthy))
    }

    /// A graph whose one Const on the worker declares `dimensions` with a single value.
    private static func constGraph(_ dimensions: [Int64]) throws -> Graph {
        let dims = dimensions.map { "dim { size: \($0) }" }.joined(separator: " ")
        return try Graph(
            graphDefText: """
                node {
                  name: "huge" op: "Const" device: "/job:worker/task:0"
                  attr { key: "dtype" value { type: DT_FLOAT } }
                  attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { \(dims) } float_val: 1 } } }
                }
                """
        )
    }

    @Test(
        arguments: [[100_000, 100_000], [Int64(1) << 62, Int64(1) << 62]] as [[Int64]],
        PlacementStrategies.all.map(\.name)
    )
    func hugeConst_refusedNamingTheNode_processesServeOn(dimensions: [Int64], strategy: String) throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let graph = try Self.constGraph(dimensions)
        let session = try Session(
            target: cluster.address,
            graph: graph,
            options: RemoteSessionOptions(strategy: strategy)
        )
        let error = try #require(throws: WeftError.self) { try session.run(graph.tensor(named: "huge:0")) }
        #expect(error.code == .resourceExhausted, "\(error)")
        #expect(error.message.contains("huge"), "\(error)")
        let small = Graph()
        let value = small.asDefault { small.device("/job:worker/task:0") { constant(Float(2)) + 1 } }
        #expect(try Session(target: cluster.address, graph: small).run(value).scalar(as: Float.self) == 3)
        #expect(try ClusterClient.status(coordinator: cluster.address).workers.allSatisfy(\.healthy))
    }

    /// A coordinator and one worker whose tensors may hold at most `memoryLimit`.
    private static func budgetedCluster(memoryLimit: String) throws -> (coordinator: String, processes: [Process]) {
        let coordinator = try ProcessCluster.launch(
            Fixtures.weftExecutable,
            ["coordinator", "--listen", "tcp://127.0.0.1:0", "--exit-with-parent"]
        )
        do {
            let worker = try ProcessCluster.launch(
                Fixtures.weftExecutable,
                [
                    "worker", "--listen", "tcp://127.0.0.1:0", "--coordinator", coordinator.address, "--job", "worker",
                    "--task", "0", "--memory-limit", memoryLimit, "--exit-with-parent",
                ]
            )
            return (coordinator.address, [coordinator.process, worker.process])
        } catch {
            coordinator.process.terminate()
            throw error
        }
    }

    /// `Fill` of a float tensor of two `dimensions` on the worker, named `filled`, and its sum, `total`.
    private static func fillGraph(_ dimensions: [Int]) throws -> Graph {
        let values = dimensions.map { "int_val: \($0)" }.joined(separator: " ")
        return try Graph(
            graphDefText: """
                node {
                  name: "dims" op: "Const" device: "/job:worker/task:0"
                  attr { key: "dtype" value { type: DT_INT32 } }
                  attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape { dim { size: \(dimensions.count) } } \(values) } } }
                }
                node {
                  name: "one" op: "Const" device: "/job:worker/task:0"
                  attr { key: "dtype" value { type: DT_FLOAT } }
                  attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { } float_val: 1 } } }
                }
                node {
                  name: "filled" op: "Fill" input: "dims" input: "one" device: "/job:worker/task:0"
                  attr { key: "T" value { type: DT_FLOAT } }
                  attr { key: "index_type" value { type: DT_INT32 } }
                }
                node {
                  name: "axes" op: "Const" device: "/job:worker/task:0"
                  attr { key: "dtype" value { type: DT_INT32 } }
                  attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 2 } } int_val: 0 int_val: 1 } } }
                }
                node {
                  name: "total" op: "Sum" input: "filled" input: "axes" device: "/job:worker/task:0"
                  attr { key: "T" value { type: DT_FLOAT } }
                  attr { key: "Tidx" value { type: DT_INT32 } }
                  attr { key: "keep_dims" value { b: false } }
                }
                """
        )
    }

    @Test func memoryLimit_stepPastTheBudgetFails_workerServesOn() throws {
        let (coordinator, processes) = try Self.budgetedCluster(memoryLimit: "64MiB")
        defer { for process in processes { process.terminate() } }
        // 4096 x 4096 floats are 64 MiB: past the budget with anything else alive.
        let huge = try Self.fillGraph([4096, 4096])
        let error = try #require(throws: WeftError.self) {
            try Session(target: coordinator, graph: huge).run(huge.tensor(named: "filled:0"))
        }
        #expect(error.code == .resourceExhausted, "\(error)")
        #expect(error.message.contains("filled") && error.message.contains("memory limit"), "\(error)")
        // 2048 x 2048 floats are 16 MiB: fits, and its bytes are given back after each step.
        let fits = try Self.fillGraph([2048, 2048])
        let session = try Session(target: coordinator, graph: fits)
        for _ in 0..<6 {
            #expect(try session.run(fits.tensor(named: "total:0")).scalar(as: Float.self) == 2048 * 2048)
        }
    }

    @Test func memoryLimit_constPastTheBudget_refusedNamingTheNode() throws {
        let (coordinator, processes) = try Self.budgetedCluster(memoryLimit: "16MiB")
        defer { for process in processes { process.terminate() } }
        let graph = try Self.constGraph([2048, 4096])  // 32 MiB
        let error = try #require(throws: WeftError.self) {
            try Session(target: coordinator, graph: graph).run(graph.tensor(named: "huge:0"))
        }
        #expect(error.code == .resourceExhausted, "\(error)")
        #expect(error.message.contains("huge"), "\(error)")
    }

    @Test(arguments: [
        ("512MiB", 512 << 20), ("4GiB", 4 << 30), ("2GB", 2_000_000_000), ("1048576", 1_048_576), ("1.5KiB", 1536),
        ("50%", 500),
    ])
    func memorySizes_parse(text: String, bytes: Int) throws {
        #expect(try ConfigByteSize.parse(text, physicalMemory: 1000) == bytes)
    }

    @Test(arguments: ["", "0", "-5MiB", "12XB", "150%", "1e300GiB", "nan", "MiB"])
    func memorySizes_malformed_refused(text: String) {
        #expect(throws: WeftError.self) { try ConfigByteSize.parse(text, physicalMemory: 1000) }
    }

    // MARK: The command line

    @Test func cli_workerThatCannotRegister_warnsWhyAndExitsAfterRegisterTimeout() throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        try Self.waitForWorkers(1, coordinator: cluster.address)
        // Task 0 is held by a live worker: the coordinator refuses, and says so.
        let start = ContinuousClock.now
        let (status, output) = try Fixtures.runWeft([
            "worker", "--listen", "tcp://127.0.0.1:0", "--coordinator", cluster.address, "--job", "worker", "--task",
            "0", "--register-timeout", "1",
        ])
        #expect(status == 1, "\(output)")
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(output.contains("warning") && output.contains("cannot register"), "\(output)")
        #expect(output.contains("held by a live worker"), "\(output)")
        #expect(output.components(separatedBy: "cannot register").count == 2, "one warning per reason: \(output)")
        #expect(output.contains("not registered within"), "\(output)")
    }

    @Test func cli_workerWithNoCoordinator_exitsAfterRegisterTimeout() throws {
        let (status, output) = try Fixtures.runWeft([
            "worker", "--listen", "tcp://127.0.0.1:0", "--coordinator", "tcp://127.0.0.1:1", "--register-timeout",
            "0.5",
        ])
        #expect(status == 1, "\(output)")
        #expect(output.contains("warning") && output.contains("tcp://127.0.0.1:1"), "\(output)")
    }

    @Test func cli_heartbeatFlags_refusedAsTheClusterFileIs() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("weft-heartbeat-\(UUID()).yaml")
        try """
        coordinator: { address: tcp://127.0.0.1:7070 }
        jobs: { worker: [tcp://127.0.0.1:7071] }
        heartbeat: { interval: 1000ms, timeout: 100ms }
        """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let check = try Fixtures.runWeft(["cluster", "check", "--config", file.path])
        let flags = try Fixtures.runWeft([
            "coordinator", "--listen", "tcp://127.0.0.1:0", "--heartbeat-timeout-ms", "100", "--heartbeat-interval-ms",
            "1000",
        ])
        let message =
            "100ms is less than two heartbeat intervals (1000ms); one late heartbeat would declare a healthy worker dead"
        #expect(check.status != 0 && check.output.contains(message), "\(check.output)")
        #expect(flags.status != 0 && flags.output.contains(message), "\(flags.output)")
    }

    @Test(arguments: [
        (["--task", "-5"], "--task must be 0 or more, not -5"),
        (["--task", "0", "--request-timeout-ms", "-3"], "--request-timeout-ms: '-3ms' is not a duration"),
        (["--task", "0", "--memory-limit", "lots"], "--memory-limit: 'lots' is not a memory size"),
        (["--task", "0", "--register-timeout", "-1"], "--register-timeout must be a positive number"),
        (
            ["--task", "0", "--advertise", "tcp://0.0.0.0:7071"],
            "--advertise: tcp://0.0.0.0:7071 names every interface"
        ),
    ])
    func cli_badWorkerFlags_clearErrors(flags: [String], message: String) throws {
        let (status, output) = try Fixtures.runWeft(
            ["worker", "--listen", "tcp://127.0.0.1:0", "--coordinator", "tcp://127.0.0.1:1"] + flags
        )
        #expect(status == 64, "\(output)")
        #expect(output.contains(message), "\(output)")
        #expect(!output.contains("Missing value"), "\(output)")
    }

    @Test func cli_clusterCheckOnABinaryFile_saysWhereItIsNotText() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("weft-binary-\(UUID()).yaml")
        try Data("coordinator:\n  address: tcp://127.0.0.1:7070\n".utf8 + [0x7F, 0x45, 0x4C, 0x46, 0xFF, 0x00]).write(
            to: file
        )
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, output) = try Fixtures.runWeft(["cluster", "check", "--config", file.path])
        #expect(status == 1, "\(output)")
        #expect(output.contains("\(file.path):3:5: byte 0xFF at offset 49 is not UTF-8 text"), "\(output)")
    }

    @Test func cli_conformanceCaseExpectingAValueBeyondInt32_reportsTheCase() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("weft-conformance-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try """
        node {
          name: "c" op: "Const"
          attr { key: "dtype" value { type: DT_INT32 } }
          attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape { } int_val: 5 } } }
        }
        """.write(to: folder.appendingPathComponent("beyond_int32.pbtxt"), atomically: true, encoding: .utf8)
        let expect = #"{"c:0": {"dtype": "int32", "shape": [], "values": [3000000000]}}"#
        try #"{"note": "", "sessions": [[{"fetches": ["c:0"], "expect": \#(expect)}]]}"#
            .write(to: folder.appendingPathComponent("beyond_int32.json"), atomically: true, encoding: .utf8)
        let (status, output) = try Fixtures.runWeft(["conformance", folder.path, "--local"])
        #expect(status != 0, "\(output)")
        #expect(output.contains("case beyond_int32: 3000000000.0 is not a int32 value"), "\(output)")
    }

    // MARK: Numbers in messages

    @Test(arguments: [Double.nan, -1, .infinity, 1e300])
    func measuredCosts_thatAreNoDuration_refusedByTheCoordinator(seconds: Double) throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let graph = Graph()
        _ = graph.asDefault { constant(Float(1)) }
        let request = WireMessage.make(.createSession) { envelope in
            envelope.createSession = .with {
                $0.graph = graph.graphDef
                $0.strategy = "profile"
                $0.measuredNodeSeconds = ["Const": seconds]
            }
        }
        let error = try #require(throws: WeftError.self) { try Self.request(request, to: cluster.address) }
        #expect(error.code == .invalidArgument, "\(error)")
        try ClusterClient.ping(cluster.address)
    }

    @Test(arguments: [Double.nan, -0.5, .infinity])
    func linkMeasurements_thatAreNoDuration_refused(latency: Double) {
        let reply = Weft_MeasureLinksReply.with {
            $0.links = [
                .with {
                    $0.source = "/job:worker/task:0"
                    $0.destination = "/job:worker/task:1"
                    $0.latencySeconds = latency
                }
            ]
        }
        #expect(throws: WeftError.self) { try LinkMeasurement.list(reply) }
    }

    // MARK: Sessions

    /// The sessions a worker reports holding, as its last heartbeat told the coordinator.
    private static func sessions(on device: String, coordinator: String) throws -> UInt32? {
        try ClusterClient.status(coordinator: coordinator).workers.first { "/job:\($0.job)/task:\($0.task)" == device }?
            .sessions
    }

    @Test func failedRegistrationOnOneWorker_closeFreesTheOthers() throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "worker=2"))
        defer { cluster.stop() }
        try Self.waitForWorkers(2, coordinator: cluster.address)
        // Task 0 registers its partition; task 1 refuses its constant, so the step fails.
        let graph = try Graph(
            graphDefText: """
                node {
                  name: "fine" op: "Const" device: "/job:worker/task:0"
                  attr { key: "dtype" value { type: DT_FLOAT } }
                  attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { } float_val: 1 } } }
                }
                node {
                  name: "huge" op: "Const" device: "/job:worker/task:1"
                  attr { key: "dtype" value { type: DT_FLOAT } }
                  attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { dim { size: 4611686018427387904 } } } } }
                }
                node { name: "sum" op: "AddV2" input: "fine" input: "huge" device: "/job:worker/task:0"
                  attr { key: "T" value { type: DT_FLOAT } } }
                """
        )
        let session = try Session(target: cluster.address, graph: graph)
        let error = try #require(throws: WeftError.self) { try session.run(graph.tensor(named: "sum:0")) }
        #expect(error.code == .resourceExhausted, "\(error)")
        let deadline = ContinuousClock.now + .seconds(5)
        while try Self.sessions(on: "/job:worker/task:0", coordinator: cluster.address) != 1,
            ContinuousClock.now < deadline
        {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(try Self.sessions(on: "/job:worker/task:0", coordinator: cluster.address) == 1)
        session.close()
        while try Self.sessions(on: "/job:worker/task:0", coordinator: cluster.address) != 0,
            ContinuousClock.now < deadline
        {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(try Self.sessions(on: "/job:worker/task:0", coordinator: cluster.address) == 0)
    }

    // MARK: Output counts

    /// A node of `op` whose `key` attribute asks for `count` outputs, with its inputs.
    private static func manyOutputs(op: String, key: String, count: Int64) -> [Tensorflow_NodeDef] {
        func constant(_ name: String, _ value: Tensor) -> Tensorflow_NodeDef {
            .with {
                $0.name = name
                $0.op = "Const"
                $0.attr["dtype"] = .with { $0.type = value.dtype.proto }
                $0.attr["value"] = .with { $0.tensor = value.proto }
            }
        }
        let node = Tensorflow_NodeDef.with {
            $0.name = "many"
            $0.op = op
            $0.input = op == "Split" ? ["axis", "values"] : ["values", "partitions"]
            $0.attr[key] = .with { $0.i = count }
            $0.attr["T"] = .with { $0.type = .dtFloat }
        }
        return [
            constant("axis", Tensor(Int32(0))), constant("values", Tensor([Float(1), 2])),
            constant("partitions", Tensor([Int32(0), 0])), node,
        ]
    }

    @Test(arguments: [("Split", "num_split"), ("DynamicPartition", "num_partitions")])
    func hugeOutputCount_refusedByTheCoordinator(op: String, key: String) throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let request = WireMessage.make(.createSession) { envelope in
            envelope.createSession = .with { $0.graph.node = Self.manyOutputs(op: op, key: key, count: 1 << 40) }
        }
        let error = try #require(throws: WeftError.self) { try Self.request(request, to: cluster.address) }
        #expect(error.code == .invalidArgument, "\(error)")
        #expect(error.message.contains("many") && error.message.contains(key), "\(error)")
        try ClusterClient.ping(cluster.address)
    }
}
