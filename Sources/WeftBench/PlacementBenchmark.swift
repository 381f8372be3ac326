import Foundation
import Logging
import Weft
import WeftCluster
import WeftPlacement
import WeftRuntime

/// `weft bench placement`: for every workload × strategy, places and partitions the graph,
/// runs warm-up and measured steps on a cluster, checks the fetched values against a local
/// session, and collects one `PlacementRow`.
public struct PlacementBenchmark: Sendable {
    /// What to run.
    public struct Configuration: Sendable {
        /// The workloads, in report order.
        public var workloads: [Workload]
        /// The strategies every workload is placed with.
        public var strategies: [any PlacementStrategy]
        /// The coordinator of the cluster to run on; `nil` plans only (nothing runs).
        public var coordinator: String?
        /// The devices to plan for when `coordinator` is `nil`; with a cluster, its healthy workers.
        public var plannedDevices: [DeviceName]
        /// Untimed steps before the measured ones (at least one: its values are checked).
        public var warmupSteps: Int = 5
        /// Timed steps.
        public var measuredSteps: Int = 50
        /// Bytes each worker may hold (`--memory-limit`): placement here and on the coordinator
        /// honours it; `nil` for no limit.
        public var memoryLimit: Int?
        /// The model placement here and the predictions price the cluster with.
        public var costModel: CostModel = .default

        /// A configuration; with `coordinator == nil` only placement is timed.
        public init(
            workloads: [Workload],
            strategies: [any PlacementStrategy],
            coordinator: String?,
            plannedDevices: [DeviceName] = []
        ) {
            self.workloads = workloads
            self.strategies = strategies
            self.coordinator = coordinator
            self.plannedDevices = plannedDevices
        }
    }

    /// A built workload with its runtime graph and every strategy's placement.
    public struct PlacedWorkload: Sendable {
        /// The workload.
        public var workload: Workload
        /// Its graph and step.
        public var built: BuiltWorkload
        /// The graph as the runtime (and the coordinator) loads it.
        public var runtime: RuntimeGraph
        /// The workers it was placed on.
        public var devices: [DeviceName]
        /// By strategy name: the device of every node.
        public var placements: [String: [String: DeviceName]]
        /// By strategy name: what the placement implies for the step.
        public var analyses: [String: PlacementAnalysis]
    }

    /// The configuration.
    public let configuration: Configuration
    private let logger: Logger

