import Foundation
import Testing
import WeftRuntime
import WeftTestKit

@testable import Weft
@testable import WeftCluster

/// In-graph replication on a cluster: towers on two workers, their gradients averaged on the ps.
@Suite(.serialized) struct ReplicationTests {
    static let cluster: LocalCluster = try! LocalCluster(jobs: JobCounts(parsing: "ps=1,worker=2"))

    @Test func towersOnTwoWorkers_averageOnThePS_likeTheWholeBatch() throws {
        let graph = Graph()
        let x: [Float] = (0..<24).map { Float(($0 * 5) % 7) - 3 }
        let y: [Float] = (0..<8).map { Float($0 % 3) }
        let (towers, whole, weights, train) = try graph.asDefault {
            let weights = graph.device("/job:ps/task:0") { Variable([[Float(0.5)], [-1], [2]], name: "weights") }
            func loss(_ rows: Range<Int>) throws -> Output {
                let features = constant(
                    try Tensor(Array(x[(rows.lowerBound * 3)..<(rows.upperBound * 3)]), shape: [rows.count, 3])
                )
                let targets = constant(try Tensor(Array(y[rows]), shape: [rows.count, 1]))
                return mean(square(matMul(features, weights.value) - targets))
            }
            let towers = try graph.replicate(over: ["/job:worker/task:0", "/job:worker/task:1"]) {
                (index) throws(WeftError) -> Output in
                do { return try loss(index * 4..<(index + 1) * 4) } catch { throw WeftError(.internal, "\(error)") }
            }
            let whole = try graph.device("/job:worker/task:0") {
                try graph.gradients(of: loss(0..<8), with: weights.output)
            }
            let train = GradientDescentOptimizer(learningRate: 0.1).applyGradients(towers.gradients)
            return (towers, whole, weights, train)
        }
        let averaged = try #require(towers.gradients.first?.0).densified
        #expect(averaged.operation.device == "/job:ps/task:0")
        #expect(towers.losses.map(\.operation.device) == ["/job:worker/task:0", "/job:worker/task:1"])
        #expect(towers.losses[0].operation.name.hasPrefix("tower_0/"))
        let session = try Session(target: Self.cluster.address, graph: graph)
        defer { session.close() }
        try session.run(graph.asDefault { globalVariablesInitializer() })
        let values = try session.run([averaged, try #require(whole)])
        let (got, want) = (values[0].doubleValues, values[1].doubleValues)
        #expect(
            got.count == 3 && zip(got, want).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) },
            "\(got) vs \(want)"
        )
        var metadata = RunMetadata()
        try session.run([], targets: [train], metadata: &metadata)
        let stepped = try session.run(weights).doubleValues
        let expected = zip([0.5, -1, 2], want).map { $0 - 0.1 * $1 }
        #expect(zip(stepped, expected).allSatisfy { abs($0 - $1) <= 1e-5 }, "\(stepped) vs \(expected)")
        // One gradient per variable crosses from each worker to the ps, where the towers' sum runs.
        let sends = metadata.stepStatistics.nodes.filter { $0.op == "_Send" && $0.device.hasPrefix("/job:worker") }
        #expect(sends.count == 2, "\(sends.map(\.node))")
        #expect(Set(sends.map(\.device)) == ["/job:worker/task:0", "/job:worker/task:1"], "\(sends.map(\.node))")
        let sums = metadata.stepStatistics.nodes.filter { $0.op == "AddN" }
        #expect(!sums.isEmpty && sums.allSatisfy { $0.device == "/job:ps/task:0" }, "\(sums.map(\.device))")
    }

    @Test func embeddingRows_areAveragedAsRows_andOnlyTheRowsUsedMove() throws {
        let graph = Graph()
        let ids: [[Int32]] = [[0, 2, 2], [2, 3]]
        let (towers, table, train) = try graph.asDefault {
            let table = graph.device("/job:ps/task:0") {
                Variable([[Float(1), 2], [3, 4], [5, 6], [7, 8], [9, 10]], name: "embedding")
            }
            let towers = try graph.replicate(over: ["/job:worker/task:0", "/job:worker/task:1"]) {
                (index) throws(WeftError) -> Output in
                let rows = OpBuilder.gather(table.value, constant(ids[index]), axis: constant(Int32(0)))
                return sum(square(rows)) * 0.5
            }
            let train = GradientDescentOptimizer(learningRate: 0.1).applyGradients(towers.gradients)
            return (towers, table, train)
        }
        guard case .sparse(let rows) = try #require(towers.gradients.first?.0) else {
            Issue.record("the towers' rows were averaged dense")
            return
        }
        #expect(rows.values.operation.device == "/job:ps/task:0")
        let session = try Session(target: Self.cluster.address, graph: graph)
        defer { session.close() }
        try session.run(graph.asDefault { globalVariablesInitializer() })
        try session.run([], targets: [train])
        // d/dw of ½Σw² over the rows a tower gathered is w once per gather; the average halves it.
        let start: [[Float]] = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]
        let uses: [Float] = [1, 0, 3, 1, 0]
        let expected = zip(start, uses).flatMap { row, used in row.map { $0 - 0.1 * used * $0 / 2 } }
        let stepped = try session.run(table).scalars(as: Float.self)
        #expect(zip(stepped, expected).allSatisfy { abs($0 - $1) <= 1e-5 }, "\(stepped) vs \(expected)")
    }

    @Test func noDevices_isInvalidArgument() throws {
        let graph = Graph()
        let error = try #require(throws: WeftError.self) {
            try graph.replicate(over: []) { (_) throws(WeftError) -> Output in constant(Float(1)) }
        }
        #expect(error.code == .invalidArgument)
    }
}
