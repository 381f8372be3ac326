import Foundation
import Weft
import WeftCluster
import WeftRuntime

/// `weft bench train`: steps of the parameter-server MLP (`DataParallelMLP`) on a cluster of
/// child processes (one ps, one process per worker), with each step's time split into
/// compute, transfer and waiting from the workers' step statistics.
public enum TrainBenchmark {
    /// Where a step's time went, in seconds (medians over the steps measured with statistics).
    public struct Split: Sendable {
        /// Kernels on the critical path: the parameter server's own kernels plus the busiest
        /// worker's (towers run in parallel, the ps's update after them).
        public var compute: Double
        /// Tensors in flight: the time the slowest worker's `_Recv`s waited for parameters with no
        /// kernel running, plus the time the ps waited for gradients after that worker finished.
        public var transfer: Double
        /// The rest of the step as the client saw it: the run requests, feeds and replies
        /// between the client and the workers (straight, once the coordinator named the
        /// routes), and scheduling.
        public var waiting: Double
    }

    /// The report of one run.
    public struct Report: Sendable {
        /// Seconds per step (without statistics), over all rounds.
        public var step: Statistics
        /// The time split of the steps run with statistics.
        public var split: Split
        /// Bytes the workers pushed to each other in one step.
        public var bytesSentPerStep: Int
        /// The loss of the last step (it falls as the model fits the fixed batches).
        public var finalLoss: Float
        /// Steps per second at the median.
        public var stepsPerSecond: Double { 1 / step.median }
    }

    /// Runs `rounds` rounds of `steps` steps, then as many with step statistics, after `warmup`
    /// steps, on a `ps=1,worker=2` cluster of `executable`'s processes.
    public static func run(executable: URL, model: DataParallelMLP, steps: Int, rounds: Int, warmup: Int) throws
        -> Report
    {
        let cluster = try ProcessCluster(
            executable: executable,
            jobs: JobCounts(parsing: "ps=1,worker=\(model.inputs.count)")
        )
        defer { cluster.stop() }
        let session = try Session(target: cluster.address, graph: model.graph)
        defer { session.close() }
        try session.run(model.initialize)
        // A few fixed batches, made before timing so the timing holds only the steps.
        let batches = try (0..<8).map { seed throws(WeftError) in try model.feeds(seed: UInt64(seed)) }
        var index = 0
        func step(_ metadata: inout RunMetadata?) throws -> Tensor {
            index += 1
            let feeds = batches[index % batches.count]
            if metadata != nil {
                var collected = RunMetadata()
                let loss = try session.run([model.loss], feeding: feeds, targets: [model.train], metadata: &collected)
                metadata = collected
                return loss[0]
            }
            return try session.run([model.loss], feeding: feeds, targets: [model.train])[0]
        }
        var none: RunMetadata? = nil
        for _ in 0..<warmup { _ = try step(&none) }
        var samples: [Double] = []
        var splits: [(compute: Double, transfer: Double, waiting: Double)] = []
        var bytes = 0
        var loss = Tensor(Float(0))
        let clock = ContinuousClock()
        for _ in 0..<max(1, rounds) {
            for _ in 0..<steps {
                let start = clock.now
                loss = try step(&none)
                samples.append((clock.now - start) / .seconds(1))
            }
            for _ in 0..<steps {
                var metadata: RunMetadata? = RunMetadata()
                let start = clock.now
                loss = try step(&metadata)
                let wall = (clock.now - start) / .seconds(1)
                let statistics = metadata?.stepStatistics ?? StepStatistics()
                bytes = statistics.bytesSent
                splits.append(split(statistics, wall: wall))
            }
        }
        func median(_ values: [Double]) -> Double { Statistics(values).median }
        return Report(
            step: Statistics(samples),
            split: Split(
                compute: median(splits.map(\.compute)),
                transfer: median(splits.map(\.transfer)),
                waiting: median(splits.map(\.waiting))
            ),
            bytesSentPerStep: bytes,
            finalLoss: loss.scalar(as: Float.self) ?? .nan
        )
    }

    /// Splits one step of `wall` seconds as `Split` describes, from its statistics.
    static func split(_ statistics: StepStatistics, wall: Double) -> (compute: Double, transfer: Double, waiting: Double)
    {
        let byDevice = Dictionary(grouping: statistics.nodes, by: \.device)
        var psCompute = 0.0
        var psReceiving = 0.0
        var workerCompute = 0.0
        var workerReceiving = 0.0
        var workerEnd = 0.0
        for (device, nodes) in byDevice {
            let compute = covered(nodes.filter { !["_Send", "_Recv"].contains($0.op) })
            let receiving = max(0, covered(nodes) - compute)
            if device.hasPrefix("/job:ps") {
                psCompute += compute
                psReceiving = max(psReceiving, receiving)
            } else {
                workerCompute = max(workerCompute, compute)
                workerReceiving = max(workerReceiving, receiving)
                let end = nodes.map { ($0.start + $0.duration) / .seconds(1) }.max() ?? 0
                workerEnd = max(workerEnd, end)
            }
        }
        let compute = psCompute + workerCompute
        let transfer = workerReceiving + max(0, psReceiving - workerEnd)
        return (compute, transfer, max(0, wall - compute - transfer))
    }

    /// Seconds covered by the union of the nodes' run intervals.
    static func covered(_ nodes: [StepStatistics.NodeRun]) -> Double {
        let intervals = nodes.map { ($0.start, $0.start + $0.duration) }.sorted { $0.0 < $1.0 }
        var total = Duration.zero
        var current: (Duration, Duration)?
        for interval in intervals {
            if let open = current, interval.0 <= open.1 {
                current = (open.0, max(open.1, interval.1))
            } else {
                if let open = current { total += open.1 - open.0 }
                current = interval
            }
        }
        if let open = current { total += open.1 - open.0 }
        return total / .seconds(1)
    }
}
