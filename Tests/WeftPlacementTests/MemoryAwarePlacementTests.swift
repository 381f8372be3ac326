import Testing
import WeftRuntime

@testable import Weft
@testable import WeftPlacement

/// `critical-path` with a memory limit: live tensors and persistent bytes are held to the limit
/// while scheduling (Baechi's m-ETF rule), and the estimate's peak is the one the plan held to.
@Suite struct MemoryAwarePlacementTests {
    static let devices = [DeviceName(job: "worker", task: 0), DeviceName(job: "worker", task: 1)]

    /// Eight 1 MB branches from one 1 MB constant, summed in a chain: HEFT schedules every branch
    /// before the sums, so the branches on a device are live at once.
    static func branchyGraph() throws -> RuntimeGraph {
        let graph = Graph()
        graph.asDefault {
            let source = constant(Tensor([Float](repeating: 0.25, count: 1 << 18)), name: "source")
            let branches = (0..<8).map { index in tanh(source * constant(Float(index)), name: "branch\(index)") }
            var total = branches[0]
            for branch in branches.dropFirst() { total = total + branch }
            _ = identity(total, name: "total")
        }
        return try RuntimeGraph(nodes: graph.graphDef.node)
    }

    static func peaks(_ graph: RuntimeGraph, limit: Int?) throws -> [DeviceName: Int] {
        let options = PlacementOptions(memoryLimit: limit)
        let placement = try PlacementStrategies.place(
            graph,
            on: devices,
            strategy: CriticalPathPlacement(),
            options: options
        )
        return try PlacementStrategies.estimate(graph, placement: placement, on: devices, options: options).peakMemory
    }

    @Test func placementOverALimit_isScheduledWithinIt() throws {
        let graph = try Self.branchyGraph()
        let unconstrained = try #require(try Self.peaks(graph, limit: nil).values.max())
        // Greedy like m-ETF, so not every feasible limit is found; a fifth less than the peak is.
        let limit = unconstrained * 4 / 5
        let constrained = try Self.peaks(graph, limit: limit)
        #expect(constrained.values.allSatisfy { $0 <= limit }, "\(constrained) against \(limit), was \(unconstrained)")
        #expect(constrained.values.contains { $0 > 0 })
    }

    @Test func limitBelowOneTensor_isResourceExhausted() throws {
        let graph = try Self.branchyGraph()
        let error = try #require(throws: WeftError.self) { try Self.peaks(graph, limit: 100_000) }
        #expect(error.code == .resourceExhausted)
        #expect(error.message.contains("/job:worker/task:"))
        #expect(error.message.contains("memory limit of 100000 bytes"))
    }

    /// The plan's own timeline and the estimate's replay count the same intervals.
    @Test func estimatePeak_isWhatThePlanHeldTo() throws {
        let graph = try Self.branchyGraph()
        let options = PlacementOptions(memoryLimit: 5 << 20)
        let problem = try PlacementProblem(graph: graph, devices: Self.devices)
        let costs = CostGraph(problem: problem, options: options)
        let plan = try CriticalPathPlacement().planWithinMemory(costs, limits: costs.memoryLimits(options))
        let replay = ListScheduler(costs: costs, linkContention: true).replay(groupDevice: plan.groupDevice)
        #expect(replay.device == plan.device)
        #expect(replay.start == plan.start)
        #expect(replay.makespan == plan.makespan)
    }
}
