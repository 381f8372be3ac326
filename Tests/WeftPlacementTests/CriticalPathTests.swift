import Testing
import WeftRuntime

@testable import Weft
@testable import WeftPlacement

/// `critical-path` (HEFT) on textbook DAGs.
@Suite struct CriticalPathTests {
    static let threeDevices = (0..<3).map { DeviceName(job: "worker", task: $0) }

    /// Topcuoglu, Hariri and Wu (2002), figure 2: ten tasks on three processors. Communication
    /// costs are the edge weights: a link of zero latency moving one byte per second.
    static func topcuoglu() -> CostGraph {
        let costs: [[Double]] = [
            [14, 16, 9], [13, 19, 18], [11, 13, 19], [13, 8, 17], [12, 13, 10],
            [13, 16, 9], [7, 15, 11], [5, 11, 14], [18, 12, 20], [21, 7, 16],
        ]
        let edges: [(from: Int, to: Int, bytes: Int)] = [
            (0, 1, 18), (0, 2, 12), (0, 3, 9), (0, 4, 11), (0, 5, 14), (1, 7, 19), (1, 8, 16), (2, 6, 23),
            (3, 7, 27), (3, 8, 23), (4, 8, 13), (5, 7, 15), (6, 9, 17), (7, 9, 11), (8, 9, 13),
        ]
        let model = CostModel(rates: CostModel.default.rates, link: .init(latency: 0, bytesPerSecond: 1))
        return CostGraph(taskCosts: costs, edges: edges, devices: threeDevices, model: model)
    }

    @Test func topcuoglu_upwardRanksMatchThePaper() throws {
        let ranks = ListScheduler(costs: Self.topcuoglu()).upwardRanks()
        let paper = [108.000, 77.000, 80.000, 80.000, 69.000, 63.333, 42.667, 35.667, 44.333, 14.667]
        for (rank, expected) in zip(ranks, paper) { #expect(Swift.abs(rank - expected) < 0.001) }
        let order = ListScheduler(costs: Self.topcuoglu()).priorityOrder(ranks)
        #expect(order == [0, 2, 3, 1, 4, 5, 8, 6, 7, 9])
    }

    @Test func topcuoglu_scheduleHasMakespan80() throws {
        let costs = Self.topcuoglu()
        let schedule = ListScheduler(costs: costs).schedule(
            groupDevice: [Int](repeating: -1, count: 10),
            insertion: true,
            memoryLimits: [.max, .max, .max]
        )
        #expect(schedule.makespan == 80)
        // The paper's schedule: n1 on P3 at 0–9, n10 on P2 at 73–80.
        #expect(schedule.device[0] == 2 && schedule.finish[0] == 9)
        #expect(schedule.device[9] == 1 && schedule.start[9] == 73)
    }

    /// Fork–join on two identical devices with free links: a (1) → b (4), c (4) → d (1). The
    /// optimum runs b and c side by side: 6, against 10 on one device.
    @Test func forkJoin_runsBranchesInParallel() throws {
        let costs = CostGraph(
            taskCosts: [[1, 1], [4, 4], [4, 4], [1, 1]],
            edges: [(0, 1, 8), (0, 2, 8), (1, 3, 8), (2, 3, 8)],
            devices: Array(Self.threeDevices.prefix(2)),
            model: CostModel(rates: CostModel.default.rates, link: .init(latency: 0, bytesPerSecond: .infinity))
        )
        let schedule = ListScheduler(costs: costs).schedule(
            groupDevice: [-1, -1, -1, -1],
            insertion: true,
            memoryLimits: [.max, .max]
        )
        #expect(schedule.makespan == 6)
        #expect(schedule.device[1] != schedule.device[2])
    }

    /// A chain whose transfers cost more than anything else stays on one device: the optimum.
    @Test func expensiveTransfers_keepAChainTogether() throws {
        let costs = CostGraph(
            taskCosts: [[2, 2], [3, 3], [1, 1]],
            edges: [(0, 1, 100), (1, 2, 100)],
            devices: Array(Self.threeDevices.prefix(2)),
            model: CostModel(rates: CostModel.default.rates, link: .init(latency: 1, bytesPerSecond: 1))
        )
        let schedule = ListScheduler(costs: costs).schedule(
            groupDevice: [-1, -1, -1],
            insertion: true,
            memoryLimits: [.max, .max]
        )
        #expect(schedule.makespan == 6)
        #expect(Set(schedule.device).count == 1)
    }
}
