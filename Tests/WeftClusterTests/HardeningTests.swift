import Foundation
import Testing
import WeftProto
import WeftPlacement
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
            try Self.request(Self.measureLinks(roundTrips: roundTrips, payloadBytes: payloadBytes, peers: [peer]), to: worker.address)
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
        let session = try Session(target: cluster.address, graph: graph, options: RemoteSessionOptions(strategy: strategy))
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
}
