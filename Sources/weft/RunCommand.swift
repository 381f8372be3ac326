import ArgumentParser
import Foundation
import Weft
import WeftCluster
import WeftPlacement

/// `weft run GRAPH --fetch NAME`: runs one step of a GraphDef, locally or on a cluster, and can
/// write its timeline.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run steps of a GraphDef (.pbtxt or binary .pb) and print what they fetch and how long each took.",
        discussion: """
            --feed NAME=FILE.npy feeds a tensor from a NumPy file (numpy.save's format, versions 1 to 3; \
            little-endian, C order; bool, integer, float and complex dtypes). --init OP runs OP in a step of its \
            own first. --steps N runs the step N times, printing each one's wall time and, for more than one, \
            their minimum, median, mean and maximum; the values fetched are the last step's. With --trace FILE \
            the last step is timed node by node and its timeline written as a Chrome trace (open it in \
            ui.perfetto.dev or chrome://tracing): a row per worker and executor thread, an arrow per tensor \
            pushed between workers.
            """
    )

    @Argument(help: "A GraphDef file: text (.pbtxt) or binary.")
    var graph: String

    @Option(name: .customLong("fetch"), help: "A tensor to fetch, like 'y:0' or 'y' (repeatable).")
    var fetches: [String] = []

    @Option(name: .customLong("target"), help: "A node to run for its effects in the step (repeatable).")
    var targets: [String] = []

    @Option(
        name: [.customLong("init"), .customLong("setup")],
        help: "A node to run in a step of its own first, like 'init' (repeatable)."
    )
    var setup: [String] = []

    @Option(
        name: .customLong("feed"),
        help: "A tensor to feed from a NumPy file, like 'x:0=input.npy' or 'x=input.npy' (repeatable)."
    )
    var feeds: [String] = []

    @Option(help: "How many times to run the step, printing each one's time.")
    var steps = 1

    @Flag(help: "Run in this process.")
    var local = false

    @Option(help: "Start a local cluster with these jobs, like worker=2.")
    var jobs: String?

    /// The running cluster to use.
    @OptionGroup var cluster: ClusterOptions

    @Option(help: "The placement strategy on a cluster. Default: the coordinator's.")
    var strategy: String?

    @Option(help: "Write the step's timeline to this file (Chrome trace JSON).")
    var trace: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard [local, jobs != nil, cluster.isGiven].filter({ $0 }).count == 1 else {
            throw ValidationError("choose one of --local, --jobs JOBS, or --coordinator ADDRESS or --config FILE")
        }
        guard !fetches.isEmpty || !targets.isEmpty else {
            throw ValidationError("name something to run: --fetch TENSOR or --target NODE")
        }
        guard (1...1_000_000).contains(steps) else { throw ValidationError("--steps must be from 1 to 1000000") }
        for feed in feeds { _ = try Self.split(feed) }
    }

    /// `NAME=FILE` as its two parts.
    private static func split(_ feed: String) throws -> (name: String, file: String) {
        guard let equals = feed.firstIndex(of: "="), equals != feed.startIndex,
            equals != feed.index(before: feed.endIndex)
        else {
            throw ValidationError("--feed '\(feed)': write NAME=FILE.npy, like x:0=input.npy")
        }
        return (String(feed[..<equals]), String(feed[feed.index(after: equals)...]))
    }

    /// The tensors `--feed` names, read from their files.
    private func feedTensors() throws -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for feed in feeds {
            let (name, file) = try Self.split(feed)
            guard tensors[name] == nil else { throw ValidationError("--feed: \(name) is fed twice") }
            tensors[name] = try Tensor(contentsOfNumPyFile: file)
        }
        return tensors
    }

    func run() throws {
        global.bootstrapLogging()
        let graph = try Graph(contentsOf: URL(fileURLWithPath: self.graph))
        let feeds = try feedTensors()
        var started: ProcessCluster?
        if let jobs {
            started = try ProcessCluster(executable: selfExecutable(), jobs: try JobCounts(parsing: jobs))
        }
        defer { started?.stop() }
        let session: Session
        if local {
            session = Session(graph: graph)
        } else {
            if let strategy { _ = try PlacementStrategies.named(strategy) }
            let address = try started?.address ?? cluster.coordinatorAddress()
            session = try Session(target: address, graph: graph, options: RemoteSessionOptions(strategy: strategy))
        }
        try session.run { session in
            for node in setup { _ = try session.run(fetches: [], targets: [node]) }
            var metadata = RunMetadata()
            var values: [Tensor] = []
            var times: [Duration] = []
            for step in 1...steps {
                let started = ContinuousClock.now
                if trace != nil && step == steps {
                    values = try session.run(fetches: fetches, feeds: feeds, targets: targets, metadata: &metadata)
                } else {
                    values = try session.run(fetches: fetches, feeds: feeds, targets: targets)
                }
                times.append(.now - started)
                say("step \(step): \(Self.milliseconds(times[step - 1]))")
            }
            if steps > 1 { say(Self.summary(times)) }
            for (name, value) in zip(fetches, values) { say("\(name) = \(value)") }
            if let trace {
                try metadata.chromeTrace().jsonData().write(to: URL(fileURLWithPath: trace))
                say("timeline of \(metadata.stepStatistics.nodes.count) nodes written to \(trace)")
            }
        }
    }

    private static func milliseconds(_ duration: Duration) -> String {
        String(format: "%.3f ms", duration / .milliseconds(1))
    }

    /// `N steps: min …, median …, mean …, max …`.
    private static func summary(_ times: [Duration]) -> String {
        let sorted = times.sorted()
        let middle = sorted.count / 2
        let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        let mean = sorted.reduce(Duration.zero, +) / sorted.count
        return "\(times.count) steps: min \(milliseconds(sorted[0])), median \(milliseconds(median)), "
            + "mean \(milliseconds(mean)), max \(milliseconds(sorted[sorted.count - 1]))"
    }
}
