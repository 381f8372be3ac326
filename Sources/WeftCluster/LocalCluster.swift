import Foundation
import Logging
import WeftPlacement
import WeftRuntime

/// A coordinator and workers in this process, each with its own sockets on loopback: the
/// embedded default for programs and tests that want a real cluster without launching one.
public final class LocalCluster: Sendable {
    /// The coordinator.
    public let coordinator: Coordinator
    /// The workers, in job order.
    public let workers: [Worker]

    /// The address sessions connect to.
    public var address: String { coordinator.address }

    /// Starts a coordinator and the workers `jobs` asks for on `host`, and waits until every
    /// worker has registered.
    public init(
        jobs: JobCounts,
        host: String = "127.0.0.1",
        strategy: String = "explicit",
        logger: Logger = Logger(label: "weft.local-cluster")
    ) throws(WeftError) {
        var configuration = Coordinator.Configuration(listen: "tcp://\(host):0")
        configuration.defaultStrategy = strategy
        _ = try PlacementStrategies.named(strategy)
        let coordinator = try Coordinator(configuration, logger: logger)
        coordinator.start()
        var workers: [Worker] = []
        for (job, count) in jobs.jobs {
            for task in 0..<count {
                let worker = try Worker(
                    .init(listen: "tcp://\(host):0", coordinator: coordinator.address, job: job, task: task),
                    logger: logger
                )
                worker.start()
                workers.append(worker)
            }
        }
        self.coordinator = coordinator
        self.workers = workers
        try waitUntilRegistered(timeout: .seconds(10))
    }

    private func waitUntilRegistered(timeout: Duration) throws(WeftError) {
        let deadline = ContinuousClock.now + timeout
        // Registration takes one round trip per worker; checking every 10 ms wastes nothing.
        while workers.contains(where: { $0.device == nil }) {
            guard ContinuousClock.now < deadline else {
                throw WeftError(
                    .deadlineExceeded,
                    "workers did not register with the local coordinator within \(timeout)"
                )
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// Stops every worker and the coordinator.
    public func stop() {
        for worker in workers { worker.stop() }
        coordinator.stop()
    }
}
