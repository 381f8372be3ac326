import ArgumentParser
import Foundation
import Weft
import WeftBench
import WeftCluster
import WeftTransport

/// `weft bench …`: benchmarks that print medians and tails, never asserted in tests.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Weft's speed.",
        subcommands: [
            LocalBench.self, CaseBench.self, DispatchBench.self, StepBench.self, ThroughputBench.self,
            TransferBench.self, PlacementBench.self,
            PlanningBench.self, TrainBench.self, CheckpointBench.self, ScaleBench.self, IdleBench.self,
            EchoServerCommand.self,
        ]
    )
}

/// `weft bench case DIR NAME`: times one step of a conformance case in a local session.
struct CaseBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "case",
        abstract: "Time a step of a conformance case (a TensorFlow-made graph and its feeds) in a local session.",
        discussion: "With --jobs, the step runs on a local cluster of worker processes instead."
    )

    @Argument(help: "The conformance folder.")
    var directory: String

    @Argument(help: "The case's name.")
    var name: String

    @Option(help: "The step of the case's first session to time (1-based); the steps before it run once first.")
    var step = 1

    @Option(help: "Timed runs.")
    var repetitions = 100

    @Option(help: "Start a local cluster with these jobs, like worker=2, and time the step there.")
    var jobs: String?

    @Option(help: "The placement strategy on the cluster.")
    var strategy = "min-cut"

    @Flag(help: "On the cluster, let placement split loops and conds across workers.")
    var splitControlFlow = false

    func run() throws {
        let testCase = try ConformanceCase.load(directory: URL(fileURLWithPath: directory), name: name)
        var cluster: ProcessCluster?
        if let jobs { cluster = try ProcessCluster(executable: selfExecutable(), jobs: try JobCounts(parsing: jobs)) }
        defer { cluster?.stop() }
        var options = RemoteSessionOptions(strategy: strategy)
        options.splitControlFlow = splitControlFlow
        let timing = try CaseBenchmark.run(testCase, step: step - 1, iterations: repetitions, warmup: 5) { graph in
            guard let cluster else { return Session(graph: graph) }
            return try Session(target: cluster.address, graph: graph, options: options)
        }
        say(
            "\(timing.name): median \(fixed(timing.statistics.median * 1e3, 3)) ms, "
                + "p99 \(fixed(timing.statistics.p99 * 1e3, 3)) ms (\(repetitions) runs)"
        )
    }
}

/// `weft bench local`.
struct LocalBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local",
        abstract: "Time a local variable read and a 1024³ MatMul against a direct cblas_sgemm call."
    )

    @Option(help: "Variable reads to time.")
    var reads = 200_000

    @Option(help: "MatMul size (n for an n×n by n×n product).")
    var size = 1024

    @Option(help: "MatMul repetitions.")
    var repetitions = 20

    func run() throws {
        let read = try LocalBenchmark.seedRead(iterations: reads)
        say(
            "\(read.name): median \(fixed(read.statistics.median * 1e6)) µs, p99 \(fixed(read.statistics.p99 * 1e6)) µs (\(reads) runs)"
        )
        let direct = LocalBenchmark.directSgemm(size: size, iterations: repetitions)
        let session = try LocalBenchmark.sessionMatMul(size: size, iterations: repetitions)
        for timing in [session, direct] {
            say(
                "\(timing.name): median \(fixed(timing.statistics.median * 1e3)) ms, "
                    + "p99 \(fixed(timing.statistics.p99 * 1e3)) ms, \(fixed(timing.gigaflops, 1)) GFLOP/s"
            )
        }
        say("session MatMul reaches \(fixed(100 * session.gigaflops / direct.gigaflops, 1))% of direct cblas_sgemm")
        if kernels { try runKernels() }
    }

    @Flag(help: "Also time Conv2D against sgemm, and element-wise ops and a reduction against memcpy.")
    var kernels = false

    private func runKernels() throws {
        let (input, filter): (TensorShape, TensorShape) = ([32, 56, 56, 64], [3, 3, 64, 64])
        let conv = try KernelBenchmark.conv2D(input: input, filter: filter, iterations: 5)
        let gemm = KernelBenchmark.unrolledSgemm(input: input, filter: filter, iterations: 5)
        for timing in [conv, gemm] {
            say(
                "\(timing.name): median \(fixed(timing.statistics.median * 1e3)) ms, \(fixed(timing.gigaflops, 1)) GFLOP/s"
            )
        }
        say("Conv2D reaches \(fixed(100 * conv.gigaflops / gemm.gigaflops, 1))% of sgemm on its unrolled product")
        let count = 16 << 20
        let memcpy = KernelBenchmark.memcpyBandwidth(count: count, iterations: 10)
        say("memcpy: \(fixed(memcpy / 1e9)) GB/s (read + write)")
        for op in ["AddV2", "Mul", "Tanh", "Relu", "Sum"] {
            let result = try KernelBenchmark.elementwise(op, count: count, iterations: 10)
            say(
                "\(result.name): \(fixed(result.bytesPerSecond / 1e9)) GB/s, \(fixed(100 * result.bytesPerSecond / memcpy, 1))% of memcpy"
            )
        }
    }
}

