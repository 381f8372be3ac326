import Testing
import WeftRuntime

@testable import WeftPlacement

/// The per-step and per-message overheads of the cost model in the estimated step.
@Suite struct EstimateOverheadTests {
    @Test func overheads_addOncePerStepAndOncePerWorkerUsed() throws {
        let graph = try MemoryAwarePlacementTests.branchyGraph()
        let devices = MemoryAwarePlacementTests.devices + [DeviceName(job: "worker", task: 2)]
        let placement = try PlacementStrategies.place(graph, on: devices, strategy: RoundRobinPlacement())
        let used = Set(placement.values).count
        var model = CostModel.default
        let plain = try PlacementStrategies.estimate(graph, placement: placement, on: devices)
        model.secondsPerStep = 0.002
        model.secondsPerMessage = 0.0005
        let overheads = try PlacementStrategies.estimate(
            graph,
            placement: placement,
            on: devices,
            options: PlacementOptions(costModel: model)
        )
        #expect(used == 3)
        #expect(Swift.abs(overheads.stepSeconds - plain.stepSeconds - 0.002 - 0.0005 * Double(used)) < 1e-12)
    }
}
