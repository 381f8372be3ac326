import Testing
import WeftRuntime

@testable import WeftPlacement

/// The lower bounds `weft bench placement` measures strategies against.
@Suite struct PlacementBoundsTests {
    static let devices = [DeviceName(job: "worker", task: 0), DeviceName(job: "worker", task: 1)]

    /// A fork: task 0 feeds tasks 1 and 2. Each task at its cheapest device: 2, 3, 1.
    @Test func bounds_areWorkPerDeviceAndTheLongestChain() {
        let costs = CostGraph(
            taskCosts: [[2, 4], [3, 3], [1, 5]],
            edges: [(0, 1, 1_000_000), (0, 2, 1_000_000)],
            devices: Self.devices,
            model: .default
        )
        let bounds = PlacementBounds(costs: costs, active: nil)
        #expect(bounds.workPerDeviceSeconds == 3)
        #expect(bounds.criticalPathSeconds == 5)
        #expect(bounds.seconds == 5)
        #expect(PlacementBounds(costs: costs, active: [true, false, true]).criticalPathSeconds == 3)
    }

    /// No strategy's estimated step beats either bound.
    @Test(arguments: ["round-robin", "load-balance", "min-cut", "critical-path"])
    func estimates_areNeverBelowTheBounds(strategy: String) throws {
        let graph = try MemoryAwarePlacementTests.branchyGraph()
        let placement = try PlacementStrategies.place(
            graph,
            on: Self.devices,
            strategy: try PlacementStrategies.named(strategy)
        )
        let estimate = try PlacementStrategies.estimate(graph, placement: placement, on: Self.devices)
        let bounds = try PlacementStrategies.lowerBounds(graph, on: Self.devices)
        #expect(bounds.criticalPathSeconds > 0)
        #expect(estimate.stepSeconds >= bounds.seconds * (1 - 1e-12), "\(estimate.stepSeconds) < \(bounds)")
    }
}
