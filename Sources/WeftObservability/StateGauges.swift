import CoreMetrics
import WeftCluster
import WeftRuntime

/// The gauges a scrape reads from the process's state.
public enum StateGauges {
    /// Tensor memory in use and its limit: every process has them.
    public static func refreshProcess() {
        Gauge(label: "weft_tensor_memory_bytes").record(TensorMemory.liveBytes)
        Gauge(label: "weft_tensor_memory_limit_bytes").record(TensorMemory.limit)
    }

    /// A worker's sessions, and its process gauges.
    public static func refresh(_ worker: Worker) {
        refreshProcess()
        Gauge(label: "weft_sessions").record(worker.sessionCount)
    }

    /// The coordinator's sessions and its view of every worker, and its process gauges.
    public static func refresh(_ coordinator: Coordinator) {
        refreshProcess()
        let snapshot = coordinator.snapshot()
        Gauge(label: "weft_sessions").record(snapshot.sessions.count)
        let healthy = snapshot.workers.filter(\.healthy).count
        Gauge(label: "weft_workers", dimensions: [("state", "healthy")]).record(healthy)
        Gauge(label: "weft_workers", dimensions: [("state", "dead")]).record(snapshot.workers.count - healthy)
        for worker in snapshot.workers {
            let labels = [("worker", worker.device)]
            Gauge(label: "weft_worker_up", dimensions: labels).record(worker.healthy ? 1 : 0)
            Gauge(label: "weft_worker_tensor_memory_bytes", dimensions: labels).record(Double(worker.tensorBytes))
            Gauge(label: "weft_worker_memory_limit_bytes", dimensions: labels).record(Double(worker.memoryLimitBytes))
        }
    }
}