/// `weft bench dispatch`.
struct DispatchBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch",
        abstract: "Time the executor on chains of scalar (add, tanh) links, in one process and over workers.",
        discussion:
            "Reports the median step and its cost per node. --write-graph saves the one-process graph, initialiser 'init' and fetch 'total:0', to run it in TensorFlow."
    )

    @Option(help: "Independent chains.")
    var chains = 100

    @Option(help: "(add, tanh) links per chain.")
    var length = 50

    @Option(help: "Steps to time.")
    var iterations = 200

    @Option(help: "Workers for the distributed measurement; 0 skips it.")
    var workers = 2

    @Option(help: "Write the one-process graph as a binary GraphDef to this file.")
    var writeGraph: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard chains > 0, length > 0, chains * length <= 1_000_000 else {
            throw ValidationError("--chains and --length must be positive, with at most 1,000,000 links in all")
        }
        guard iterations > 0, workers >= 0, workers <= 16 else {
            throw ValidationError("--iterations must be positive and --workers between 0 and 16")
        }
    }

    func run() throws {
        global.bootstrapLogging()
        if let writeGraph {
            let workload = DispatchBenchmark.chains(chains, length: length)
            try workload.graph.serializedGraphDef().write(to: URL(fileURLWithPath: writeGraph))
        }
        var timings = [try DispatchBenchmark.local(chains: chains, length: length, iterations: iterations)]
        if workers > 0 {
            timings.append(
                try DispatchBenchmark.cluster(
                    executable: selfExecutable(),
                    workers: workers,
                    chains: chains,
                    length: length,
                    iterations: iterations
                )
            )
        }
        let nodes = Double(chains * (2 + 2 * length) + 1)
        for timing in timings {
            say(
                "\(timing.name): median \(fixed(timing.statistics.median * 1e3, 3)) ms, p99 \(fixed(timing.statistics.p99 * 1e3, 3)) ms, "
                    + "\(fixed(timing.statistics.median / nodes * 1e9, 0)) ns per node"
            )
        }
    }
}

