import Testing
import WeftProto
@testable import WeftRuntime

/// Constant folding in step plans: what depends only on constants is computed once when the plan
/// is built; as in TensorFlow, a folded node that the step reads runs as a constant of its own
/// name, the nodes behind it leave the plan, and nothing else changes.
@Suite struct ConstantFoldingTests {
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

    private func float() -> [String: Tensorflow_AttrValue] { ["T": .with { $0.type = .dtFloat }] }

    /// `a + b` of constants, times a placeholder `x`.
    private func graph() throws -> RuntimeGraph {
        try RuntimeGraph(
            nodes: [
                const("a", Tensor([Float(1), 2])),
                const("b", Tensor([Float(10), 20])),
                node("sum", "AddV2", ["a", "b"], float()),
                node("x", "Placeholder", [], ["dtype": .with { $0.type = .dtFloat }]),
                node("product", "Mul", ["sum", "x"], float()),
            ],
            registry: .standard
        )
    }

    private func run(_ plan: StepPlan, _ feeds: [Tensor]) throws(WeftError) -> [Tensor] {
        try plan.run(feeds: feeds, step: StepContext(id: 1, resources: ResourceContainer()))
    }

    @Test func constantSubgraphs_foldAway_andValuesStayTheSame() throws {
        let graph = try graph()
        let feeds = [TensorName(node: "x", index: 0)]
        let fetches = [TensorName(node: "product", index: 0), TensorName(node: "sum", index: 0)]
        let folded = try StepPlan(graph: graph, feeds: feeds, fetches: fetches, targets: [])
        let plain = try StepPlan(graph: graph, feeds: feeds, fetches: fetches, targets: [], optimizations: .none)
        #expect(Set(folded.nodeNames) == ["sum", "product"])
        #expect(Set(plain.nodeNames) == ["a", "b", "sum", "product"])
        let x = Tensor([Float(2), 3])
        let (a, b) = (try run(folded, [x]), try run(plain, [x]))
        #expect(try a.map { try $0.scalars(as: Float.self) } == [[22, 66], [11, 22]])
        #expect(try a.map { try $0.scalars(as: Float.self) } == b.map { try $0.scalars(as: Float.self) })
    }

    @Test func aFedTensor_isNotFolded() throws {
        let plan = try StepPlan(
            graph: graph(),
            feeds: [TensorName(node: "a", index: 0), TensorName(node: "x", index: 0)],
            fetches: [TensorName(node: "product", index: 0)],
            targets: []
        )
        #expect(Set(plan.nodeNames) == ["b", "sum", "product"])
        let fetched = try run(plan, [Tensor([Float(0), 0]), Tensor([Float(1), 1])])
        #expect(try fetched[0].scalars(as: Float.self) == [10, 20])
    }

    @Test func aKernelThatFails_failsInTheStep_withItsOwnError() throws {
        let graph = try RuntimeGraph(
            nodes: [
                const("v", Tensor([Float(1), 2, 3])),
                const("shape", Tensor([Int32(2), 2])),
                node("bad", "Reshape", ["v", "shape"], float()),
            ],
            registry: .standard
        )
        let plan = try StepPlan(graph: graph, feeds: [], fetches: [TensorName(node: "bad", index: 0)], targets: [])
        #expect(Set(plan.nodeNames) == ["v", "shape", "bad"])
        #expect { try run(plan, []) } throws: { ($0 as? WeftError)?.code == .invalidArgument }
    }

    @Test func aFillLargerThanTheFoldingLimit_runsInTheStep_withoutBeingComputedFirst() throws {
        // 16 MiB of floats: above the 10 MiB a folded value may hold.
        let graph = try RuntimeGraph(
            nodes: [
                const("dims", Tensor([Int64(4), 1 << 20])),
                const("one", Tensor(Float(1))),
                node("ones", "Fill", ["dims", "one"], ["T": .with { $0.type = .dtFloat }, "index_type": .with { $0.type = .dtInt64 }]),
            ],
            registry: .standard
        )
        let plan = try StepPlan(graph: graph, feeds: [], fetches: [TensorName(node: "ones", index: 0)], targets: [])
        #expect(Set(plan.nodeNames) == ["dims", "one", "ones"])
        let ones = try run(plan, [])[0]
        #expect(ones.shape == [4, 1 << 20])
        #expect(try ones.scalars(as: Float.self).allSatisfy { $0 == 1 })
    }

    @Test func theBytesAShapedOpWillOutput_areKnownBeforeItRuns() {
        let dims = Value.tensor(Tensor([Int32(1024), 1024]))
        #expect(ConstantFolding.announcedBytes("Fill", [dims, .tensor(Tensor(Float(0)))], dtype: .float) == 4 << 20)
        #expect(ConstantFolding.announcedBytes("BroadcastTo", [.tensor(Tensor(Double(0))), dims], dtype: .double) == 8 << 20)
        let tiled = Value.tensor(Tensor([Int8(1), 2, 3]))
        #expect(ConstantFolding.announcedBytes("Tile", [tiled, .tensor(Tensor([Int64(1000)]))], dtype: .int8) == 3000)
        let huge = Value.tensor(Tensor([Int64(1) << 40, 1 << 40]))
        #expect(ConstantFolding.announcedBytes("Fill", [huge, .tensor(Tensor(Float(0)))], dtype: .float) == .max)
        #expect(ConstantFolding.announcedBytes("AddV2", [dims, dims], dtype: .int32) == nil)
    }

    @Test func statefulOps_runEveryStep() throws {
        let graph = try RuntimeGraph(
            nodes: [
                const("shape", Tensor([Int32(4)])),
                node("random", "RandomUniform", ["shape"], ["dtype": .with { $0.type = .dtFloat }, "T": .with { $0.type = .dtInt32 }]),
            ],
            registry: .standard
        )
        let plan = try StepPlan(graph: graph, feeds: [], fetches: [TensorName(node: "random", index: 0)], targets: [])
        #expect(Set(plan.nodeNames) == ["shape", "random"])
        let first = try run(plan, [])[0].scalars(as: Float.self)
        let second = try run(plan, [])[0].scalars(as: Float.self)
        #expect(first != second)
    }
}
