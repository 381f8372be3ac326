import Testing
import WeftProto
import WeftRuntime

@testable import Weft
@testable import WeftPlacement

/// Loops and conds that placement splits across devices: where the routing ops go, and the
/// control loops the partitioner adds so every device runs each iteration.
@Suite struct SplitControlFlowPlacementTests {
    static let devices = [DeviceName(job: "worker", task: 0), DeviceName(job: "worker", task: 1)]

    /// `x = tanh(x + 0.5)` ten times; with `bodyDevice` set, the tanh asks for that device while
    /// the rest of the loop asks for worker 0.
    static func loopGraph(bodyDevice: String? = nil) -> Graph {
        let graph = Graph()
        graph.asDefault {
            graph.device("/job:worker/task:0") {
                let x = placeholder(.float, shape: [], name: "x")
                let out = whileLoop(
                    [constant(Int32(0)), x],
                    name: "loop",
                    condition: { less($0[0], constant(Int32(10))) },
                    body: { values in
                        let next = graph.device(bodyDevice ?? "/job:worker/task:0") {
                            tanh(values[1] + constant(Float(0.5)), name: "body")
                        }
                        return [values[0] + constant(Int32(1)), next]
                    }
                )
                _ = identity(out[1], name: "result")
            }
        }
        return graph
    }

    @Test func loopsStayWhole_unlessDevicesOrTheOptionSplitThem() throws {
        let whole = try RuntimeGraph(nodes: Self.loopGraph().graphDef.node)
        let kept = try PlacementProblem(graph: whole, devices: Self.devices)
        let asked = try RuntimeGraph(nodes: Self.loopGraph(bodyDevice: "/job:worker/task:1").graphDef.node)
        let split = try PlacementProblem(graph: asked, devices: Self.devices)
        // The explicit request for worker 1 inside a loop asking for worker 0 splits it.
        let body = try #require(asked.index["loop/body"])
        let merge = try #require(asked.nodes.indices.first { asked.nodes[$0].info.op == "Merge" })
        #expect(split.groupOfNode[body] != split.groupOfNode[merge])
        #expect(split.groups.count > kept.groups.count)
        let optional = try PlacementProblem(graph: whole, devices: Self.devices, splitControlFlow: true)
        #expect(optional.groups.count > kept.groups.count)
    }

    @Test func splitRouting_keepsEnterAndNextIterationWithTheirMerge() throws {
        let runtime = try RuntimeGraph(nodes: Self.loopGraph().graphDef.node)
        let problem = try PlacementProblem(graph: runtime, devices: Self.devices, splitControlFlow: true)
        for (index, node) in runtime.nodes.enumerated() where ["Enter", "NextIteration"].contains(node.info.op) {
            let isConstant = (try? node.info.attributes.bool("is_constant", default: false)) == true
            guard !isConstant else { continue }
            let consumers = runtime.nodes.indices.filter { runtime.nodes[$0].dataInputs.contains { $0.node == index } }
            for consumer in consumers { #expect(problem.groupOfNode[consumer] == problem.groupOfNode[index]) }
        }
    }

    @Test func aSplitLoop_getsAControlLoopOnTheOtherDevice() throws {
        let graph = Self.loopGraph(bodyDevice: "/job:worker/task:1")
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let placement = try PlacementStrategies.place(runtime, on: Self.devices, strategy: ExplicitPlacement())
        #expect(placement["loop/body"] == Self.devices[1])
        let partitions = try Partitioner(graph: runtime, placement: placement).partition(
            RunSignature(feeds: [TensorName(node: "x", index: 0)], fetches: [TensorName(node: "result", index: 0)], targets: [])
        )
        let other = try #require(partitions[Self.devices[1]])
        let ops = other.nodes.map(\.op)
        for op in ["Enter", "Merge", "Switch", "NextIteration"] { #expect(ops.contains(op), "\(op)") }
        let merge = try #require(other.nodes.first { $0.op == "Merge" }).name
        // Every receive there runs once per iteration: the control loop's Merge starts it.
        let receives = other.nodes.filter { $0.op == "_Recv" }
        #expect(!receives.isEmpty)
        for receive in receives { #expect(receive.input == ["^" + merge]) }
        #expect(receives.allSatisfy { $0.attr[RecvAttributes.mayBeDead]?.b == true })
        // Both partitions load in the runtime as they are.
        for partition in partitions.values { _ = try RuntimeGraph(nodes: partition.nodes) }
    }

    @Test func receivesOutsideControlFlow_mayNotBeDead() throws {
        let graph = PlacementTests.psGraph()
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let placement = try PlacementStrategies.place(runtime, on: PlacementTests.devices, strategy: ExplicitPlacement())
        let partitions = try Partitioner(graph: runtime, placement: placement).partition(
            RunSignature(feeds: [TensorName(node: "x", index: 0)], fetches: [TensorName(node: "mul", index: 0)], targets: [])
        )
        let receives = partitions.values.flatMap(\.nodes).filter { $0.op == "_Recv" }
        #expect(!receives.isEmpty)
        #expect(receives.allSatisfy { $0.attr[RecvAttributes.mayBeDead] == nil && $0.input.isEmpty })
    }
}
