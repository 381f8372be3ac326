import Foundation
import Testing
import WeftProto
import WeftRuntime

@testable import Weft

@Suite struct SessionTests {
    /// The seed: 13, then an uninitialized read in a second session, then 42 in a third.
    @Test func seed_sessionsNeverShareState() throws {
        let graph = Graph()
        let (variable, initialize, assign) = graph.asDefault {
            let variable = Variable(42, name: "foo")
            return (variable, globalVariablesInitializer(), variable.assign(13))
        }
        try Session(graph: graph).run { session in
            try session.run(initialize)
            try session.run(assign)
            #expect(try session.run(variable).scalar(as: Int32.self) == 13)
        }
        try Session(graph: graph).run { session in
            let error = try #require(throws: WeftError.self) { try session.run(variable) }
            #expect(error == WeftError(.failedPrecondition, "Attempting to use uninitialized value foo"))
        }
        try Session(graph: graph).run { session in
            try session.run(initialize)
            #expect(try session.run(variable).scalar(as: Int32.self) == 42)
        }
    }

    @Test func twoOpenSessions_keepSeparateValues() throws {
        let graph = Graph()
        let (variable, initialize, bump) = graph.asDefault {
            let variable = Variable(Int32(0), name: "counter")
            return (variable, globalVariablesInitializer(), variable.assignAdd(Int32(1)))
        }
        let first = Session(graph: graph)
        let second = Session(graph: graph)
        try first.run(initialize)
        try second.run(initialize)
        for _ in 0..<3 { try first.run(bump) }
        try second.run(bump)
        #expect(try first.run(variable).scalar(as: Int32.self) == 3)
        #expect(try second.run(variable).scalar(as: Int32.self) == 1)
        first.close()
        #expect(try second.run(variable).scalar(as: Int32.self) == 1)
        #expect(throws: WeftError(.failedPrecondition, "Attempted to use a closed Session.")) {
            try first.run(variable)
        }
    }

    @Test func tensorsOfAnotherGraph_areRefusedAsFetchesAndFeeds() throws {
        let graph = Graph()
        let other = Graph()
        let (input, doubled) = graph.asDefault { () -> (Output, Output) in
            let input = placeholder(.float, shape: [], name: "x")
            return (input, input * constant(Float(2)))
        }
        let stranger = other.asDefault { constant(Float(1), name: "stranger") }
        let session = Session(graph: graph)
        let message = "the tensor 'stranger:0' belongs to another graph than this session's"
        #expect(throws: WeftError(.invalidArgument, message)) { try session.run(stranger) }
        #expect(throws: WeftError(.invalidArgument, message)) {
            try session.run(doubled, feeding: [input: Tensor(Float(3)), stranger: Tensor(Float(1))])
        }
        #expect(try session.run(doubled, feeding: [input: Tensor(Float(3))]).scalar(as: Float.self) == 6)
    }

    @Test func fetchForms_oneListAndDictionary() throws {
        let graph = Graph()
        let (a, b, c) = graph.asDefault { () -> (Output, Output, Output) in
            let a = constant(Float(2))
            let b = constant(Float(3))
            return (a, b, a * b)
        }
        let session = Session(graph: graph)
        #expect(try session.run(c).scalar(as: Float.self) == 6)
        #expect(try session.run([a, b, c]).map { $0.scalar(as: Float.self) } == [2, 3, 6])
        let named = try session.run(["product": c, "a": a] as [String: any Fetchable])
        #expect(named["product"]?.scalar(as: Float.self) == 6)
        #expect(named["a"]?.scalar(as: Float.self) == 2)
    }

    @Test func feeds_replacePlaceholdersAndAnyTensor() throws {
        let graph = Graph()
        let (x, doubled, plusOne) = graph.asDefault { () -> (Output, Output, Output) in
            let x = placeholder(.float, shape: [nil, 2], name: "x")
            let doubled = x * 2
            return (x, doubled, doubled + 1)
        }
        let session = Session(graph: graph)
        let input = try Tensor([Float(1), 2, 3, 4], shape: [2, 2])
        #expect(try session.run(plusOne, feeding: [x: input]).scalars(as: Float.self) == [3, 5, 7, 9])
        // Feeding an intermediate tensor cuts the graph there: x need not be fed.
        let override = try Tensor([Float(10), 10], shape: [1, 2])
        #expect(try session.run(plusOne, feeding: [doubled: override]).scalars(as: Float.self) == [11, 11])
    }

    @Test func badFeeds_getClearErrorsAndTheSessionStaysUsable() throws {
        let graph = Graph()
        let (x, y) = graph.asDefault { () -> (Output, Output) in
            let x = placeholder(.float, shape: [nil, 3], name: "x")
            return (x, x * 2)
        }
        let session = Session(graph: graph)
        let missing = try #require(throws: WeftError.self) { try session.run(y) }
        #expect(missing.code == .invalidArgument)
        #expect(missing.message == "You must feed a value for placeholder tensor 'x' with dtype float and shape [?,3]")

        let wrongType = try #require(throws: WeftError.self) {
            try session.run(y, feeding: [x: Tensor([Int32(1), 2, 3])])
        }
        #expect(wrongType.code == .invalidArgument)
        #expect(wrongType.message.contains("int32"))

        let wrongShape = try #require(throws: WeftError.self) {
            try session.run(y, feeding: [x: Tensor([Float(1), 2])])
        }
        #expect(wrongShape.code == .invalidArgument)
        #expect(wrongShape.message.contains("[?,3]"))

        let unknown = try #require(throws: WeftError.self) { try session.run(fetches: ["nope:0"]) }
        #expect(unknown.code == .notFound)
        #expect(unknown.message.contains("nope"))

        let good = try Tensor([Float(1), 2, 3], shape: [1, 3])
        #expect(try session.run(y, feeding: [x: good]).scalars(as: Float.self) == [2, 4, 6])
    }

    @Test func pruning_runsOnlyWhatTheFetchNeeds() throws {
        let graph = Graph()
        let (variable, initialize, bump, unrelated) = graph.asDefault {
            let variable = Variable(Int32(0), name: "v")
            let bump = variable.assignAdd(Int32(1))
            let unrelated = constant(Int32(5)) + constant(Int32(6))
            return (variable, globalVariablesInitializer(), bump, unrelated)
        }
        let session = Session(graph: graph)
        try session.run(initialize)
        _ = bump
        #expect(try session.run(unrelated).scalar(as: Int32.self) == 11)
        #expect(try session.run(variable).scalar(as: Int32.self) == 0)
    }

    @Test func runMetadata_timesEveryNodeThatRan() throws {
        let graph = Graph()
        let (x, y) = graph.asDefault { () -> (Output, Output) in
            let x = placeholder(.float, shape: [2, 2], name: "x")
            return (x, matMul(x, x, name: "square") + constant(Float(1), name: "one"))
        }
        let session = Session(graph: graph)
        var metadata = RunMetadata()
        let value = try session.run(
            [y],
            feeding: [x: try Tensor([Float(1), 2, 3, 4], shape: [2, 2])],
            metadata: &metadata
        )
        #expect(try value[0].scalars(as: Float.self) == [8, 11, 16, 23])
        let ran = Dictionary(uniqueKeysWithValues: metadata.stepStatistics.nodes.map { ($0.node, $0) })
        #expect(Set(ran.keys) == ["square", "one", y.operation.name], "the fed placeholder does not run")
        #expect(ran["square"]?.op == "MatMul")
        #expect(ran["square"]?.outputBytes == 16)
        #expect(ran.values.allSatisfy { $0.duration >= .zero && $0.start >= .zero })
        #expect(metadata.stepStatistics.tensorsSent == 0)
        let optimized = try #require(metadata.partitionGraphs.first)
        #expect(metadata.partitionGraphs.count == 1)
        #expect(Set(optimized.node.map(\.name)) == ["x", "square", "one", y.operation.name])
        #expect(optimized.node.first { $0.name == "x" }?.op == "Placeholder")

        var untouched = RunMetadata()
        untouched.stepStatistics.tensorsSent = 7
        _ = try session.run(
            fetches: [y.name],
            feeds: [x.name: try Tensor([Float(0), 0, 0, 0], shape: [2, 2])],
            metadata: &untouched
        )
        #expect(untouched.stepStatistics.tensorsSent == 0 && untouched.stepStatistics.nodes.count == 3)
    }

    @Test func controlDependencies_orderEffects() throws {
        let graph = Graph()
        let (initialize, read) = graph.asDefault { () -> (Weft.Operation, Output) in
            let variable = Variable(Int32(10), name: "counter")
            let bump = variable.assignAdd(Int32(5))
            let read = graph.controlDependencies(on: [bump.operation]) { identity(variable.output, name: "after") }
            return (globalVariablesInitializer(), read)
        }
        let session = Session(graph: graph)
        try session.run(initialize)
        #expect(try session.run(read).scalar(as: Int32.self) == 15)
        #expect(try session.run(read).scalar(as: Int32.self) == 20)
    }

    @Test func cycle_isAnInvalidArgument() throws {
        var a = Tensorflow_NodeDef()
        a.name = "a"
        a.op = "Identity"
        a.input = ["b"]
        a.attr["T"] = .type(.float)
        var b = a
        b.name = "b"
        b.input = ["a"]
        var graphDef = Tensorflow_GraphDef()
        graphDef.node = [a, b]
        let error = try #require(throws: WeftError.self) { try Graph(graphDef: graphDef) }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("cycle"))

        // A cycle through control edges only is caught when a step needs it.
        var c = Tensorflow_NodeDef()
        c.name = "c"
        c.op = "NoOp"
        c.input = ["^d"]
        var d = c
        d.name = "d"
        d.input = ["^c"]
        graphDef.node = [c, d]
        let graph = try Graph(graphDef: graphDef)
        let controlCycle = try #require(throws: WeftError.self) {
            try Session(graph: graph).run(fetches: [], targets: ["c"])
        }
        #expect(controlCycle.code == .invalidArgument)
        #expect(controlCycle.message.contains("cycle"))
    }

    @Test func independentOps_runInParallel() throws {
        // Many independent MatMuls: correct results whatever the interleaving on the pool.
        let graph = Graph()
        let products = graph.asDefault {
            (0..<16).map { i in
                matMul(
                    constant(try! Tensor([Float](repeating: Float(i), count: 64 * 64), shape: [64, 64])),
                    constant(try! Tensor([Float](repeating: 1, count: 64 * 64), shape: [64, 64]))
                )
            }
        }
        let total = graph.asDefault { addN(products) }
        let session = Session(graph: graph)
        let values = try session.run(total).scalars(as: Float.self)
        #expect(values.allSatisfy { $0 == Float((0..<16).reduce(0, +) * 64) })
    }

    @Test func concurrentRuns_onOneSession() async throws {
        let graph = Graph()
        let (variable, initialize, bump) = graph.asDefault {
            let variable = Variable(Int64(0), name: "n")
            return (variable, globalVariablesInitializer(), variable.assignAdd(Int64(1)))
        }
        let session = Session(graph: graph)
        try await session.run(initialize)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { for _ in 0..<50 { try await session.run(bump) } }
            }
            try await group.waitForAll()
        }
        #expect(try await session.run(variable).scalar(as: Int64.self) == 400)
    }
}
