import Testing
import WeftPlacement
import WeftRuntime

@testable import Weft
@testable import WeftCluster

/// Every strategy's placement, run on a real cluster, fetches what a local session fetches.
@Suite(.serialized) struct StrategyClusterTests {
    /// The cluster of `LocalClusterTests`: one more in the process would only add threads.
    static var cluster: LocalCluster { LocalClusterTests.cluster }

    /// A two-layer network with variables, a training-like update and a reduction.
    static func network() -> (Graph, fetches: [Output], initialize: Weft.Operation, update: Output) {
        let graph = Graph()
        let built = graph.asDefault { () -> ([Output], Weft.Operation, Output) in
            let x = constant(try! Tensor((0..<32).map { Float($0) / 8 - 2 }, shape: [4, 8]), name: "x")  // 32 values
            // 64 values
            let w1 = Variable(try! Tensor((0..<64).map { Float($0 % 7) / 7 - 0.4 }, shape: [8, 8]), name: "w1")
            // 24 values
            let w2 = Variable(try! Tensor((0..<24).map { Float($0 % 5) / 5 - 0.3 }, shape: [8, 3]), name: "w2")
            let hidden = relu(matMul(x, w1.value))
            let logits = matMul(hidden, w2.value) + 0.5
            let probabilities = softmax(logits)
            let loss = mean(square(logits), name: "loss")
            let update = w1.assignSub(matMul(x, hidden, transposeA: true) * 0.01, name: "update")
            return ([probabilities, loss, sum(hidden, axes: [1])], globalVariablesInitializer(), update)
        }
        return (graph, built.0, built.1, built.2)
    }

    @Test(arguments: PlacementStrategies.all.map(\.name))
    func fetchedValues_equalTheLocalRun(strategy: String) throws {
        let (graph, fetches, initialize, update) = Self.network()
        func steps(_ session: Session) throws -> [[Float]] {
            try session.run(initialize)
            var values = try session.run(fetches).map { try $0.scalars(as: Float.self) }
            _ = try session.run(update)
            values += try session.run(fetches).map { try $0.scalars(as: Float.self) }
            return values
        }
        let local = try Session(graph: graph).run(steps)
        let remote = try Session(
            target: Self.cluster.address,
            graph: graph,
            options: RemoteSessionOptions(strategy: strategy)
        )
        .run(steps)
        #expect(local == remote, "\(strategy)")
    }
}
