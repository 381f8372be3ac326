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
        /// Each round's step median over its raw median: how much the host's state moved the ratio.
        public var roundRatios: [Double]
        /// The same step on a cluster whose sockets speak CURVE, measured in the same rounds;
        /// `nil` unless asked for.
        public var curveStep: LocalBenchmark.Timing?
        /// Each round's CURVE step median over its plain step median.
        public var curveRoundRatios: [Double] = []
        /// What CURVE adds to the step at the median, as a fraction of the plain step (target: at most 0.15).
        public var curveCost: Double? {
            curveStep.map { $0.statistics.median / step.statistics.median - 1 }
        }
        /// The step's median in raw round trips (target: at most 1.2).
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
        /// A step fetching the tensor from the worker that holds it to the client; `nil` unless asked for.
        public var fetchStep: LocalBenchmark.Timing?
        /// The same step on a cluster whose sockets speak CURVE; `nil` unless asked for.
        public var curveStep: LocalBenchmark.Timing?
        /// What CURVE adds to the step at the median, as a fraction of the plain step (target: at most 0.3).
        public var curveCost: Double? {
            curveStep.map { $0.statistics.median / step.statistics.median - 1 }
        }
    }

    /// A session on `cluster` with `foo` (42) on `/job:worker/task:0`, initialized; with the
    /// cluster's keys when it has them.
    static func variableSession(_ cluster: ProcessCluster) throws -> (Session, Variable) {
        let graph = Graph()
        let (variable, initialize) = graph.asDefault { () -> (Variable, Weft.Operation) in
            let variable = graph.device("/job:worker/task:0") { Variable(Float(42), name: "foo") }
            return (variable, globalVariablesInitializer())
        }
        let session = try Session(target: cluster.address, graph: graph, options: try options(cluster))
        try session.run(initialize)
        return (session, variable)
    }

    /// Session options with the keys of `cluster`'s client `bench` when it has keys.
    private static func options(_ cluster: ProcessCluster) throws -> RemoteSessionOptions {
        var options = RemoteSessionOptions()
        if cluster.security != nil { options.security = try cluster.clientSecurity("bench") }
        return options
    }

    /// Measures raw round trips, pings of the worker and steps reading a variable it holds, in
    /// `rounds` interleaved rounds, so all three see the same states of the host: a shared
    /// machine's wake-up latency drifts from minute to minute, and so does the raw baseline.
    ///
    /// With `curve`, a second cluster whose sockets speak CURVE runs the same step in the same
    /// rounds, so the two see the same host.
    public static func step(executable: URL, iterations: Int, rounds: Int = 10, curve: Bool = false) throws -> StepReport {
        try withEchoServer(executable: executable) { echo in
            let cluster = try ProcessCluster(executable: executable, jobs: JobCounts(parsing: "worker=1"))
            defer { cluster.stop() }
            let (session, variable) = try variableSession(cluster)
            defer { session.close() }
            let secured =
                curve
                ? try ProcessCluster(executable: executable, jobs: JobCounts(parsing: "worker=1"), clients: ["bench"])
                : nil
            defer { secured?.stop() }
            let curveSession = try secured.map(variableSession)
            defer { curveSession?.0.close() }
            let worker = cluster.members[1].address
            let perRound = max(1, iterations / max(1, rounds))
            let warmup = 50
            var raw: [Double] = []
            var ping: [Double] = []
            var step: [Double] = []
            var ratios: [Double] = []
            var curveSamples: [Double] = []
            var curveRatios: [Double] = []
            for _ in 0..<max(1, rounds) {
                let rawRound = try RawZeroMQBenchmark.roundTrips(to: echo, iterations: perRound + warmup)
                    .dropFirst(warmup).map { $0 / .seconds(1) }
                ping += try LocalBenchmark.samples(iterations: perRound, warmup: warmup) {
                    try ClusterClient.ping(worker)
                }
                let stepRound = try LocalBenchmark.samples(iterations: perRound, warmup: warmup) {
                    _ = try session.run(variable)
                }
                ratios.append(Statistics(stepRound).median / Statistics(rawRound).median)
                raw += rawRound
                step += stepRound
                if let (curveSession, curveVariable) = curveSession {
                    let curveRound = try LocalBenchmark.samples(iterations: perRound, warmup: warmup) {
                        _ = try curveSession.run(curveVariable)
                    }
                    curveRatios.append(Statistics(curveRound).median / Statistics(stepRound).median)
                    curveSamples += curveRound
                }
            }
            return StepReport(
                rawRoundTrip: LocalBenchmark.Timing(
                    name: "raw ZeroMQ DEALER/ROUTER round trip, 64 B",
                    statistics: Statistics(raw),
                    flops: 0
                ),
                ping: LocalBenchmark.Timing(
                    name: "Weft request/reply round trip (ping a worker)",
                    statistics: Statistics(ping),
                    flops: 0
                ),
                step: LocalBenchmark.Timing(
                    name: "distributed step: sess.run(foo) on /job:worker/task:0",
                    statistics: Statistics(step),
                    flops: 0
                ),
                roundRatios: ratios,
                curveStep: curve
                    ? LocalBenchmark.Timing(
                        name: "distributed step with CURVE on every socket",
                        statistics: Statistics(curveSamples),
                        flops: 0
                    ) : nil,
                curveRoundRatios: curveRatios
            )
        }
    }

    /// Measures raw one-way bandwidth, then steps that push a `bytes`-byte tensor held on
    /// `/job:worker/task:0` to an op on `/job:worker/task:1`; with `fetch`, also steps that fetch
    /// it to the client; with `curve`, the same steps on a cluster whose sockets speak CURVE too.
    public static func transfer(
        executable: URL,
        bytes: Int,
        iterations: Int,
        curve: Bool = false,
        fetch: Bool = false
    ) throws -> TransferReport {
        let rawBandwidth = try withEchoServer(executable: executable) { address in
            try RawZeroMQBenchmark.bandwidth(to: address, payloadBytes: bytes, iterations: iterations)
        }
        let plain = try ProcessCluster(executable: executable, jobs: JobCounts(parsing: "worker=2"))
        let (step, bytesSent, fetchStep) = try transferSteps(
            plain,
            bytes: bytes,
            iterations: iterations,
            name: "",
            fetch: fetch
        )
        plain.stop()
        var report = TransferReport(bytes: bytes, rawBandwidth: rawBandwidth, step: step, bytesSentPerStep: bytesSent)
        report.fetchStep = fetchStep
        if curve {
            let secured = try ProcessCluster(
                executable: executable,
                jobs: JobCounts(parsing: "worker=2"),
                clients: ["bench"]
            )
            defer { secured.stop() }
            report.curveStep = try transferSteps(secured, bytes: bytes, iterations: iterations, name: " with CURVE").0
        }
        return report
    }

    /// Times steps moving a `bytes`-byte tensor from one worker of `cluster` to the other and,
    /// with `fetch`, steps fetching it from the worker that holds it to this client.
    private static func transferSteps(
        _ cluster: ProcessCluster,
        bytes: Int,
        iterations: Int,
        name: String,
        fetch: Bool = false
    ) throws -> (LocalBenchmark.Timing, Int, LocalBenchmark.Timing?) {
        let graph = Graph()
        let (initialize, held, received) = graph.asDefault { () -> (Weft.Operation, Variable, Weft.Operation) in
            // Filled on the worker, so the graph carries only the shape, whatever the size.
            let held = graph.device("/job:worker/task:0") {
                Variable(initialValue: fill([bytes / 4], with: constant(Float(1))), name: "held")
            }
            let received = graph.device("/job:worker/task:1") { identity(held.value, name: "received") }
            return (globalVariablesInitializer(), held, received.operation)
        }
        let session = try Session(target: cluster.address, graph: graph, options: try options(cluster))
        defer { session.close() }
        try session.run(initialize)
        var metadata = RunMetadata()
        try session.run([], targets: [received], metadata: &metadata)
        let step = try LocalBenchmark.measure(
            "distributed step moving \(bytes >> 20) MiB between workers\(name)",
            iterations: iterations,
            warmup: min(3, iterations)
        ) { try session.run(received) }
        guard fetch else { return (step, metadata.stepStatistics.bytesSent, nil) }
        let fetched = try LocalBenchmark.measure(
            "distributed step fetching the \(bytes >> 20) MiB tensor to the client\(name)",
            iterations: iterations,
            warmup: min(1, iterations)
        ) {
            let value = try session.run(held)
            guard value.byteCount == bytes / 4 * 4 else {
                throw WeftError(.dataLoss, "the client received \(value.byteCount) bytes of \(bytes / 4 * 4)")
            }
        }
        return (step, metadata.stepStatistics.bytesSent, fetched)
    }

    /// Runs `body` against an echo server in a child process, then stops the child.
    static func withEchoServer<R>(executable: URL, _ body: (String) throws -> R) throws -> R {
        let (process, address) = try ProcessCluster.launch(executable, ["bench", "echo-server", "--exit-with-parent"])
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        return try body(address)
    }
}
