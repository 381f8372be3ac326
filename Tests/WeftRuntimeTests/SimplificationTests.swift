import Testing
import WeftProto
import WeftRuntime

/// Common-subexpression elimination and arithmetic simplification in step plans: duplicate
/// nodes and nodes that only pass a tensor on leave the plan, and every fetched value stays
/// what the graph as written computes.
@Suite struct SimplificationTests {
    private func node(_ name: String, _ op: String, _ inputs: [String] = [], _ attrs: [String: Tensorflow_AttrValue] = [:]) -> Tensorflow_NodeDef {
        Tensorflow_NodeDef.with {
            $0.name = name
            $0.op = op
            $0.input = inputs
            $0.attr = attrs
        }
    }

    private func const(_ name: String, _ value: Tensor) -> Tensorflow_NodeDef {
        node(name, "Const", [], ["dtype": .with { $0.type = value.dtype.proto }, "value": .with { $0.tensor = value.proto }])
    }

    private func placeholder(_ name: String) -> Tensorflow_NodeDef {
        node(name, "Placeholder", [], ["dtype": .with { $0.type = .dtFloat }])
    }

    private let float: [String: Tensorflow_AttrValue] = ["T": .with { $0.type = .dtFloat }]

    private func plans(
        _ nodes: [Tensorflow_NodeDef],
        feeds: [String],
        fetches: [String],
        targets: [String] = []
    ) throws -> (simplified: StepPlan, plain: StepPlan) {
        let graph = try RuntimeGraph(nodes: nodes, registry: .standard)
        let feedNames = feeds.map { TensorName(node: $0, index: 0) }
        let fetchNames = try fetches.map { try TensorName(parsing: $0) }
        return (
            try StepPlan(graph: graph, feeds: feedNames, fetches: fetchNames, targets: targets),
            try StepPlan(graph: graph, feeds: feedNames, fetches: fetchNames, targets: targets, optimizations: .none)
        )
    }

    private func values(_ plan: StepPlan, _ feeds: [Tensor]) throws -> [[Float]] {
        try plan.run(feeds: feeds, step: StepContext(id: 1, resources: ResourceContainer())).map { try $0.scalars(as: Float.self) }
    }

    @Test func duplicateNodes_runOnce_andGiveTheSameValues() throws {
        let nodes = [
            placeholder("x"), placeholder("y"),
            node("sum", "AddV2", ["x", "y"], float), node("again", "AddV2", ["x", "y"], float),
            node("tanh", "Tanh", ["sum"], float), node("tanh_again", "Tanh", ["again"], float),
            node("product", "Mul", ["tanh", "tanh_again"], float),
        ]
        let (simplified, plain) = try plans(nodes, feeds: ["x", "y"], fetches: ["product"])
        #expect(Set(simplified.nodeNames) == ["sum", "tanh", "product"])
        #expect(plain.nodeNames.count == 5)
        let feeds = [Tensor([Float(0.5), -1]), Tensor([Float(0.25), 3])]
        #expect(try values(simplified, feeds) == values(plain, feeds))
    }

    @Test func identitiesAndArithmeticIdentities_leaveThePlan() throws {
        let nodes = [
            placeholder("x"), const("one", Tensor(Float(1))), const("zero", Tensor(Float(0))),
            node("copy", "Identity", ["x"], float), node("times_one", "Mul", ["one", "copy"], float),
            node("plus_zero", "AddV2", ["times_one", "zero"], float), node("minus_zero", "Sub", ["plus_zero", "zero"], float),
            node("over_one", "RealDiv", ["minus_zero", "one"], float), node("result", "Square", ["over_one"], float),
        ]
        let (simplified, plain) = try plans(nodes, feeds: ["x"], fetches: ["result"])
        #expect(simplified.nodeNames == ["result"])
        #expect(plain.nodeNames.count == 8)
        let feeds = [Tensor([Float(-2), 3, 0.5])]
        #expect(try values(simplified, feeds) == [[4, 9, 0.25]])
        #expect(try values(plain, feeds) == [[4, 9, 0.25]])
    }

    @Test func fetchedAndTargetNodes_stay_andBroadcastingConstantsAreKept() throws {
        let nodes = [
            placeholder("x"), const("ones", Tensor([Float(1), 1])), const("two", Tensor(Float(2))),
            node("copy", "Identity", ["x"], float),
            // Not x: the constant is not a scalar, so the product may broadcast x.
            node("broadcast", "Mul", ["copy", "ones"], float),
            // Not x: multiplying by 2.
            node("doubled", "Mul", ["broadcast", "two"], float),
        ]
        let (simplified, _) = try plans(nodes, feeds: ["x"], fetches: ["copy", "doubled"])
        #expect(Set(simplified.nodeNames) == ["copy", "broadcast", "doubled", "ones", "two"])
        #expect(try values(simplified, [Tensor(Float(3))]) == [[3], [6, 6]])
    }

