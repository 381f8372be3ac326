import Testing
import WeftProto
import WeftRuntime

@testable import Weft
@testable import WeftPlacement

/// Every strategy against graphs built to break the hard constraints and the memory limit.
@Suite struct StrategyTests {
    static let devices = [
        DeviceName(job: "ps", task: 0), DeviceName(job: "worker", task: 0), DeviceName(job: "worker", task: 1),
    ]
    static let names = PlacementStrategies.all.map(\.name)

    /// Variables pulled from every side: explicit devices deep inside chains, a colocation group
    /// whose members' inputs live on different devices, a job-only request, ref-input updates.
    static func adversarialGraph() -> Graph {
        let graph = Graph()
        graph.asDefault {
            let big = Tensor([Float](repeating: 0.5, count: 4096))
            let v = (0..<4).map { Variable(big, name: "v\($0)") }
            var chain = v[0].value
            for step in 0..<6 { chain = chain * v[step % 4].value }
            let pinned = graph.device("/job:worker/task:1") { chain + v[1].value }
            let anyWorker = graph.device("/job:worker") { pinned * v[2].value }
            // Colocated with v3, yet fed from ops pinned elsewhere.
            let colocated = graph.colocate(with: v[3].operation) { anyWorker + pinned }
            _ = v[0].assign(colocated, name: "update0")
            _ = v[3].assignAdd(anyWorker, name: "update3")
            _ = graph.device("/job:ps/task:0") { sum(colocated, axes: [0], name: "total") }
            _ = globalVariablesInitializer()
        }
        return graph
    }

    static func place(
        _ graph: Graph,
        strategy: String,
        options: PlacementOptions = PlacementOptions()
    ) throws -> (RuntimeGraph, [String: DeviceName]) {
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let placement = try PlacementStrategies.place(
            runtime,
            on: devices,
            strategy: try PlacementStrategies.named(strategy),
            options: options
        )
        return (runtime, placement)
    }

    @Test(arguments: names)
    func hardConstraints_holdOnAnAdversarialGraph(strategy: String) throws {
        let (runtime, placement) = try Self.place(Self.adversarialGraph(), strategy: strategy)
        #expect(placement.count == runtime.nodes.count)
        for node in runtime.nodes {
            let device = try #require(placement[node.info.name])
            let request = try DeviceRequest(parsing: node.info.device)
            #expect(request.matches(device), "\(node.info.name) asks for \(node.info.device), got \(device)")
            for group in node.info.attributes.strings("_class") where group.hasPrefix("loc:@") {
                #expect(placement[String(group.dropFirst(5))] == device, "\(node.info.name) must be with \(group)")
            }
            for input in node.dataInputs where runtime.nodes[input.node].outputTypes[input.output].isRef {
                #expect(placement[runtime.nodes[input.node].info.name] == device, "\(node.info.name) takes a ref")
            }
        }
        #expect(placement["update0"] == placement["v0"])
        #expect(placement["update3"] == placement["v3"])
        #expect(placement["total"] == DeviceName(job: "ps", task: 0))
    }

    @Test(arguments: names)
    func sameSeed_samePlacement(strategy: String) throws {
        let options = PlacementOptions(seed: 7)
        let first = try Self.place(Self.adversarialGraph(), strategy: strategy, options: options).1
        let second = try Self.place(Self.adversarialGraph(), strategy: strategy, options: options).1
        #expect(first == second)
    }