    /// Prepares a benchmark.
    public init(_ configuration: Configuration, logger: Logger = Logger(label: "weft.bench.placement")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs every workload × strategy and returns the rows in that order. `progress` gets a
    /// line per phase (`[3/10] mlp × round-robin: placing…`); `placed` gets each workload's
    /// placements once they are final (the coordinator's where it ran), for pictures.
    public func run(
        progress: (String) -> Void = { _ in },
        placed: (PlacedWorkload) throws -> Void = { _ in }
    ) throws(WeftError) -> [PlacementRow] {
        let devices = try configuration.coordinator.map(Self.healthyWorkers) ?? configuration.plannedDevices.sorted()
        guard !devices.isEmpty else {
            throw WeftError(.invalidArgument, "there are no workers to place the workloads on")
        }
        let total = configuration.workloads.count * configuration.strategies.count
        var rows: [PlacementRow] = []
        for (index, workload) in configuration.workloads.enumerated() {
            let counter = index * configuration.strategies.count
            var (placedWorkload, workloadRows) = try prepare(
                workload,
                devices,
                counter: counter,
                total: total,
                progress: progress
            )
            if let coordinator = configuration.coordinator {
                try measure(
                    &workloadRows,
                    &placedWorkload,
                    coordinator,
                    counter: counter,
                    total: total,
                    progress: progress
                )
            }
            // After the runs: the pictures show the placements that ran.
            do { try placed(placedWorkload) } catch {
                logger.warning(
                    "could not draw the placed graph",
                    metadata: ["workload": "\(workload.name)", "error": "\(error)"]
                )
            }
            rows += workloadRows
        }
        return rows
    }

    /// Builds `workload`, loads it as the runtime will, and places it with every strategy.
    private func prepare(
        _ workload: Workload,
        _ devices: [DeviceName],
        counter: Int,
        total: Int,
        progress: (String) -> Void
    ) throws(WeftError) -> (PlacedWorkload, [PlacementRow]) {
        progress("[\(counter + 1)/\(total)] \(workload.name): building \(workload.parameters)…")
        let buildStart = ContinuousClock.now
        let built = try workload.build()
        let graphSeconds = (ContinuousClock.now - buildStart) / .seconds(1)
        let runtime = try RuntimeGraph(nodes: built.graph.graphDef.node, registry: built.graph.registry)
        let loadSeconds = (ContinuousClock.now - buildStart) / .seconds(1) - graphSeconds
        progress(
            "[\(counter + 1)/\(total)] \(workload.name): built \(runtime.nodes.count) nodes in "
                + "\(String(format: "%.3f", graphSeconds)) s, loaded for the runtime in \(String(format: "%.3f", loadSeconds)) s"
        )
        var rows: [PlacementRow] = []
        var placed = PlacedWorkload(
            workload: workload,
            built: built,
            runtime: runtime,
            devices: devices,
            placements: [:],
            analyses: [:]
        )
        for (offset, strategy) in configuration.strategies.enumerated() {
            progress("[\(counter + offset + 1)/\(total)] \(workload.name) × \(strategy.name): placing…")
            var (row, placement, analysis) = plan(workload, built, runtime, strategy, devices)
            row.graphBuildSeconds = graphSeconds
            rows.append(row)
            placed.placements[strategy.name] = placement
            placed.analyses[strategy.name] = analysis
        }
        return (placed, rows)
    }

    /// The healthy workers of the cluster at `coordinator`.
    static func healthyWorkers(_ coordinator: String) throws(WeftError) -> [DeviceName] {
        try ClusterClient.status(coordinator: coordinator).workers.filter(\.healthy)
            .map { DeviceName(job: $0.job, task: Int($0.task)) }.sorted()
    }

    // MARK: Planning

    private func plan(
        _ workload: Workload,
        _ built: BuiltWorkload,
        _ runtime: RuntimeGraph,
        _ strategy: any PlacementStrategy,
        _ devices: [DeviceName]
    ) -> (PlacementRow, [String: DeviceName]?, PlacementAnalysis?) {
        var row = PlacementRow(
            workload: workload.name,
            parameters: workload.parameters,
            nodes: runtime.nodes.count,
            strategy: strategy.name,
            workers: devices.count,
            placementSeconds: .nan,
            predicted: .unavailable,
            steps: 0,
            trafficSource: .unavailable,
            cutEdges: 0,
            nodeBalance: .nan
        )
        do {
            row.memoryLimitBytes = configuration.memoryLimit
            let options = PlacementOptions(costModel: configuration.costModel, memoryLimit: configuration.memoryLimit)
            let (seconds, placement) = try Self.timePlacement(runtime, devices, strategy, options: options)
            row.placementSeconds = seconds
            let analysis = try PlacementAnalysis(
                graph: runtime,
                placement: placement,
                feeds: built.feeds.keys.sorted(),
                fetches: built.fetches,
                targets: built.targets
            )
            row.cutEdges = analysis.cutEdges
            row.nodeBalance = analysis.nodeBalance(devices: devices)
            row.tensorsPerStep = analysis.sentTensors.count
            row.trafficSource = .partition
            row.predicted = predict(built, runtime, placement, devices, strategy: strategy.name)
            return (row, placement, analysis)
        } catch {
            row.problem = "placement failed: \(error)"
            return (row, nil, nil)
        }
    }

    /// The cost model's figures, or none (logged) when it cannot estimate the graph.
    private func predict(
        _ built: BuiltWorkload,
        _ runtime: RuntimeGraph,
        _ placement: [String: DeviceName],
        _ devices: [DeviceName],
        strategy: String
    ) -> PlacementFigures {
        do {
            return try PlacementFigures.estimate(
                built,
                graph: runtime,
                placement: placement,
                devices: devices,
                costModel: configuration.costModel
            )
        } catch {
            logger.warning(
                "the cost model cannot estimate this placement; its figures are n/a",
                metadata: ["strategy": "\(strategy)", "error": "\(error)"]
            )
            return .unavailable
        }
    }

    /// The median time of placing `graph`, repeated while that takes under 50 ms in all (at most
    /// 25 times): one sample of a sub-millisecond placement would be mostly noise.
    static func timePlacement(
        _ graph: RuntimeGraph,
        _ devices: [DeviceName],
        _ strategy: any PlacementStrategy,
        options: PlacementOptions = PlacementOptions()
    ) throws(WeftError) -> (seconds: Double, placement: [String: DeviceName]) {
        var samples: [Double] = []
        var spent = 0.0
        var placement: [String: DeviceName] = [:]
        repeat {
            let start = ContinuousClock.now
            placement = try PlacementStrategies.place(graph, on: devices, strategy: strategy, options: options)
            let elapsed = (ContinuousClock.now - start) / .seconds(1)
            samples.append(elapsed)
            spent += elapsed
        } while spent < 0.05 && samples.count < 25
        return (Statistics(samples).median, placement)
    }

    // MARK: Measuring

    private func measure(
        _ rows: inout [PlacementRow],
        _ placed: inout PlacedWorkload,
        _ coordinator: String,
        counter: Int,
        total: Int,
        progress: (String) -> Void
    ) throws(WeftError) {
        progress("[\(counter + 1)/\(total)] \(placed.workload.name): local reference step…")
        let reference = try LocalReference(placed.built)
        var running: [(row: Int, session: Session)] = []
        defer { for entry in running { entry.session.close() } }
        for index in rows.indices where rows[index].problem == nil {
            progress(
                "[\(counter + index + 1)/\(total)] \(placed.workload.name) × \(rows[index].strategy): "
                    + "checking values and running \(max(configuration.warmupSteps, 1)) warm-up steps…"
            )
            if let session = open(&rows[index], &placed, coordinator: coordinator, expected: reference) {
                running.append((index, session))
            }
        }
        progress(
            "\(placed.workload.name): \(configuration.measuredSteps) measured steps of each of "
                + "\(running.count) strategies, in turn"
        )
        measureInTurn(running, &rows, placed)
    }

    /// Opens a session placed by the row's strategy, checks its first step's values and warms it
    /// up; `nil` with the row's problem set when any of that fails.
    private func open(
        _ row: inout PlacementRow,
        _ placed: inout PlacedWorkload,
        coordinator: String,
        expected: LocalReference
    ) -> Session? {
        let built = placed.built
        do {
            var options = RemoteSessionOptions(strategy: row.strategy)
            options.stepTimeout = .seconds(300)
            options.memoryLimit = configuration.memoryLimit
            if let profile = try PlacementStrategies.named(row.strategy) as? ProfilePlacement {
                options.measuredCosts = try measureNodeCosts(built, coordinator: coordinator, strategy: profile.base)
            }
            let setupStart = ContinuousClock.now
            let backend = try RemoteSessionBackend(coordinator: coordinator, graph: built.graph, options: options)
            row.sessionSetupSeconds = (ContinuousClock.now - setupStart) / .seconds(1)
            let session = Session(graph: built.graph, backend: backend)
            do {
                try adoptCoordinatorPlacement(backend.placement, &row, &placed)
                try warmUp(&row, session, built, expected: expected)
            } catch {
                session.close()
                throw error
            }
            return session
        } catch {
            row.problem = "\(error)"
            return nil
        }
    }

    /// The measured steps of every open session, one step of each in turn: whatever the machine
    /// does meanwhile (another process, a warming cache) falls on every strategy alike instead
    /// of on whichever ran at that time.
    private func measureInTurn(
        _ running: [(row: Int, session: Session)],
        _ rows: inout [PlacementRow],
        _ placed: PlacedWorkload
    ) {
        let built = placed.built
        var samples = [[Double]](repeating: [], count: running.count)
        for _ in 0..<configuration.measuredSteps {
            for (slot, entry) in running.enumerated() where rows[entry.row].problem == nil {
                let start = ContinuousClock.now
                do {
                    _ = try entry.session.run(fetches: built.fetches, feeds: built.feeds, targets: built.targets)
                    samples[slot].append((ContinuousClock.now - start) / .seconds(1))
                } catch {
                    rows[entry.row].problem = "\(error)"
                }
            }
        }
        var pooled: [[Int]: [Double]] = [:]
        let groups = running.map { entry in
            Self.partition(placed.placements[rows[entry.row].strategy] ?? [:], of: placed.runtime)
        }
        for (slot, entry) in running.enumerated() where !samples[slot].isEmpty {
            let statistics = Statistics(samples[slot])
            rows[entry.row].steps = samples[slot].count
            rows[entry.row].medianStepSeconds = statistics.median
            rows[entry.row].p90StepSeconds = statistics.p90
            pooled[groups[slot], default: []] += samples[slot]
        }
        for (slot, entry) in running.enumerated() where !samples[slot].isEmpty {
            rows[entry.row].pooledMedianStepSeconds = pooled[groups[slot]].map { Statistics($0).median }
        }
    }

    /// The groups `placement` splits the graph's nodes into, numbered by the first node (in the
    /// graph's order) of each: equal for two placements that differ only by their workers' names.
    static func partition(_ placement: [String: DeviceName], of graph: RuntimeGraph) -> [Int] {
        var numbers: [DeviceName: Int] = [:]
        return graph.nodes.map { node in
            guard let device = placement[node.info.name] else { return -1 }
            if let number = numbers[device] { return number }
            numbers[device] = numbers.count
            return numbers.count - 1
        }
    }

    /// What `profile` places with: each node's median time over a few steps of a session placed
    /// by the profile's base strategy on the same cluster.
    private func measureNodeCosts(
        _ built: BuiltWorkload,
        coordinator: String,
        strategy: String
    ) throws(WeftError) -> [String: Duration] {
        var options = RemoteSessionOptions(strategy: strategy)
        options.stepTimeout = .seconds(300)
        let session = try Session(target: coordinator, graph: built.graph, options: options)
        defer { session.close() }
        if !built.initializers.isEmpty { _ = try session.run(fetches: [], targets: built.initializers) }
        var steps: [StepStatistics] = []
        for _ in 0..<3 {
            var metadata = RunMetadata()
            _ = try session.run(fetches: built.fetches, feeds: built.feeds, targets: built.targets, metadata: &metadata)
            steps.append(metadata.stepStatistics)
        }
        return CostModel.medianDurations(of: steps)
    }

    /// Makes the coordinator's placement the one the row describes. The coordinator prices the
    /// cluster as it measured it (worker rates, links), so a cost-aware strategy may place
    /// differently there than here with the default cost model; the figures and pictures must
    /// describe the placement that ran.
    private func adoptCoordinatorPlacement(
        _ remote: [String: String],
        _ row: inout PlacementRow,
        _ placed: inout PlacedWorkload
    ) throws(WeftError) {
        var placement: [String: DeviceName] = [:]
        placement.reserveCapacity(remote.count)
        for (node, text) in remote {
            let request = try DeviceRequest(parsing: text)
            guard let job = request.job, let task = request.task else {
                throw WeftError(.internal, "the coordinator placed '\(node)' on '\(text)', which is not a full device")
            }
            placement[node] = DeviceName(job: job, task: task)
        }
        row.sameAsCoordinator = placement == placed.placements[row.strategy]
        guard row.sameAsCoordinator == false else { return }
        let analysis = try PlacementAnalysis(
            graph: placed.runtime,
            placement: placement,
            feeds: placed.built.feeds.keys.sorted(),
            fetches: placed.built.fetches,
            targets: placed.built.targets
        )
        row.cutEdges = analysis.cutEdges
        row.nodeBalance = analysis.nodeBalance(devices: placed.devices)
        row.predicted = predict(placed.built, placed.runtime, placement, placed.devices, strategy: row.strategy)
        placed.placements[row.strategy] = placement
        placed.analyses[row.strategy] = analysis
    }

    /// Runs the initializers and the warm-up steps; the first step's values are checked, and a
    /// difference is the row's problem.
    private func warmUp(
        _ row: inout PlacementRow,
        _ session: Session,
        _ built: BuiltWorkload,
        expected: LocalReference
    ) throws(WeftError) {
        if !built.initializers.isEmpty { _ = try session.run(fetches: [], targets: built.initializers) }
        // The first step's values are compared: the local reference ran exactly one step too,
        // so steps that change variables compare equal states. It also collects the step's
        // statistics; the timed steps do not, so they pay nothing for it.
        var metadata = RunMetadata()
        let first = try session.run(
            fetches: built.fetches,
            feeds: built.feeds,
            targets: built.targets,
            metadata: &metadata
        )
        record(metadata.stepStatistics, in: &row)
        let mismatch = ValueComparison.firstDifference(expected: expected.fetched, actual: first, names: built.fetches)
        row.valuesMatch = mismatch == nil
        if let mismatch {
            // Steps of wrong values are not timed.
            row.problem = "VALUES DIFFER from the local session: \(mismatch)"
            return
        }
        for _ in 1..<max(configuration.warmupSteps, 1) {
            _ = try session.run(fetches: built.fetches, feeds: built.feeds, targets: built.targets)
        }
    }
}

extension PlacementBenchmark {
    /// Takes the traffic and the compute balance of one measured step into `row`.
    func record(_ statistics: StepStatistics, in row: inout PlacementRow) {
        row.tensorsPerStep = statistics.tensorsSent
        row.bytesPerStep = statistics.bytesSent
        row.trafficSource = .measured
        var busy: [String: Double] = [:]
        for node in statistics.nodes where !node.device.isEmpty {
            busy[node.device, default: 0] += node.duration / .seconds(1)
        }
        // Workers that ran nothing count as idle: balance is over all the workers placed on.
        let times = busy.values + Array(repeating: 0, count: max(0, row.workers - busy.count))
        let mean = times.reduce(0, +) / Double(max(times.count, 1))
        row.computeBalance = mean > 0 ? (times.max() ?? 0) / mean : nil
    }
}
