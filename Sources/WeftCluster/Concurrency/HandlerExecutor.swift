import Dispatch

/// Runs a process's request handlers on their own threads instead of Swift's cooperative pool.
///
/// Callers often block in `Session.run` from async code; with a coordinator in the same
/// process (`LocalCluster`), handlers on the cooperative pool would wait behind those blocked
/// threads forever. A private concurrent queue gets a new thread whenever its threads block.
final class HandlerExecutor: TaskExecutor {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label, attributes: .concurrent)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
