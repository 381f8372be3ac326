import Metrics
import Synchronization
import WeftPlacement
import WeftRuntime

/// What the coordinator and workers report through swift-metrics: a few calls per step and
/// per message, never per node. Names and units follow Prometheus's conventions; the process
/// that serves them (`weft coordinator --metrics-listen`) chooses the backend, and without one
/// these calls cost next to nothing.
///
/// The series every step touches are made once, on first use, which comes after the process
/// chose its backend at start-up: making a metric object takes the factory's lock and
/// allocates. Series of rare events (errors, pushes to a new peer) are made when they happen;
/// the factory hands back the same series for the same name and labels.
enum ClusterMetrics {
    /// Who ran a step: the coordinator, or a worker a client sent it to directly.
    enum Route: String {
        case coordinator, direct

        fileprivate var index: Int { self == .coordinator ? 0 : 1 }
    }

    private static let routes: [Route] = [.coordinator, .direct]
    private static let okSteps = routes.map {
        Counter(label: "weft_steps_total", dimensions: [("route", $0.rawValue), ("outcome", "ok")])
    }
    private static let stepDurations = routes.map {
        Timer(label: "weft_step_duration_seconds", dimensions: [("route", $0.rawValue)])
    }
    private static let okPartitions = Counter(label: "weft_partition_runs_total", dimensions: [("outcome", "ok")])
    private static let partitionDurations = Timer(label: "weft_partition_run_duration_seconds")

    /// A step that finished: counted by route and outcome (`ok` or the error's code) and timed.
    /// Each step is counted once in the cluster, by the process its client asked, so summing
    /// `weft_steps_total` over the coordinator and the workers gives every step.
    static func stepFinished(duration: Duration, error: WeftError?, route: Route = .coordinator) {
        if let error {
            Counter(label: "weft_steps_total", dimensions: [("route", route.rawValue), ("outcome", "\(error.code)")])
                .increment()
        } else {
            okSteps[route.index].increment()
        }
        stepDurations[route.index].record(duration: duration)
    }

    /// A partition a worker ran, for the coordinator or a client's direct route; a direct
    /// step counts as a step where it `countsStep` (one of its partitions). With statistics, the
    /// kernel time of each op type it ran.
    static func partitionFinished(
        countsStep: Bool,
        duration: Duration,
        error: WeftError?,
        _ collector: StepStatisticsCollector?
    ) {
        if let error {
            Counter(label: "weft_partition_runs_total", dimensions: [("outcome", "\(error.code)")]).increment()
        } else {
            okPartitions.increment()
        }
        partitionDurations.record(duration: duration)
        if countsStep { stepFinished(duration: duration, error: error, route: .direct) }
        guard let statistics = collector?.statistics else { return }
        var byOp: [String: (runs: Int64, seconds: Double)] = [:]
        for node in statistics.nodes {
            byOp[node.op, default: (0, 0)].runs += 1
            byOp[node.op, default: (0, 0)].seconds += node.duration.inSeconds
        }
        for (op, total) in byOp {
            Counter(label: "weft_kernel_runs_total", dimensions: [("op", op)]).increment(by: total.runs)
            FloatingPointCounter(label: "weft_kernel_seconds_total", dimensions: [("op", op)])
                .increment(by: total.seconds)
        }
    }

    /// The push counters of each peer, made at its first push.
    private static let pushCounters = Mutex<[String: (messages: Counter, tensors: Counter, bytes: Counter)]>([:])

    /// A message of pushes a worker sent to a peer, carrying `bytes` bytes in each tensor.
    static func pushed(to peer: String, bytes: [Int]) {
        let counters = pushCounters.withLock { counters in
            if let known = counters[peer] { return known }
            let made = (
                messages: Counter(label: "weft_push_messages_total", dimensions: [("peer", peer)]),
                tensors: Counter(label: "weft_pushed_tensors_total", dimensions: [("peer", peer)]),
                bytes: Counter(label: "weft_pushed_bytes_total", dimensions: [("peer", peer)])
            )
            counters[peer] = made
            return made
        }
        counters.messages.increment()
        counters.tensors.increment(by: Int64(bytes.count))
        counters.bytes.increment(by: Int64(bytes.reduce(0, +)))
    }

    /// The heartbeats a worker missed, counted when the next one arrives `silence` after the
    /// last: one per whole interval beyond the first (half an interval of jitter is forgiven).
    static func heartbeatsMissed(by worker: DeviceName, silence: Duration, interval: Duration) {
        guard interval > .zero else { return }
        let missed = Int((silence / interval).rounded()) - 1
        guard missed > 0 else { return }
        Counter(label: "weft_heartbeats_missed_total", dimensions: [("worker", worker.description)])
            .increment(by: Int64(missed))
    }

    /// A worker the coordinator declared dead.
    static func workerDeclaredDead(_ worker: String) {
        Counter(label: "weft_workers_declared_dead_total", dimensions: [("worker", worker)]).increment()
    }
}
