import Foundation
import Weft
import WeftCluster
import WeftRuntime
import WeftTransport

/// `weft bench step` and `weft bench transfer`: distributed steps on a cluster of child
/// processes, each measured against bare libzmq between two processes in the same run.
///
/// The baseline runs against an echo server in a child process (`weft bench echo-server`), so
/// both sides pay the same cross-process costs Weft's steps pay.
public enum ClusterBenchmark {
    /// A distributed step's latency against raw round trips.
    public struct StepReport: Sendable {
        /// One raw DEALER/ROUTER round trip of a 64-byte message.
        public var rawRoundTrip: LocalBenchmark.Timing
        /// One request and reply through Weft's messaging layer (a ping to the worker): the
        /// transport's share of a step.
        public var ping: LocalBenchmark.Timing
        /// `sess.run(variable)` with the variable on one worker.
        public var step: LocalBenchmark.Timing
        /// The step's median in raw round trips (target: at most 2).
        public var roundTripsPerStep: Double { step.statistics.median / rawRoundTrip.statistics.median }
    }

    /// A cross-worker transfer against raw one-way bandwidth.
    public struct TransferReport: Sendable {
        /// Bytes moved per step.
        public var bytes: Int
        /// Raw pipelined one-way throughput between two processes, bytes per second.
        public var rawBandwidth: Double
        /// One step that moves the tensor from one worker to another.
        public var step: LocalBenchmark.Timing
        /// Bytes the workers reported pushing in one step (checks the tensor really crossed).
        public var bytesSentPerStep: Int
        /// The step's throughput at the median, bytes per second.
        public var stepBandwidth: Double { Double(bytes) / step.statistics.median }
    }

    /// Measures raw round trips, then a step reading a variable held on `/job:worker/task:0`.
    public static func step(executable: URL, iterations: Int) throws -> StepReport {
        let raw = try rawRoundTrips(executable: executable, iterations: iterations)
        let cluster = try ProcessCluster(executable: executable, jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let graph = Graph()
        let (variable, initialize) = graph.asDefault { () -> (Variable, Weft.Operation) in
            let variable = graph.device("/job:worker/task:0") { Variable(Float(42), name: "foo") }
            return (variable, globalVariablesInitializer())
        }
        let session = try Session(target: cluster.address, graph: graph)
        defer { session.close() }
        try session.run(initialize)
        let worker = cluster.members[1].address
        let ping = try LocalBenchmark.measure(
            "Weft request/reply round trip (ping a worker)",
            iterations: iterations,
            warmup: 100
        ) {
            try ClusterClient.ping(worker)
        }
        let step = try LocalBenchmark.measure(
            "distributed step: sess.run(foo) on /job:worker/task:0",
            iterations: iterations,
            warmup: 100
        ) {
            _ = try session.run(variable)
        }
        return StepReport(rawRoundTrip: raw, ping: ping, step: step)
    }

    /// Measures raw one-way bandwidth, then steps that push a `bytes`-byte tensor held on
    /// `/job:worker/task:0` to an op on `/job:worker/task:1`.
    public static func transfer(executable: URL, bytes: Int, iterations: Int) throws -> TransferReport {
        let rawBandwidth = try withEchoServer(executable: executable) { address in
            try RawZeroMQBenchmark.bandwidth(to: address, payloadBytes: bytes, iterations: iterations)
        }
        let cluster = try ProcessCluster(executable: executable, jobs: JobCounts(parsing: "worker=2"))
        defer { cluster.stop() }
        let graph = Graph()
        let (initialize, received) = graph.asDefault { () -> (Weft.Operation, Weft.Operation) in
            let held = graph.device("/job:worker/task:0") {
                Variable(Tensor([Float](repeating: 1, count: bytes / 4)), name: "held")
            }
            let received = graph.device("/job:worker/task:1") { identity(held.value, name: "received") }
            return (globalVariablesInitializer(), received.operation)
        }
        let session = try Session(target: cluster.address, graph: graph)
        defer { session.close() }
        try session.run(initialize)
        var metadata = RunMetadata()
        try session.run([], targets: [received], metadata: &metadata)
        let step = try LocalBenchmark.measure(
            "distributed step moving \(bytes >> 20) MiB between workers",
            iterations: iterations,
            warmup: 3
        ) { try session.run(received) }
        return TransferReport(
            bytes: bytes,
            rawBandwidth: rawBandwidth,
            step: step,
            bytesSentPerStep: metadata.stepStatistics.bytesSent
        )
    }

    private static func rawRoundTrips(executable: URL, iterations: Int) throws -> LocalBenchmark.Timing {
        let samples = try withEchoServer(executable: executable) { address in
            try RawZeroMQBenchmark.roundTrips(to: address, iterations: iterations + 100)
        }
        let seconds = samples.dropFirst(100).map {
            Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18
        }
        return LocalBenchmark.Timing(
            name: "raw ZeroMQ DEALER/ROUTER round trip, 64 B",
            statistics: Statistics(seconds),
            flops: 0
        )
    }

    /// Runs `body` against an echo server in a child process, then stops the child.
    private static func withEchoServer<R>(executable: URL, _ body: (String) throws -> R) throws -> R {
        let (process, address) = try ProcessCluster.launch(executable, ["bench", "echo-server", "--exit-with-parent"])
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        return try body(address)
    }
}
