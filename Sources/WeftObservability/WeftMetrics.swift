import CoreMetrics
import Prometheus

/// The process's metrics backend: swift-metrics calls made anywhere in Weft land in one
/// Prometheus registry, which `MetricsEndpoint` serves as text.
public enum WeftMetrics {
    /// Every metric Weft reports, with the help text its `# HELP` line carries.
    static let help: [String: String] = [
        "weft_steps_total": "Steps the coordinator ran, by outcome (ok or the error code).",
        "weft_step_duration_seconds": "Time from a step's request to its reply at the coordinator.",
        "weft_partition_runs_total": "Partitions this worker ran, for the coordinator or a client's direct route.",
        "weft_partition_run_duration_seconds": "Time a worker took to run one partition of a step.",
        "weft_kernel_runs_total": "Kernels run in steps timed node by node, by op type.",
        "weft_kernel_seconds_total": "Kernel time in steps timed node by node, by op type.",
        "weft_pushed_tensors_total": "Tensors this worker pushed to a peer worker.",
        "weft_push_messages_total": "Messages of tensors this worker pushed to a peer worker.",
        "weft_pushed_bytes_total": "Bytes of the tensors this worker pushed to a peer worker.",
        "weft_heartbeats_missed_total": "Heartbeat intervals a worker let pass without a heartbeat.",
        "weft_workers_declared_dead_total": "Times the coordinator declared a worker dead.",
        "weft_messages_refused_total": "Malformed or unacceptable messages refused, by error code.",
        "weft_lent_bytes_total": "Bytes of tensors this process read out of the processes on its host that lent them.",
        "weft_sessions": "Sessions open in this process: all of them on the coordinator, those hosted on a worker.",
        "weft_tensor_memory_bytes": "Bytes this process's tensor buffers hold.",
        "weft_tensor_memory_limit_bytes": "The most bytes this process's tensor buffers may hold.",
        "weft_workers": "Registered workers, by whether their heartbeats arrive in time.",
        "weft_worker_up": "1 while a worker's heartbeats arrive in time, 0 once it is declared dead.",
        "weft_worker_tensor_memory_bytes": "Bytes a worker's tensor buffers hold, from its last heartbeat.",
        "weft_worker_memory_limit_bytes": "The most bytes a worker's tensor buffers may hold.",
    ]

    /// Bucket bounds for durations: steps range from tens of microseconds to minutes.
    static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60),
    ]

    /// Makes swift-metrics report into a new registry and returns it; call once per process,
    /// before anything reports (swift-metrics allows one bootstrap).
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(HelpfulFactory(registry: registry))
        return registry
    }
}

/// swift-prometheus's factory, with the help text of `WeftMetrics.help` on every metric and
/// duration buckets fit for steps.
struct HelpfulFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    private func help(_ label: String) -> String { WeftMetrics.help[label] ?? "" }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: help(label))
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: help(label))
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(name: label, labels: dimensions, help: help(label)) }
        return registry.makeValueHistogram(
            name: label,
            labels: dimensions,
            buckets: [0.001, 0.01, 0.1, 1, 10, 100, 1000, 10_000],
            help: help(label)
        )
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(name: label, labels: dimensions, help: help(label))
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            name: label,
            labels: dimensions,
            buckets: WeftMetrics.durationBuckets,
            help: help(label)
        )
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}