    @Test func statefulNodes_areNeverMerged() throws {
        let shape = const("shape", Tensor([Int32(4)]))
        let random: [String: Tensorflow_AttrValue] = ["dtype": .with { $0.type = .dtFloat }, "T": .with { $0.type = .dtInt32 }]
        let nodes = [
            shape, node("first", "RandomUniform", ["shape"], random), node("second", "RandomUniform", ["shape"], random),
            node("difference", "Sub", ["first", "second"], float),
        ]
        let (simplified, _) = try plans(nodes, feeds: [], fetches: ["difference"])
        #expect(simplified.nodeNames.contains("first") && simplified.nodeNames.contains("second"))
        #expect(try values(simplified, []).first?.contains { $0 != 0 } == true)
    }

    @Test func aFedOutput_isNotReplacedByItsTwin() throws {
        let nodes = [
            placeholder("x"), placeholder("y"),
            node("fed", "AddV2", ["x", "y"], float), node("computed", "AddV2", ["x", "y"], float),
            node("product", "Mul", ["fed", "computed"], float),
        ]
        let graph = try RuntimeGraph(nodes: nodes, registry: .standard)
        let plan = try StepPlan(
            graph: graph,
            feeds: ["x", "y", "fed"].map { TensorName(node: $0, index: 0) },
            fetches: [TensorName(node: "product", index: 0)],
            targets: []
        )
        let result = try values(plan, [Tensor(Float(1)), Tensor(Float(2)), Tensor(Float(10))])
        #expect(result == [[30]])
    }

    @Test func aNoOpJoiningControlEdges_leavesThePlan_whenThatAddsNoEdges() throws {
        // `join` waits for two reads and is waited for by one node: 2 × 1 ≤ 2 + 1, so `result`
        // waits for the reads itself. `barrier` has three inputs and three consumers: it stays.
        let nodes = [
            placeholder("x"), node("a", "Neg", ["x"], float), node("b", "Abs", ["x"], float),
            node("join", "NoOp", ["^a", "^b"]), node("result", "Square", ["x", "^join"], float),
            node("c", "Exp", ["x"], float),
            node("barrier", "NoOp", ["^a", "^b", "^c"]),
            node("d", "Sin", ["x", "^barrier"], float), node("e", "Cos", ["x", "^barrier"], float),
            node("f", "Tanh", ["x", "^barrier"], float),
        ]
        let (simplified, plain) = try plans(nodes, feeds: ["x"], fetches: ["result", "d", "e", "f"])
        #expect(!simplified.nodeNames.contains("join"))
        #expect(simplified.nodeNames.contains("barrier"))
        #expect(plain.nodeNames.contains("join"))
        let result = try #require(simplified.optimizedGraph.node.first { $0.name == "result" })
        #expect(result.input == ["x", "^a", "^b"])
        let feeds = [Tensor([Float(-2), 0.5])]
        #expect(try values(simplified, feeds) == values(plain, feeds))
    }

    @Test func theOptimizedGraph_isWhatThePlanRuns_andRunsAlike() throws {
        let nodes = [
            placeholder("x"), const("two", Tensor(Float(2))), const("three", Tensor(Float(3))),
            node("six", "Mul", ["two", "three"], float), node("copy", "Identity", ["x"], float),
            node("scaled", "Mul", ["copy", "six"], float), node("again", "Mul", ["copy", "six"], float),
            node("result", "AddV2", ["scaled", "again"], float),
        ]
        let (simplified, _) = try plans(nodes, feeds: ["x"], fetches: ["result"])
        let optimized = simplified.optimizedGraph
        #expect(optimized.node.map(\.name).sorted() == ["result", "scaled", "six", "x"])
        let six = try #require(optimized.node.first { $0.name == "six" })
        #expect(six.op == "Const")
        #expect(try Tensor(proto: six.attr["value"]?.tensor ?? .init()).scalars(as: Float.self) == [6])
        #expect(optimized.node.first { $0.name == "x" }?.op == "Placeholder")
        #expect(optimized.node.first { $0.name == "scaled" }?.input == ["x", "six"])
        #expect(optimized.node.first { $0.name == "result" }?.input == ["scaled", "scaled"])

        // The optimized graph is a graph of its own: it loads and computes the same value.
        let reloaded = try StepPlan(
            graph: try RuntimeGraph(nodes: optimized.node, registry: .standard),
            feeds: [TensorName(node: "x", index: 0)],
            fetches: [TensorName(node: "result", index: 0)],
            targets: [],
            optimizations: .none
        )
        let feeds = [Tensor([Float(1), -0.5])]
        #expect(try values(reloaded, feeds) == [[12, -6]])
        #expect(try values(simplified, feeds) == [[12, -6]])
    }
}
