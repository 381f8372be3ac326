import Foundation
import Synchronization
import WeftCluster

/// Keeps one parameter server process (`/job:ps/task:0`) running: when it exits, for whatever
/// reason, starts it again on the same task, as a cluster manager would.
final class ParameterServerSupervisor: Sendable {
    private let executable: URL
    private let coordinator: String
    private let process: Mutex<Process?>
    private let stopped = Atomic<Bool>(false)

    /// Starts the parameter server and a thread that restarts it when it exits.
    init(executable: URL, coordinator: String) throws {
        self.executable = executable
        self.coordinator = coordinator
        process = Mutex(try ProcessCluster.worker(executable: executable, coordinator: coordinator, job: "ps", task: 0))
        Thread.detachNewThread { [self] in watch() }
    }

    /// The running parameter server's process id.
    var pid: Int32 { process.withLock { $0?.processIdentifier ?? 0 } }

    /// Stops the parameter server for good.
    func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        let running = process.withLock { $0 }
        running?.terminate()
        running?.waitUntilExit()
    }

    private func watch() {
        while !stopped.load(ordering: .sequentiallyConsistent) {
            guard let running = process.withLock({ $0 }) else { return }
            running.waitUntilExit()
            guard !stopped.load(ordering: .sequentiallyConsistent) else { return }
            say("parameter server \(running.processIdentifier) exited; starting it again on /job:ps/task:0")
            do {
                let restarted = try ProcessCluster.worker(
                    executable: executable,
                    coordinator: coordinator,
                    job: "ps",
                    task: 0
                )
                process.withLock { $0 = restarted }
            } catch {
                say("cannot restart the parameter server: \(error)")
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }
}
