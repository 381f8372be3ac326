import ArgumentParser
import Foundation
import Logging
import WeftBench
import WeftCluster
import WeftPlacement
import WeftRuntime

/// `weft bench placement`: compares placement strategies on generated workloads (or a GraphDef
/// file) by real steps on a cluster: step time, traffic between workers, balance, planning cost.
struct PlacementBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placement",
        abstract: "Compare placement strategies: step time, traffic between workers and planning cost per workload.",
        discussion: """
            Workloads: \(Workloads.catalog.map { "\($0.name) (\($0.summary); knobs: \($0.knobs.map(\.name).joined(separator: ", ")))" }.joined(separator: "; ")).
            Every strategy's fetched values are checked against a local session; a difference makes the command fail.
            Writes placement.csv, placement.json, SVG charts and per workload a DOT picture of each placement to --output.
            """
    )

    @Option(help: "Comma-separated workloads (default: all generated ones, unless --graph is given).")
    var workloads: String?

    @Option(help: "Placement strategies, comma-separated, or 'all'.")
    var strategies = "all"

    @Option(help: "Workers of the cluster to start (or to plan for with --planning-only), like worker=4.")
    var jobs = "worker=4"

    /// The running cluster to use instead of starting one.
    @OptionGroup var cluster: ClusterOptions

    @Flag(help: "Start the cluster inside this process instead of as child processes.")
    var inProcess = false

    @Option(
        help: """
            The started coordinator's --heartbeat-timeout-ms; 5000 with --size large unless given. \
            Steps of the large workloads under round-robin send 100,000 tensors, which on 2 cores \
            can keep a worker's heartbeats behind for longer than the default 1.5 s.
            """
    )
    var heartbeatTimeoutMs: Int?

    @Option(help: "Measured steps per workload and strategy.")
    var steps = 50

    @Option(help: "Warm-up steps before the measured ones (the first one's values are checked).")
    var warmup = 5

    @Option(help: "Seed of the generated workloads.")
    var seed: UInt64 = 1

    @Option(help: "Preset size of the generated workloads: small, medium or large (~100,000 nodes).")
    var size: WorkloadSize = .medium

    @Option(name: .customLong("param"), help: "A workload knob, like chain.length=5000 (repeatable).")
    var parameters: [String] = []

    @Option(help: "A GraphDef file to benchmark too (text for .pbtxt, binary otherwise).")
    var graph: String?

    @Option(help: "With --graph: comma-separated tensors every step fetches, like out:0.")
    var fetches: String?

    @Option(
        name: .customLong("init"),
        help: "With --graph: comma-separated nodes run once before the steps, like init."
    )
    var initializers: String?

    @Flag(help: "Only place and partition: report placement time and predicted figures without a cluster.")
    var planningOnly = false

    @Option(
        help:
            "Bytes each worker may hold (like 64MiB): placement honours it and the report shows every strategy's predicted peak per worker against it."
    )
    var memoryLimit: String?

    @Option(help: "Folder for the CSV, JSON, SVG and DOT files.")
    var output = "bench-out/placement"

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup cannot be negative") }
        if heartbeatTimeoutMs != nil && (inProcess || cluster.isGiven || planningOnly) {
            throw ValidationError("--heartbeat-timeout-ms sets the cluster this command starts as child processes")
        }
        if planningOnly && cluster.isGiven {
            throw ValidationError(
                "--planning-only uses no cluster: leave out --coordinator and --config (plan for --jobs instead)"
            )
        }
        if inProcess && cluster.isGiven {
            throw ValidationError("choose --in-process or a running cluster (--coordinator, --config), not both")
        }
        if (graph == nil) != (fetches == nil) { throw ValidationError("--graph and --fetches go together") }
        if initializers != nil && graph == nil { throw ValidationError("--init needs --graph") }
        if let graph, !FileManager.default.fileExists(atPath: graph) {
            throw ValidationError("the graph file \(graph) does not exist")
        }
        if let problem = namesProblem() { throw ValidationError(problem) }
        if let memoryLimit {
            do { _ = try ConfigByteSize.parse(memoryLimit) } catch {
                throw ValidationError("--memory-limit: \(error.message)")
            }
        }
    }

    /// What is wrong with the jobs, strategy, workload or knob names, if anything.
    private func namesProblem() -> String? {
        let result = Result { () throws(WeftError) in
            _ = try JobCounts(parsing: jobs)
            _ = try selectedStrategies()
            _ = try knobs()
            for name in workloadNames { _ = try Workloads.kind(named: name) }
        }
        guard case .failure(let error) = result else { return nil }
        return error.message
    }

    func run() throws {
        global.bootstrapLogging()
        let selected = try makeWorkloads()
        let strategyList = try selectedStrategies()
        var configuration = PlacementBenchmark.Configuration(
            workloads: selected,
            strategies: strategyList,
            coordinator: nil,
            plannedDevices: try plannedDevices()
        )
        configuration.measuredSteps = steps
        configuration.warmupSteps = warmup
        configuration.memoryLimit = try memoryLimit.map { (text) throws(WeftError) in try ConfigByteSize.parse(text) }
        let started = try startCluster()
        defer { started?.stop() }
        if !planningOnly {
            let coordinator = try started?.address ?? cluster.coordinatorAddress()
            configuration.coordinator = coordinator
            progress("calibrating the cost model on the cluster (rates, links, step overheads)…")
            configuration.costModel = try calibratedModel(coordinator)
        }
        let report = try PlacementReport(directory: URL(fileURLWithPath: output))
        var pictures: [URL] = []
        var renderNote: String?
        let rows = try PlacementBenchmark(configuration, logger: Logger(label: "weft.bench.placement")).run(
            progress: progress,
            placed: { placed in
                let drawn = try report.drawPlacements(placed)
                pictures += drawn.files
                for problem in drawn.problems { progress("note: \(problem)") }
                if !drawn.rendered {
                    renderNote =
                        "note: Graphviz's dot is not on PATH; wrote the placed graphs as DOT only (render with dot -Tsvg)"
                }
            }
        )
        say(PlacementTable.workloadLines(rows))
        say(PlacementTable.text(rows))
        let quality = PredictionQuality.of(rows)
        if !quality.isEmpty { say(PredictionQuality.text(quality)) }
        let files = try report.writeRows(rows)
        if let renderNote { say(renderNote) }
        say(
            "wrote \((files + pictures).count) files to \(report.directory.path): "
                + (files.map(\.lastPathComponent) + ["graphs/ (\(pictures.count) files)"]).joined(separator: ", ")
        )
        let failures = rows.filter(\.failed)
        if !failures.isEmpty {
            say(
                "FAILED: \(failures.count) of \(rows.count) runs failed or fetched values that differ from a local session"
            )
            throw ExitCode.failure
        }
    }

    private var workloadNames: [String] {
        guard let workloads else { return graph == nil ? Workloads.catalog.map(\.name) : [] }
        return list(workloads)
    }

    private func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    private func selectedStrategies() throws(WeftError) -> [any PlacementStrategy] {
        if strategies == "all" { return PlacementStrategies.all }
        return try list(strategies).map { (name) throws(WeftError) in try PlacementStrategies.named(name) }
    }

    /// `--param workload.knob=value` flags by workload, then knob.
    private func knobs() throws(WeftError) -> [String: [String: Int]] {
        var result: [String: [String: Int]] = [:]
        for text in parameters {
            let pieces = text.split(separator: "=", maxSplits: 1)
            let key = pieces.first?.split(separator: ".", maxSplits: 1) ?? []
            guard pieces.count == 2, key.count == 2, let value = Int(pieces[1]) else {
                throw WeftError(
                    .invalidArgument,
                    "'\(text)' is not a knob; write workload.knob=value, like chain.length=5000"
                )
            }
            let workload = String(key[0])
            _ = try Workloads.kind(named: workload)
            result[workload, default: [:]][String(key[1])] = value
        }
        return result
    }

    private func makeWorkloads() throws(WeftError) -> [Workload] {
        let overrides = try knobs()
        var result = try workloadNames.map { (name) throws(WeftError) in
            try Workloads.named(name, size: size, overrides: overrides[name] ?? [:], seed: seed)
        }
        if let graph, let fetches {
            result.append(
                Workloads.graphDef(
                    file: URL(fileURLWithPath: graph),
                    fetches: list(fetches),
                    initializers: list(initializers ?? "")
                )
            )
        }
        return result
    }

    private func plannedDevices() throws(WeftError) -> [DeviceName] {
        try JobCounts(parsing: jobs).jobs.flatMap { job in (0..<job.tasks).map { DeviceName(job: job.name, task: $0) } }
    }

    /// The coordinator's heartbeat timeout for the large workloads: a fanout step under
    /// load-balance kept a worker's heartbeat behind for more than the default 1.5 s.
    private static let largeHeartbeatTimeoutMs = 5000

    /// The cluster this command starts, unless it plans only or uses a running one.
    private func startCluster() throws -> StartedCluster? {
        guard !planningOnly, !cluster.isGiven else { return nil }
        progress("starting a cluster with \(jobs)\(inProcess ? " in this process" : " as child processes")…")
        let counts = try JobCounts(parsing: jobs)
        if inProcess { return .local(try LocalCluster(jobs: counts)) }
        let timeout = heartbeatTimeoutMs ?? (size == .large ? Self.largeHeartbeatTimeoutMs : nil)
        let coordinatorArguments = timeout.map { ["--heartbeat-timeout-ms", "\($0)"] } ?? []
        let cluster = try ProcessCluster(executable: selfExecutable(), jobs: counts) { index, _ in
            index == 0 ? coordinatorArguments : []
        }
        do {
            try waitForWorkers(cluster.address, count: counts.jobs.map(\.tasks).reduce(0, +))
        } catch {
            cluster.stop()
            throw error
        }
        return .processes(cluster)
    }

    /// Waits until `count` workers have registered with the coordinator at `address`: child
    /// processes report their address before their registration has gone through.
    private func waitForWorkers(_ address: String, count: Int) throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while try ClusterClient.status(coordinator: address).workers.filter(\.healthy).count < count {
            guard ContinuousClock.now < deadline else {
                throw WeftError(
                    .deadlineExceeded,
                    "only some of the \(count) workers registered with \(address) within 20 s"
                )
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// The cluster's cost model, priced as the coordinator prices it plus the step overheads.
    private func calibratedModel(_ coordinator: String) throws -> CostModel {
        let devices = try ClusterClient.status(coordinator: coordinator).workers.filter(\.healthy)
            .map { DeviceName(job: $0.job, task: Int($0.task)) }.sorted()
        let model = try CostModel.calibrated(forClusterAt: coordinator, devices: devices)
        progress(
            "calibrated: \(String(format: "%.3g", model.rates.flopsPerSecond / 1e9)) GFLOP/s, "
                + "\(String(format: "%.3g", model.rates.secondsPerOp * 1e6)) µs per op, "
                + "\(String(format: "%.3g", model.secondsPerStep * 1e3)) ms per step, "
                + "\(String(format: "%.3g", model.secondsPerMessage * 1e3)) ms per worker message"
        )
        return model
    }

    private func progress(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// A cluster started by a command, in this process or as children.
enum StartedCluster {
    case local(LocalCluster)
    case processes(ProcessCluster)

    /// The coordinator's address.
    var address: String {
        switch self {
        case .local(let cluster): cluster.address
        case .processes(let cluster): cluster.address
        }
    }

    /// Stops every member.
    func stop() {
        switch self {
        case .local(let cluster): cluster.stop()
        case .processes(let cluster): cluster.stop()
        }
    }
}

extension WorkloadSize: ExpressibleByArgument {}
