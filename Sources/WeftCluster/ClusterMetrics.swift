import Metrics
import WeftPlacement
import WeftRuntime

/// What the coordinator and workers report through swift-metrics: a few calls per step and
/// per message, never per node. Names and units follow Prometheus's conventions; the process
/// that serves them (`weft coordinator --metrics-listen`) chooses the backend, and without one
/// these calls cost next to nothing.
///
/// Metric objects are made at each event rather than kept: the backend is chosen at start-up,
/// after which the factory hands back the same series for the same name and labels.
enum ClusterMetrics {
    /// Who ran a step: the coordinator, or a worker a client sent it to directly.
    enum Route: String {
        case coordinator, direct
    }

    /// A step that finished: counted by route and outcome (`ok` or the error's code) and timed.
    /// Each step is counted once in the cluster, by the process its client asked, so summing
    /// `weft_steps_total` over the coordinator and the workers gives every step.
    static func stepFinished(duration: Duration, error: WeftError?, route: Route = .coordinator) {
        Counter(label: "weft_steps_total", dimensions: [("route", route.rawValue), ("outcome", outcome(error))])
            .increment()
        Timer(label: "weft_step_duration_seconds", dimensions: [("route", route.rawValue)]).record(duration: duration)
    }

    /// A partition a worker ran, for the coordinator or a client's direct route (which is a
    /// whole step, counted as one); with statistics, the kernel time of each op type it ran.
    static func partitionFinished(
        step: UInt64,
        started: ContinuousClock.Instant,
        result: Result<[Tensor], WeftError>,
        pushError: WeftError?,
        _ collector: StepStatisticsCollector?
    ) {
        var error = pushError
        if case .failure(let failure) = result { error = failure }
        let duration = ContinuousClock.now - started
        Counter(label: "weft_partition_runs_total", dimensions: [("outcome", outcome(error))]).increment()
        Timer(label: "weft_partition_run_duration_seconds").record(duration: duration)
        if DirectStepID.isDirect(step) { stepFinished(duration: duration, error: error, route: .direct) }
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

    /// A tensor a worker pushed to a peer.
    static func tensorPushed(to peer: String, bytes: Int) {
        Counter(label: "weft_pushed_tensors_total", dimensions: [("peer", peer)]).increment()
        Counter(label: "weft_pushed_bytes_total", dimensions: [("peer", peer)]).increment(by: Int64(bytes))
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

    private static func outcome(_ error: WeftError?) -> String {
        error.map { "\($0.code)" } ?? "ok"
    }
}