/// `weft bench step`.
struct StepBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Time a distributed step that reads a variable on one worker against raw ZeroMQ round trips."
    )

    @Option(help: "Steps (and raw round trips, and pings) to time.")
    var iterations = 5_000

    @Option(help: "Rounds the measurements are interleaved in.")
    var rounds = 10

    @Flag(help: "Also time the step on a cluster whose sockets speak CURVE, beside the plain one.")
    var curve = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.bootstrapLogging()
        let report = try ClusterBenchmark.step(
            executable: selfExecutable(),
            iterations: iterations,
            rounds: rounds,
            curve: curve
        )
        for timing in [report.rawRoundTrip, report.ping, report.step] + [report.curveStep].compactMap({ $0 }) {
            say(
                "\(timing.name): median \(fixed(timing.statistics.median * 1e6)) µs, p99 \(fixed(timing.statistics.p99 * 1e6)) µs"
            )
        }
        let ratios = report.roundRatios.sorted()
        if let low = ratios.first, let high = ratios.last {
            say("per round, the step took \(fixed(low))–\(fixed(high)) raw round trips at the median")
        }
        say("the step takes \(fixed(report.roundTripsPerStep)) raw round trips at the median (target: at most 1.2)")
        if let cost = report.curveCost, let low = report.curveRoundRatios.min(),
            let high = report.curveRoundRatios.max()
        {
            // The rounds' own ratios see plain and CURVE steps under the same load, moments apart.
            let typical = Statistics(report.curveRoundRatios).median
            say(
                "CURVE adds \(fixed(100 * cost, 1))% to the step at the median; per round \(fixed(100 * (typical - 1), 1))% "
                    + "at the median, \(fixed(100 * (low - 1), 1))% to \(fixed(100 * (high - 1), 1))% (target: at most 15%)"
            )
        }
    }
}

/// `weft bench throughput`.
struct ThroughputBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "throughput",
        abstract: "Time many clients stepping at once on one worker against as many raw ZeroMQ clients."
    )

    @Option(help: "Clients running at once, each on its own thread with its own session.")
    var clients = 8

    @Option(help: "Steps (and raw round trips) each client times in each round.")
    var requests = 2_000

    @Option(help: "Rounds, each timing the raw clients and then the stepping ones.")
    var rounds = 5

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard clients > 0, clients <= 256 else { throw ValidationError("--clients must be between 1 and 256") }
        guard requests > 0 else { throw ValidationError("--requests must be positive") }
        guard rounds > 0 else { throw ValidationError("--rounds must be positive") }
    }

    func run() throws {
        global.bootstrapLogging()
        let report = try ClusterBenchmark.throughput(
            executable: selfExecutable(),
            clients: clients,
            requests: requests,
            rounds: rounds
        )
        say(
            "raw ZeroMQ DEALER/ROUTER round trips, 64 B, \(clients) clients: \(fixed(report.rawRate, 0)) per second (median round)"
        )
        say(
            "distributed steps reading a variable on one worker, \(clients) clients: \(fixed(report.stepRate, 0)) per second (median round)"
        )
        let ratios = report.roundRatios.sorted()
        if let low = ratios.first, let high = ratios.last {
            say("per round, the steps reached \(fixed(100 * low, 1))–\(fixed(100 * high, 1))% of the raw rate")
        }
        say(
            "the steps reach \(fixed(100 * report.ratio, 1))% of the raw rate in the median round (target: at least 80%)"
        )
    }
}

/// `weft bench transfer`.
struct TransferBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer",
        abstract: "Time a step that moves a tensor between two workers against raw one-way ZeroMQ bandwidth."
    )

    @Option(help: "Tensor size in MiB.")
    var mebibytes = 16

    @Option(help: "Steps (and raw messages) to time.")
    var iterations = 50

    @Flag(help: "Also time the step on a cluster whose sockets speak CURVE, beside the plain one.")
    var curve = false

    @Flag(help: "Also time a step that fetches the tensor from its worker to this client.")
    var fetch = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        // Above 2 GiB on purpose: no limit of that size anywhere (TensorFlow's issue 4291).
        guard mebibytes > 0, mebibytes <= 8192 else { throw ValidationError("--mebibytes must be between 1 and 8192") }
    }

    func run() throws {
        global.bootstrapLogging()
        let report = try ClusterBenchmark.transfer(
            executable: selfExecutable(),
            bytes: mebibytes << 20,
            iterations: iterations,
            curve: curve,
            fetch: fetch
        )
        say("raw ZeroMQ one-way, \(mebibytes) MiB messages: \(fixed(report.rawBandwidth / 1e9)) GB/s")
        say(
            "\(report.step.name): median \(fixed(report.step.statistics.median * 1e3)) ms, "
                + "p99 \(fixed(report.step.statistics.p99 * 1e3)) ms, \(fixed(report.stepBandwidth / 1e9)) GB/s "
                + "(workers reported \(report.bytesSentPerStep) bytes sent per step)"
        )
        say(
            "the step reaches \(fixed(100 * report.stepBandwidth / report.rawBandwidth, 1))% of raw bandwidth (target: 85%)"
        )
        if let fetchStep = report.fetchStep {
            say(
                "\(fetchStep.name): median \(fixed(fetchStep.statistics.median * 1e3)) ms, "
                    + "\(fixed(Double(report.bytes) / fetchStep.statistics.median / 1e9)) GB/s"
            )
        }
        if let curveStep = report.curveStep, let cost = report.curveCost {
            say(
                "\(curveStep.name): median \(fixed(curveStep.statistics.median * 1e3)) ms, "
                    + "p99 \(fixed(curveStep.statistics.p99 * 1e3)) ms, "
                    + "\(fixed(Double(report.bytes) / curveStep.statistics.median / 1e9)) GB/s"
            )
            say("CURVE adds \(fixed(100 * cost, 1))% to the step at the median (target: at most 30%)")
        }
    }
}

