import Foundation
import Testing
import Weft
import WeftRuntime

@testable import WeftBench

/// How `weft bench train` splits a step, and the model it trains.
@Suite struct TrainBenchmarkTests {
    static func node(_ op: String, _ device: String, start: Int, duration: Int) -> StepStatistics.NodeRun {
        StepStatistics.NodeRun(
            node: "\(op)_\(start)",
            op: op,
            device: device,
            start: .milliseconds(start),
            duration: .milliseconds(duration),
            outputBytes: 0
        )
    }

    @Test func split_psComputePlusSlowestTower_receivesWithoutKernels_restIsWaiting() {
        var statistics = StepStatistics()
        statistics.nodes = [
            // The ps waits for gradients from 0 to 9 ms, then applies them for 2 ms.
            Self.node("_Recv", "/job:ps/task:0", start: 0, duration: 9),
            Self.node("ApplyGradientDescent", "/job:ps/task:0", start: 9, duration: 2),
            // Worker 0: parameters arrive after 2 ms, then 4 ms of kernels, two of them overlapping.
            Self.node("_Recv", "/job:worker/task:0", start: 0, duration: 2),
            Self.node("MatMul", "/job:worker/task:0", start: 2, duration: 3),
            Self.node("Relu", "/job:worker/task:0", start: 3, duration: 3),
            Self.node("_Send", "/job:worker/task:0", start: 6, duration: 1),
            // Worker 1: 1 ms of parameters, 3 ms of kernels.
            Self.node("_Recv", "/job:worker/task:1", start: 0, duration: 1),
            Self.node("MatMul", "/job:worker/task:1", start: 1, duration: 3),
        ]
        let split = TrainBenchmark.split(statistics, wall: 0.015)
        #expect(abs(split.compute - 0.006) < 1e-9, "ps 2 ms + busiest worker 4 ms")
        // Worker 0 received for 2 ms (+1 ms sending), the ps waited 9 - 7 = 2 ms after it finished.
        #expect(abs(split.transfer - 0.005) < 1e-9, "\(split.transfer)")
        #expect(abs(split.waiting - 0.004) < 1e-9, "\(split.waiting)")
    }

    @Test func model_averagesTwoTowersOnThePS() throws {
        let model = try DataParallelMLP(layers: [6, 4, 3], towers: 2, batch: 2)
        #expect(model.inputs.count == 2)
        #expect(model.train.device == "/job:ps/task:0")
        let feeds = try model.feeds(seed: 1)
        #expect(feeds.count == 4)
        let labels = try #require(feeds[model.inputs[0].labels])
        #expect(labels.shape == [2, 3] && labels.doubleValues.reduce(0, +) == 2, "one-hot rows")
    }
}
