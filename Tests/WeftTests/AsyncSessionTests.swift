import Testing
import WeftRuntime

@testable import Weft

/// `try await session.run(...)` on a local session: the same values as the synchronous form,
/// concurrent steps from many tasks, and a cancelled task's step ending with `cancelled`.
@Suite struct AsyncSessionTests {
    /// A `While` whose condition always holds, over an int32 counter.
    static let endlessLoop = """
        node { name: "start" op: "Const" attr { key: "dtype" value { type: DT_INT32 } }
          attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 0 } } } }
        node { name: "endless" op: "While" input: "start"
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

    @Test func everyForm_givesTheValuesOfTheSynchronousForm() async throws {
        let graph = Graph()
        let (x, doubled, variable, initialize) = graph.asDefault {
            let x = placeholder(.float, shape: [2], name: "x")
            let variable = Variable(Float(3), name: "v")
            return (x, x * constant(Float(2)), variable, globalVariablesInitializer())
        }
        let session = Session(graph: graph)
        defer { session.close() }
        try await session.run(initialize)
        let feed = Tensor([Float(1), 4])
        let typed = try await session.run([doubled, variable], feeding: [x: feed])
        #expect(typed == [Tensor([Float(2), 8]), Tensor(Float(3))])
        #expect(try await session.run(doubled, feeding: [x: feed]) == Tensor([Float(2), 8]))
        let keyed = try await session.run(["d": doubled as any Fetchable], feeding: [x: feed])
        #expect(keyed["d"] == Tensor([Float(2), 8]))
        let named = try await session.run(fetches: [doubled.tensorName.description], feeds: ["x:0": feed])
        #expect(named == [Tensor([Float(2), 8])])
        var metadata = RunMetadata()
        _ = try await session.run([doubled], feeding: [x: feed], metadata: &metadata)
        #expect(metadata.stepStatistics.nodes.contains { $0.node == doubled.operation.name })
    }

    @Test func concurrentAwaits_fromManyTasks_eachGetTheirOwnValues() async throws {
        let graph = Graph()
        let (x, squared) = graph.asDefault {
            let x = placeholder(.int64, shape: [], name: "x")
            return (x, x * x)
        }
        let session = Session(graph: graph)
        defer { session.close() }
        try await withThrowingTaskGroup(of: (Int64, Int64).self) { group in
            for value in Int64(0)..<64 {
                group.addTask { (value, try await session.run(squared, feeding: [x: Tensor(value)]).scalar(as: Int64.self) ?? -1) }
            }
            for try await (value, result) in group { #expect(result == value * value) }
        }
    }

    @Test func cancelledTask_endsItsStepWithCancelled_andTheSessionServesOn() async throws {
        let graph = try Graph(graphDefText: Self.endlessLoop)
        let session = Session(graph: graph)
        defer { session.close() }
        let endless = Task { () async throws(WeftError) -> [Tensor] in try await session.run(fetches: ["endless:0"]) }
        try await Task.sleep(for: .milliseconds(200))
        let cancelled = ContinuousClock.now
        endless.cancel()
        let failure = await #expect(throws: WeftError.self) { try await endless.value }
        #expect(failure?.code == .cancelled)
        #expect(ContinuousClock.now - cancelled < .seconds(10))
        #expect(try await session.run(fetches: ["start:0"]) == [Tensor(Int32(0))])
    }

    @Test func errors_keepTheirCodesAndMessages() async throws {
        let graph = Graph()
        let x = graph.asDefault { placeholder(.float, shape: [2], name: "x") }
        let session = Session(graph: graph)
        let unknown = #expect(throws: WeftError.self) { try session.run(fetches: ["nowhere:0"]) }
        let unknownAwaited = await #expect(throws: WeftError.self) { try await session.run(fetches: ["nowhere:0"]) }
        #expect(unknownAwaited == unknown)
        let unfed = #expect(throws: WeftError.self) { try session.run(x) }
        let unfedAwaited = await #expect(throws: WeftError.self) { try await session.run(x) }
        #expect(unfedAwaited?.code == .invalidArgument)
        #expect(unfedAwaited == unfed)
        session.close()
        let closed = await #expect(throws: WeftError.self) { try await session.run(x, feeding: [x: Tensor([Float(1), 2])]) }
        #expect(closed?.code == .failedPrecondition)
    }
}