/// `weft bench checkpoint`.
struct CheckpointBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Time saving and restoring float32 variables with Saver (V2 checkpoint), in GB/s per writer."
    )

    @Option(help: "Total size of the variables, like 1GiB or 256MiB.")
    var bytes = "1GiB"

    @Option(help: "How many variables share that size.")
    var variables = 16

    @Option(help: "Saves and restores to time (the median is reported).")
    var rounds = 5

    @Option(help: "Where to write the checkpoints. Default: a new temporary folder, removed afterwards.")
    var directory: String?

    @Option(help: "Start a local cluster with these jobs, like worker=2; each worker saves its own variables' shard.")
    var jobs: String?

    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.bootstrapLogging()
        let total: Int
        do { total = try ConfigByteSize.parse(bytes) } catch { throw ValidationError("--bytes: \(error.message)") }
        let counts = try jobs.map { try JobCounts(parsing: $0) }
        if let counts, counts.jobs.contains(where: { $0.name != "worker" }) {
            throw ValidationError("--jobs: only worker=N is supported")
        }
        guard variables > 0, rounds > 0, total >= 4 * variables else {
            throw ValidationError("--variables and --rounds must be positive, with at least 4 bytes per variable")
        }
        let setup = CheckpointBenchmark.Setup(
            bytes: total,
            variables: variables,
            rounds: rounds,
            directory: directory,
            workers: counts?.jobs.first?.tasks ?? 0
        )
        let report = try CheckpointBenchmark.run(setup, executable: selfExecutable())
        let size = fixed(Double(report.bytes) / Double(1 << 30), 3)
        say("\(size) GiB in \(variables) float32 variables, \(report.writers) writer(s), \(rounds) rounds")
        for (name, times, rate) in [
            ("save", report.save, report.saveRate), ("restore", report.restore, report.restoreRate),
        ] {
            say(
                "\(name): median \(fixed(times.median * 1e3, 1)) ms (\(fixed(times.sorted[0] * 1e3, 1))–"
                    + "\(fixed(times.sorted[times.sorted.count - 1] * 1e3, 1)) ms), \(fixed(rate / 1e9)) GB/s per writer (target: 1)"
            )
        }
    }
}

/// `weft bench echo-server`: the other process of the raw ZeroMQ baselines.
struct EchoServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-server",
        abstract: "Serve the raw ZeroMQ echo and sink baseline until stopped."
    )

    @Option(help: "Address to bind.")
    var listen = "tcp://127.0.0.1:0"

    @Flag(help: .hidden) var exitWithParent = false

    func run() throws {
        let server = try RawZeroMQBenchmark.serveEcho(listen: listen)
        say("echo server listening on \(server.address)")
        waitForTermination(exitWithParent: exitWithParent)
        server.close()
    }
}

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }
