import Dispatch

/// Runs work that takes a while (placement, calibration, building a partition's plan, link
/// measurements) off a role's serial executor, so heartbeats and health checks never wait
/// behind it, and off Swift's cooperative pool.
///
/// Callers often block in `Session.run` from async code; with a coordinator in the same
/// process (`LocalCluster`), work on the cooperative pool would wait behind those blocked
/// threads forever. A private concurrent queue gets a new thread whenever its threads block.
final class OffloadExecutor: TaskExecutor {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label, attributes: .concurrent)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
