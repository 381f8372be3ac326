import Testing
import WeftRuntime

@testable import Weft
@testable import WeftPlacement

/// `critical-path` plans what the estimate predicts: the estimate replays a placement with the
/// planner's own list scheduling, so the kept plan's step time is the estimate's.
@Suite struct PlanReplayTests {
    static let devices = (0..<3).map { DeviceName(job: "worker", task: $0) }

    /// A layered DAG of 64×64 products: every node reads two nodes of earlier layers, chosen by
    /// `seed`, so the graphs have fan-out, fan-in and idle gaps to fill.
    static func layeredGraph(seed: UInt64) throws -> RuntimeGraph {
        var random = SplitMix64(seed: seed)
        let inputs = try (0..<4).map { (index) throws(WeftError) in
            try Tensor([Float](repeating: Float(index), count: 64 * 64), shape: [64, 64])
        }
        let graph = Graph()
        graph.asDefault {
            var nodes = inputs.indices.map { constant(inputs[$0], name: "input\($0)") }
            for index in 0..<60 {
                let a = nodes[random.below(nodes.count)]
                let b = nodes[max(nodes.count - 6, 0) + random.below(min(nodes.count, 6))]
                nodes.append(index % 3 == 0 ? tanh(matMul(a, b)) : matMul(a, b))
            }
        }
        return try RuntimeGraph(nodes: graph.graphDef.node)
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func keptPlan_isWhatTheEstimatePredicts(seed: UInt64) throws {
        let runtime = try Self.layeredGraph(seed: seed)
        let problem = try PlacementProblem(graph: runtime, devices: Self.devices, existing: [:])
        let costs = CostGraph(problem: problem, options: PlacementOptions())
        let plan = CriticalPathPlacement().plan(costs, memoryLimits: [.max, .max, .max])
        let placement = problem.assignment(plan.groupDevice.map { costs.devices[$0] })
        let estimate = try PlacementStrategies.estimate(runtime, placement: placement, on: Self.devices)
        #expect(estimate.stepSeconds == plan.makespan)
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func insertionPlan_replaysExactly(seed: UInt64) throws {
        let runtime = try Self.layeredGraph(seed: seed)
        let problem = try PlacementProblem(graph: runtime, devices: Self.devices, existing: [:])
        let costs = CostGraph(problem: problem, options: PlacementOptions())
        let scheduler = ListScheduler(costs: costs, linkContention: true)
        let planned = scheduler.schedule(groupDevice: costs.pinned, insertion: true, memoryLimits: [.max, .max, .max])
        let replayed = scheduler.replay(groupDevice: planned.groupDevice)
        #expect(replayed.makespan == planned.makespan)
        #expect(replayed.device == planned.device)
        #expect(replayed.start == planned.start)
    }

    /// The textbook graph: the insertion plan of makespan 80 is replayed at 80, and the kept plan
    /// is no worse by the estimate than either plan.
    @Test func topcuoglu_keptPlanIsTheBetterReplay() throws {
        let costs = CriticalPathTests.topcuoglu()
        let open = [Int](repeating: -1, count: 10)
        let limits = [Int](repeating: .max, count: 3)
        let scheduler = ListScheduler(costs: costs, linkContention: true)
        let inserted = scheduler.replay(
            groupDevice: scheduler.schedule(groupDevice: open, insertion: true, memoryLimits: limits).groupDevice
        )
        let appended = scheduler.replay(
            groupDevice: scheduler.schedule(groupDevice: open, insertion: false, memoryLimits: limits).groupDevice
        )
        let kept = CriticalPathPlacement().plan(costs, memoryLimits: limits)
        #expect(kept.makespan == min(inserted.makespan, appended.makespan))
        let textbook = ListScheduler(costs: costs).schedule(groupDevice: open, insertion: true, memoryLimits: limits)
        #expect(ListScheduler(costs: costs).replay(groupDevice: textbook.groupDevice).makespan == 80)
    }
}
