import Foundation
import Testing
import WeftRuntime
import WeftTestKit

@testable import Weft
@testable import WeftCluster

/// Checkpoints of a session on a cluster: a real coordinator and two workers in this process.
@Suite(.serialized) struct SaverClusterTests {
    static let cluster: LocalCluster = try! LocalCluster(jobs: JobCounts(parsing: "worker=2"))

    /// Variables on both workers, with an Adam step so their slots live there too.
    static func model() throws -> (Graph, Variable, Variable, Weft.Operation, Saver) {
        let graph = Graph()
        return try graph.asDefault {
            let a = graph.device("/job:worker/task:0") { Variable([Float(1), 2, 3], name: "a") }
            let b = graph.device("/job:worker/task:1") { Variable([[Float(4)], [5]], name: "b") }
            let loss = graph.device("/job:worker/task:0") { sum(a.value) + sum(square(b.value)) }
            let train = try AdamOptimizer(learningRate: 0.5).minimize(loss)
            return (graph, a, b, train, try Saver(sharded: true))
        }
    }

    @Test func shardedSaver_writesOneShardPerWorker_inParallel_andRestores() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("weft-cluster-saver-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (graph, a, b, train, saver) = try Self.model()
        let initialize = graph.asDefault { globalVariablesInitializer() }
        let prefix = directory + "/model-1"
        var trained: [Tensor] = []
        try Session(target: Self.cluster.address, graph: graph).run { session in
            try session.run(initialize)
            try session.run(train)
            trained = try session.run([a, b])
            var metadata = RunMetadata()
            let written = try session.run(
                [saver.saveTensor],
                feeding: [saver.filename: try Tensor(strings: [prefix], shape: .scalar)],
                metadata: &metadata
            )
            #expect(written[0].strings == [Array(prefix.utf8)])
            // Each worker ran the SaveV2 of its own variables.
            let saves = metadata.stepStatistics.nodes.filter { $0.op == "SaveV2" }
            #expect(Set(saves.map(\.device)) == ["/job:worker/task:0", "/job:worker/task:1"])
        }
        let reader = try TensorBundle.Reader(prefix: prefix)
        #expect(reader.header.numShards == 2)
        for name in ["a", "a/Adam", "a/Adam_1", "beta1_power", "beta2_power"] {
            #expect(reader.entries[name]?.shardID == 0, "\(name)")
        }
        for name in ["b", "b/Adam", "b/Adam_1"] { #expect(reader.entries[name]?.shardID == 1, "\(name)") }
        try Session(target: Self.cluster.address, graph: graph).run { session in
            try saver.restore(session, from: prefix)
            let restored = try session.run([a, b])
            #expect(restored == trained)
        }
    }
}