    /// Each variable and each initial value holds 16 KiB: at 40,000 bytes two fit on a device.
    /// `critical-path` (and `profile` over it) also counts the tensors live at once, which in one
    /// simulated step of the initializer and the product come to 98,304 bytes on the busiest
    /// device unconstrained; it is held to a limit just above that.
    @Test(arguments: names)
    func memoryLimit_isHonoured(strategy: String) throws {
        let graph = Graph()
        graph.asDefault {
            let v = (0..<3).map { Variable(Tensor([Float](repeating: 1, count: 4096)), name: "m\($0)") }
            _ = (v[0].value + v[1].value) * v[2].value
            _ = globalVariablesInitializer()
        }
        let countsLiveTensors = ["critical-path", "profile"].contains(strategy)
        let limit = countsLiveTensors ? 100_000 : 40_000
        let (runtime, placement) = try Self.place(
            graph,
            strategy: strategy,
            options: PlacementOptions(memoryLimit: limit)
        )
        var used: [DeviceName: Int] = [:]
        for node in runtime.nodes {
            used[placement[node.info.name]!, default: 0] += MemoryBudget.persistentBytes(of: node)
        }
        #expect(used.values.allSatisfy { $0 <= limit }, "\(used)")
        if countsLiveTensors {
            let peaks = try PlacementStrategies.estimate(runtime, placement: placement, on: Self.devices).peakMemory
            #expect(peaks.values.allSatisfy { $0 <= limit }, "\(peaks)")
        }
    }

