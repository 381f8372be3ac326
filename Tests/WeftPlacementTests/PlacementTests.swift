import Testing
import WeftProto
import WeftRuntime

@testable import Weft
@testable import WeftPlacement

@Suite struct PlacementTests {
    static let devices = [
        DeviceName(job: "ps", task: 0), DeviceName(job: "worker", task: 0), DeviceName(job: "worker", task: 1),
    ]

    static func psGraph() -> Graph {
        let graph = Graph()
        graph.asDefault {
            let w = graph.device("/job:ps/task:0") { Variable(Float(1), name: "w") }
            let x = graph.device("/job:worker/task:1") { placeholder(.float, shape: [], name: "x") }
            _ = x * w.value
            _ = w.assign(x, name: "update")
            _ = globalVariablesInitializer()
        }
        return graph
    }

    @Test(arguments: PlacementStrategies.all.map(\.name))
    func hardConstraints_holdForEveryStrategy(strategy: String) throws {
        let graph = Self.psGraph()
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let placement = try PlacementStrategies.place(
            runtime,
            on: Self.devices,
            strategy: try PlacementStrategies.named(strategy)
        )
        let ps = DeviceName(job: "ps", task: 0)
        for name in ["w", "w/Assign", "w/read", "w/initial_value", "update"] {
            #expect(placement[name] == ps, "\(name) must live with the variable")
        }
        #expect(placement["x"] == DeviceName(job: "worker", task: 1))
        #expect(placement.count == runtime.nodes.count)
    }

    @Test func unknownDevice_listsTheDevicesThereAre() throws {
        let graph = Graph()
        graph.asDefault { _ = graph.device("/job:gpu/task:3") { constant(Float(1), name: "c") } }
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let error = try #require(throws: WeftError.self) {
            try PlacementStrategies.place(runtime, on: Self.devices, strategy: ExplicitPlacement())
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("/job:gpu/task:3"))
        #expect(error.message.contains("/job:worker/task:1"))
    }

    @Test func explicit_followsInputsElseTheFirstDevice() throws {
        let graph = Graph()
        graph.asDefault {
            let a = graph.device("/job:worker/task:1") { constant(Float(1), name: "a") }
            _ = a + a
            _ = constant(Float(2), name: "lonely")
        }
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let placement = try PlacementStrategies.place(runtime, on: Self.devices, strategy: ExplicitPlacement())
        #expect(placement["add"] == DeviceName(job: "worker", task: 1))
        #expect(placement["lonely"] == DeviceName(job: "ps", task: 0))
    }

    @Test func roundRobin_spreadsOpenNodes() throws {
        let graph = Graph()
        graph.asDefault { for i in 0..<6 { _ = constant(Float(i), name: "c\(i)") } }
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let placement = try PlacementStrategies.place(runtime, on: Self.devices, strategy: RoundRobinPlacement())
        #expect(Set(placement.values).count == 3)
    }

    @Test func existingPlacement_isKept() throws {
        let graph = Graph()
        graph.asDefault { _ = constant(Float(1), name: "a") }
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let placement = try PlacementStrategies.place(
            runtime,
            on: Self.devices,
            strategy: ExplicitPlacement(),
            existing: ["a": DeviceName(job: "worker", task: 1)]
        )
        #expect(placement["a"] == DeviceName(job: "worker", task: 1))
    }
}

@Suite struct PartitionerTests {
    @Test func crossWorkerEdge_getsSendRecvPair() throws {
        let graph = PlacementTests.psGraph()
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let placement = try PlacementStrategies.place(
            runtime,
            on: PlacementTests.devices,
            strategy: ExplicitPlacement()
        )
        let partitions = try Partitioner(graph: runtime, placement: placement).partition(
            RunSignature(
                feeds: [TensorName(node: "x", index: 0)],
                fetches: [TensorName(node: "mul", index: 0)],
                targets: []
            )
        )
        let ps = try #require(partitions[DeviceName(job: "ps", task: 0)])
        let worker = try #require(partitions[DeviceName(job: "worker", task: 1)])
        #expect(ps.nodes.contains { $0.op == "_Send" })
        #expect(worker.nodes.contains { $0.op == "_Recv" })
        #expect(worker.feeds.count == 1)
        #expect(worker.fetches.map(\.name.node) == ["mul"])
        #expect(ps.targets.count == 1)
        let send = try #require(ps.nodes.first { $0.op == "_Send" })
        let recv = try #require(worker.nodes.first { $0.op == "_Recv" })
        #expect(send.attr["tensor_name"] == recv.attr["tensor_name"])
        // Every partition loads in the runtime as it is.
        for partition in partitions.values { _ = try RuntimeGraph(nodes: partition.nodes) }
    }

    @Test func crossWorkerControlEdge_isCarriedToo() throws {
        let graph = Graph()
        graph.asDefault {
            let first = graph.device("/job:worker/task:0") { noOp(name: "first") }
            _ = graph.device("/job:worker/task:1") {
                graph.controlDependencies(on: [first]) { constant(Float(1), name: "after") }
            }
        }
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let placement = try PlacementStrategies.place(
            runtime,
            on: PlacementTests.devices,
            strategy: ExplicitPlacement()
        )
        let partitions = try Partitioner(graph: runtime, placement: placement).partition(
            RunSignature(feeds: [], fetches: [TensorName(node: "after", index: 0)], targets: [])
        )
        let receiver = try #require(partitions[DeviceName(job: "worker", task: 1)])
        let after = try #require(receiver.nodes.first { $0.name == "after" })
        #expect(after.input.count == 1 && after.input[0].hasPrefix("^_weft/recv"))
        #expect(partitions[DeviceName(job: "worker", task: 0)]?.nodes.contains { $0.name == "first" } == true)
    }
}
