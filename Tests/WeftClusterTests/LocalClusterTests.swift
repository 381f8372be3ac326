import Foundation
import Testing
import WeftPlacement
import WeftRuntime
import WeftTestKit

@testable import Weft
@testable import WeftCluster

/// A real coordinator and workers in this process, talking over ZeroMQ on loopback.
@Suite(.serialized) struct LocalClusterTests {
    static let cluster: LocalCluster = try! LocalCluster(jobs: JobCounts(parsing: "ps=1,worker=2"))

    static func seedGraph() -> (Graph, Variable, Weft.Operation, Output) {
        let graph = Graph()
        let (variable, initialize, assign) = graph.asDefault {
            let variable = graph.device("/job:ps/task:0") { Variable(42, name: "foo") }
            let value = graph.device("/job:worker/task:0") { constant(13, name: "assign/value") }
            return (variable, globalVariablesInitializer(), variable.assign(value, name: "assign"))
        }
        return (graph, variable, initialize, assign)
    }

    @Test func seed_distributed() throws {
        let (graph, variable, initialize, assign) = Self.seedGraph()
        try Session(target: Self.cluster.address, graph: graph).run { session in
            try session.run(initialize)
            try session.run(assign)
            #expect(try session.run(variable).scalar(as: Int32.self) == 13)
        }
        try Session(target: Self.cluster.address, graph: graph).run { session in
            #expect(throws: WeftError(.failedPrecondition, "Attempting to use uninitialized value foo")) {
                try session.run(variable)
            }
        }
        try Session(target: Self.cluster.address, graph: graph).run { session in
            try session.run(initialize)
            #expect(try session.run(variable).scalar(as: Int32.self) == 42)
        }
    }

    /// Sixty-four small tensors and a large one go from worker 1 to worker 0 in each step: the
    /// small ones share messages while one is unacknowledged, the large one goes alone, and the
    /// sum is a local session's, step after step.
    @Test func manyTensorsBetweenTwoWorkers_arriveWhetherBatchedOrNot() throws {
        let graph = Graph()
        let (x, total) = graph.asDefault {
            let x = placeholder(.float, shape: [], name: "x")
            let pieces = graph.device("/job:worker/task:1") {
                (0..<64).map { tanh(x * constant(Float($0) / 64)) }
                    + [fill([100_000], with: x)]
            }
            let total = graph.device("/job:worker/task:0") {
                addN(pieces.map { sum($0 * constant(Float(2))) }, name: "total")
            }
            return (x, total)
        }
        let local = Session(graph: graph)
        defer { local.close() }
        try Session(target: Self.cluster.address, graph: graph).run { session in
            for step in 0..<20 {
                let feeds = [x: Tensor(Float(step) / 10)]
                let expected = try local.run(total, feeding: feeds).scalar(as: Float.self)
                #expect(try session.run(total, feeding: feeds).scalar(as: Float.self) == expected)
            }
        }
    }

    @Test func twoSessionsOnTheSameWorkers_areIsolated() throws {
        let (graph, variable, initialize, assign) = Self.seedGraph()
        let first = try Session(target: Self.cluster.address, graph: graph)
        let second = try Session(target: Self.cluster.address, graph: graph)
        try first.run(initialize)
        try second.run(initialize)
        try first.run(assign)
        #expect(try first.run(variable).scalar(as: Int32.self) == 13)
        #expect(try second.run(variable).scalar(as: Int32.self) == 42)
        first.close()
        #expect(try second.run(variable).scalar(as: Int32.self) == 42)
        second.close()
    }

    @Test(arguments: PlacementStrategies.all.map(\.name))
    func conformanceCases_passDistributed(strategy: String) throws {
        let cases = try ConformanceCase.load(directory: Fixtures.conformance)
        for testCase in cases where testCase.name.hasPrefix(Fixtures.coreCasePrefix) {
            let result = testCase.run { graph in
                try Session(
                    target: Self.cluster.address,
                    graph: graph,
                    options: RemoteSessionOptions(strategy: strategy)
                )
            }
            #expect(result.failures == [], "\(testCase.name) with \(strategy)")
        }
    }

    @Test func unknownDevice_isAnInvalidArgumentListingDevices() throws {
        let graph = Graph()
        graph.asDefault { _ = graph.device("/job:ps/task:7") { constant(Float(1)) } }
        var options = RemoteSessionOptions()
        options.waitForWorkers = .milliseconds(200)
        let error = try #require(throws: WeftError.self) {
            try Session(target: Self.cluster.address, graph: graph, options: options)
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("/job:worker/task:1"))
    }

    @Test func extendingTheGraph_keepsVariablesWhereTheyAre() throws {
        let (graph, variable, initialize, _) = Self.seedGraph()
        let session = try Session(target: Self.cluster.address, graph: graph)
        defer { session.close() }
        try session.run(initialize)
        let doubled = graph.asDefault { graph.device("/job:worker/task:1") { variable.value * 2 } }
        #expect(try session.run(doubled).scalar(as: Int32.self) == 84)
    }

    @Test func feedsAndFetchesAcrossWorkers() throws {
        let graph = Graph()
        let (x, y) = graph.asDefault { () -> (Output, Output) in
            let x = graph.device("/job:worker/task:0") { placeholder(.float, shape: [2], name: "x") }
            let y = graph.device("/job:worker/task:1") { x * 3 }
            return (x, y)
        }
        let session = try Session(target: Self.cluster.address, graph: graph)
        defer { session.close() }
        let values = try session.run([y, x], feeding: [x: Tensor([Float(1), 2])])
        #expect(try values[0].scalars(as: Float.self) == [3, 6])
        #expect(try values[1].scalars(as: Float.self) == [1, 2])
        let missing = try #require(throws: WeftError.self) { try session.run(y) }
        #expect(missing.code == .invalidArgument)
    }

    /// A step deadline under a millisecond is still a deadline: the wire's whole milliseconds
    /// round it up to 1 ms rather than down to 0, which would mean none.
    @Test func subMillisecondStepTimeout_isADeadlineNotNone() throws {
        let graph = Graph()
        let (x, product) = graph.asDefault { () -> (Output, Output) in
            let x = graph.device("/job:worker/task:0") { placeholder(.float, shape: [512, 512], name: "x") }
            // Four 512³ products: tens of milliseconds, far beyond the deadline.
            let product = graph.device("/job:worker/task:0") { matMul(matMul(matMul(matMul(x, x), x), x), x) }
            return (x, product)
        }
        var options = RemoteSessionOptions()
        options.stepTimeout = .microseconds(500)
        let session = try Session(target: Self.cluster.address, graph: graph, options: options)
        defer { session.close() }
        let input = try Tensor([Float](repeating: 0.001, count: 512 * 512), shape: [512, 512])
        let error = try #require(throws: WeftError.self) { try session.run(product, feeding: [x: input]) }
        // The coordinator passes the deadline on as its request timeout to the worker, which the
        // transport reports as `unavailable` when it passes first (see IOLoop's timeouts).
        #expect(error.code == .deadlineExceeded || error.code == .unavailable, "\(error)")
    }

    @Test func runMetadata_countsTensorsPushedBetweenWorkers() throws {
        let graph = Graph()
        let product = graph.asDefault { () -> Output in
            let big = graph.device("/job:worker/task:0") {
                constant(try! Tensor([Float](repeating: 1, count: 1024), shape: [1024]), name: "big")
            }
            return graph.device("/job:worker/task:1") { sum(big * constant(Float(2)), name: "total") }
        }
        let session = try Session(target: Self.cluster.address, graph: graph)
        defer { session.close() }
        var metadata = RunMetadata()
        #expect(try session.run([product], metadata: &metadata)[0].scalar(as: Float.self) == 2048)
        let statistics = metadata.stepStatistics
        #expect(statistics.tensorsSent == 1)
        #expect(statistics.bytesSent == 4096)
        let devices = Dictionary(statistics.nodes.map { ($0.node, $0.device) }, uniquingKeysWith: { first, _ in first })
        #expect(devices["big"] == "/job:worker/task:0")
        #expect(devices["total"] == "/job:worker/task:1")
        #expect(statistics.nodes.contains { $0.op == "_Recv" && $0.device == "/job:worker/task:1" })
        // Each worker's graph after its optimizations: the product by two folded on worker 0
        // (`big * 2` is constant), sent to worker 1, which receives and sums it.
        let graphs = metadata.partitionGraphs
        #expect(graphs.count == 2)
        let ops = graphs.map { Set($0.node.map(\.op)) }
        #expect(ops.contains { $0.contains("_Send") && !$0.contains("Mul") })
        #expect(ops.contains { $0.contains("_Recv") && $0.contains("Sum") })
    }

    /// Once the coordinator has run a signature that lives on one worker, later steps go to
    /// that worker directly: the coordinator counts only the first, and feeds and fetches keep
    /// their order, including a fetch of a fed tensor, which the worker never sees.
    @Test func oneWorkerSteps_goStraightToTheWorker() throws {
        let graph = Graph()
        let (a, b, difference) = graph.asDefault { () -> (Output, Output, Output) in
            graph.device("/job:worker/task:1") {
                let a = placeholder(.float, shape: [2], name: "a")
                let b = placeholder(.float, shape: [2], name: "b")
                return (a, b, a - b)
            }
        }
        let backend = try RemoteSessionBackend(coordinator: Self.cluster.address, graph: graph)
        let session = Session(graph: graph, backend: backend)
        defer { session.close() }
        for round in 0..<3 {
            let x = Tensor([Float(10 * round), 5])
            let y = Tensor([Float(1), Float(round)])
            let values = try session.run([difference, b, a], feeding: [a: x, b: y])
            #expect(values == [Tensor([Float(10 * round - 1), Float(5 - round)]), y, x])
        }
        let status = try ClusterClient.status(coordinator: Self.cluster.address)
        #expect(status.sessions.first { $0.handle == backend.sessionHandle }?.steps == 1)
    }

    /// `x` fed on worker 0, doubled on worker 1, one added on the ps: three partitions whose
    /// tensors cross between workers; `checked` fails the step on worker 1 when `x` is NaN.
    static func threePartitionGraph() -> (Graph, x: Output, doubled: Output, total: Output) {
        let graph = Graph()
        let (x, doubled, total) = graph.asDefault { () -> (Output, Output, Output) in
            let x = graph.device("/job:worker/task:0") { placeholder(.float, shape: [2], name: "x") }
            let doubled = graph.device("/job:worker/task:1") {
                let checked = OpBuilder.node("CheckNumerics", [x], ["T": .type(.float), "message": .string("x")])
                return checked.output() * constant(Float(2))
            }
            return (x, doubled, graph.device("/job:ps/task:0") { doubled + constant(Float(1)) })
        }
        return (graph, x, doubled, total)
    }

    /// Runs `body` as a synchronous closure, so an async test calls a session's blocking `run`.
    private static func blocking<T>(_ body: () throws -> T) rethrows -> T { try body() }

    @Test func stepsOverSeveralWorkers_goStraightToThemOnceRouted() async throws {
        let (graph, x, doubled, total) = Self.threePartitionGraph()
        let backend = try RemoteSessionBackend(coordinator: Self.cluster.address, graph: graph)
        let session = Session(graph: graph, backend: backend)
        defer { session.close() }
        for round in 0..<4 {
            let input = Tensor([Float(round), 3])
            // Blocking and awaiting steps alike.
            let values =
                if round.isMultiple(of: 2) {
                    try Self.blocking { try session.run([total, doubled, x], feeding: [x: input]) }
                } else {
                    try await session.run([total, doubled, x], feeding: [x: input])
                }
            #expect(values == [Tensor([Float(2 * round + 1), 7]), Tensor([Float(2 * round), 6]), input])
        }
        let status = try ClusterClient.status(coordinator: Self.cluster.address)
        #expect(status.sessions.first { $0.handle == backend.sessionHandle }?.steps == 1)
    }

    @Test func aPartitionFailingInADirectStep_endsTheStepAtOnce_andTheNextAsksTheCoordinator() async throws {
        let (graph, x, _, total) = Self.threePartitionGraph()
        var options = RemoteSessionOptions()
        options.stepTimeout = .seconds(30)
        let backend = try RemoteSessionBackend(coordinator: Self.cluster.address, graph: graph, options: options)
        let session = Session(graph: graph, backend: backend)
        defer { session.close() }
        #expect(try Self.blocking { try session.run(total, feeding: [x: Tensor([Float(1), 2])]) } == Tensor([Float(3), 5]))
        // Routed now: worker 1 fails, and the ps, which waits for its tensor, is aborted rather
        // than left waiting for 30 seconds.
        let started = ContinuousClock.now
        #expect {
            try Self.blocking { try session.run(total, feeding: [x: Tensor([Float.nan, 2])]) }
        } throws: {
            ($0 as? WeftError)?.code == .invalidArgument
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(try await session.run(total, feeding: [x: Tensor([Float(2), 2])]) == Tensor([Float(5), 5]))
        let status = try ClusterClient.status(coordinator: Self.cluster.address)
        #expect(status.sessions.first { $0.handle == backend.sessionHandle }?.steps == 2)
    }

    @Test func measureLinks_measuresEachPairOfHostsOnce() throws {
        let links = try ClusterClient.measureLinks(
            coordinator: Self.cluster.address,
            roundTrips: 5,
            payloadBytes: 64 << 10
        )
        let devices = Set(Self.cluster.workers.compactMap(\.device))
        // Every worker here is on one host: one probe between two of them stands for all pairs.
        #expect(devices.count >= 2)
        #expect(links.count == 1)
        #expect(links.allSatisfy { $0.source != $0.destination && $0.latency > .zero && $0.bytesPerSecond > 0 })
        #expect(Set(links.flatMap { [$0.source, $0.destination] }).isSubset(of: devices))
    }

    /// Placement prices the cluster as measured: every worker's own compute rates (from its
    /// heartbeats) and the links between workers (measured after they registered).
    @Test func coordinatorCostModel_usesMeasuredRatesAndLinks() async throws {
        let devices = Self.cluster.workers.compactMap(\.device)
        let deadline = ContinuousClock.now + .seconds(10)
        var model = Self.cluster.coordinator.costModel()
        while ContinuousClock.now < deadline,
            devices.contains(where: { model.rates(of: $0) == CostModel.default.rates })
                || model.link(from: devices[0], to: devices[1]) == CostModel.default.link
        {
            try await Task.sleep(for: .milliseconds(100))
            model = Self.cluster.coordinator.costModel()
        }
        for device in devices { #expect(model.rates(of: device) != CostModel.default.rates, "\(device) has no rates") }
        #expect(model.link(from: devices[0], to: devices[1]) != CostModel.default.link)
    }

    @Test func memoryLimitTooSmall_isResourceExhausted() throws {
        let graph = Graph()
        graph.asDefault { _ = Variable(Tensor([Float](repeating: 1, count: 4096)), name: "big") }
        var options = RemoteSessionOptions(strategy: "load-balance")
        options.memoryLimit = 1024
        let error = try #require(throws: WeftError.self) {
            try Session(target: Self.cluster.address, graph: graph, options: options)
        }
        #expect(error.code == .resourceExhausted, "\(error)")
        options.memoryLimit = 1 << 20
        let session = try Session(target: Self.cluster.address, graph: graph, options: options)
        session.close()
    }

    @Test func concurrentSteps_onOneSession() async throws {
        let graph = Graph()
        let (variable, initialize, bump) = graph.asDefault {
            let variable = graph.device("/job:ps/task:0") { Variable(Int64(0), name: "n") }
            let one = graph.device("/job:worker/task:1") { constant(Int64(1)) }
            return (variable, globalVariablesInitializer(), variable.assignAdd(one))
        }
        let session = try Session(target: Self.cluster.address, graph: graph)
        defer { session.close() }
        try await session.run(initialize)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask { for _ in 0..<10 { try await session.run(bump) } }
            }
            try await group.waitForAll()
        }
        #expect(try await session.run(variable).scalar(as: Int64.self) == 40)
    }

    @Test func closingASession_freesItOnEveryWorker() throws {
        let (graph, _, initialize, _) = Self.seedGraph()
        let session = try Session(target: Self.cluster.address, graph: graph)
        try session.run(initialize)
        let hosting = Self.cluster.workers.filter { $0.sessionCount > 0 }
        #expect(!hosting.isEmpty)
        let before = hosting.map(\.sessionCount).reduce(0, +)
        session.close()
        let deadline = ContinuousClock.now + .seconds(3)
        while hosting.map(\.sessionCount).reduce(0, +) >= before && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(hosting.map(\.sessionCount).reduce(0, +) < before)
    }
}