    @Test(arguments: names)
    func memoryLimitThatCannotBeMet_isResourceExhausted(strategy: String) throws {
        let graph = Graph()
        graph.asDefault {
            for index in 0..<4 { _ = Variable(Tensor([Float](repeating: 1, count: 4096)), name: "m\(index)") }
        }
        let error = try #require(throws: WeftError.self) {
            try Self.place(graph, strategy: strategy, options: PlacementOptions(memoryLimit: 40_000))
        }
        #expect(error.code == .resourceExhausted)
        #expect(error.message.contains("/job:"))
        #expect(error.message.contains("40000 bytes"))
    }

    /// Six independent ops with measured costs 5, 4, 3, 3, 2, 2 on two devices: LPT gives 10 and 9.
    @Test func loadBalance_isLongestProcessingTimeFirst() throws {
        let graph = Graph()
        graph.asDefault { for index in 0..<6 { _ = constant(Float(index), name: "c\(index)") } }
        var model = CostModel.default
        for (index, cost) in [5, 4, 3, 3, 2, 2].enumerated() {
            model.setMeasuredCost(.seconds(cost), node: "c\(index)")
        }
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let devices = Array(Self.devices.dropFirst())
        let options = PlacementOptions(costModel: model)
        let placement = try PlacementStrategies.place(
            runtime,
            on: devices,
            strategy: LoadBalancePlacement(),
            options: options
        )
        let estimate = try PlacementStrategies.estimate(runtime, placement: placement, on: devices, options: options)
        let loads = devices.map { estimate.computeSeconds[$0]! }.sorted()
        #expect(loads == [9, 10])
    }

    /// Devices of two speeds: each node goes where it finishes first, and a device without
    /// room is passed over while another has room.
    @Test func loadBalance_choosesTheEarliestFinishAmongDevicesOfTwoSpeeds() throws {
        let graph = Graph()
        graph.asDefault { for index in 0..<6 { _ = constant(Float(index), name: "c\(index)") } }
        let devices = (0..<3).map { DeviceName(job: "worker", task: $0) }
        var model = CostModel.default
        model.rates.secondsPerOp = 2.5
        model.setRates(.init(flopsPerSecond: 20e9, bytesPerSecond: 5e9, secondsPerOp: 1), for: devices[0])
        let problem = try PlacementProblem(graph: RuntimeGraph(nodes: graph.graphDef.node), devices: devices)
        func counts(_ options: PlacementOptions) throws -> [Int] {
            let chosen = try LoadBalancePlacement().place(problem, options: options)
            return devices.map { device in chosen.filter { $0 == device }.count }
        }
        // Finishes: 1, 2 on the fast device; 2.5 on each slow one; then 3 and 4 on the fast one.
        #expect(try counts(PlacementOptions(costModel: model)) == [4, 1, 1])
        // Room for one scalar on the fast device: the slow ones take turns with the rest.
        #expect(try counts(PlacementOptions(costModel: model, memoryLimits: [devices[0]: 4])) == [1, 3, 2])
    }

    @Test func loadBalance_fillsAThousandIdenticalDevicesEvenly() throws {
        let graph = Graph()
        graph.asDefault { for index in 0..<3000 { _ = constant(Float(index), name: "c\(index)") } }
        let devices = (0..<1000).map { DeviceName(job: "worker", task: $0) }
        let problem = try PlacementProblem(graph: RuntimeGraph(nodes: graph.graphDef.node), devices: devices)
        let chosen = try LoadBalancePlacement().place(problem, options: PlacementOptions())
        var counts: [DeviceName: Int] = [:]
        for device in chosen { counts[device, default: 0] += 1 }
        #expect(counts.count == 1000 && counts.values.allSatisfy { $0 == 3 })
    }

    @Test func profile_withoutMeasurements_isItsBase() throws {
        let graph = Self.adversarialGraph()
        let profile = try Self.place(graph, strategy: "profile").1
        let base = try Self.place(graph, strategy: "critical-path").1
        #expect(profile == base)
    }

    @Test func profile_usesMeasuredCosts() throws {
        // Two independent heavy ops: on estimates they are cheap; measured, each takes a second.
        let graph = Graph()
        graph.asDefault {
            let x = constant(Tensor([Float](repeating: 1, count: 16)), name: "x")
            _ = relu(x, name: "a")
            _ = tanh(x, name: "b")
        }
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let devices = Array(Self.devices.dropFirst())
        let measured = ProfilePlacement(measuredCosts: ["a": .seconds(1), "b": .seconds(1)])
        let placement = try PlacementStrategies.place(runtime, on: devices, strategy: measured)
        #expect(placement["a"] != placement["b"], "a second each: worth a transfer to run side by side")
        let estimated = try PlacementStrategies.place(runtime, on: devices, strategy: ProfilePlacement())
        #expect(estimated["a"] == estimated["b"], "microseconds each: not worth a transfer")
    }

    @Test func estimate_withRoots_countsOnlyWhatTheStepNeeds() throws {
        let graph = Self.adversarialGraph()
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let placement = try PlacementStrategies.place(runtime, on: Self.devices, strategy: MinCutPlacement())
        let whole = try PlacementStrategies.estimate(runtime, placement: placement, on: Self.devices)
        let step = try PlacementStrategies.estimate(runtime, placement: placement, on: Self.devices, roots: ["total"])
        #expect(step.stepSeconds > 0 && step.stepSeconds <= whole.stepSeconds)
        #expect(step.computeSeconds.values.reduce(0, +) < whole.computeSeconds.values.reduce(0, +))
        let error = try #require(throws: WeftError.self) {
            try PlacementStrategies.estimate(runtime, placement: placement, on: Self.devices, roots: ["nowhere"])
        }
        #expect(error.code == .notFound)
    }

    @Test func estimate_countsCrossingTensorsOncePerDevice() throws {
        let graph = Graph()
        graph.asDefault {
            let x = graph.device("/job:worker/task:0") {
                constant(Tensor([Float](repeating: 1, count: 256)), name: "x")
            }
            graph.device("/job:worker/task:1") {
                _ = relu(x, name: "r")
                _ = tanh(x, name: "t")
            }
        }
        let runtime = try RuntimeGraph(nodes: graph.graphDef.node)
        let placement = try PlacementStrategies.place(runtime, on: Self.devices, strategy: ExplicitPlacement())
        let estimate = try PlacementStrategies.estimate(runtime, placement: placement, on: Self.devices)
        #expect(estimate.cutEdges == 2)
        #expect(estimate.tensorsCrossing == 1)
        #expect(estimate.bytesCrossing == 1024)
        let link = CostModel.default.link
        let rates = CostModel.default.rates
        // x, then its transfer, then r and t one after the other on worker 1.
        let activation = rates.seconds(OpWork(flops: 256, bytes: 2048))
        let transcendental = rates.seconds(OpWork(flops: 2560, bytes: 2048))
        let expected = rates.secondsPerOp + link.seconds(bytes: 1024) + activation + transcendental
        #expect(Swift.abs(estimate.stepSeconds - expected) < 1e-12)
        #expect(estimate.peakMemory[DeviceName(job: "worker", task: 0)] == 1024)
        #expect(
            estimate.peakMemory[DeviceName(job: "worker", task: 1)] == 2 * 1024,
            "x's copy and one result at a time"
        )
        #expect(estimate.computeSeconds[DeviceName(job: "ps", task: 0)] == 0)
    }
}
