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
}
