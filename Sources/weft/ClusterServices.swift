import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WeftCluster

/// A coordinator process as a service: serves until a graceful shutdown (SIGTERM, SIGINT, or
/// the parent gone), then lets the steps in flight finish, up to `drainTimeout`, and stops.
struct CoordinatorService: Service {
    let coordinator: Coordinator
    let drainTimeout: Duration
    let logger: Logger
    /// Says the coordinator serves; called once signals are trapped, so a SIGTERM sent on
    /// seeing it shuts down gracefully.
    let announce: @Sendable () -> Void

    func run() async throws {
        coordinator.start()
        announce()
        try? await gracefulShutdown()
        if !(await coordinator.drain(timeout: drainTimeout)) {
            logger.warning("steps still in flight at the drain deadline were failed")
        }
    }
}

/// A worker process as a service: serves until a graceful shutdown, then finishes the steps
/// running here, up to `drainTimeout`, tells the coordinator it leaves, and stops. `drained`
/// says afterwards whether it all ended in time.
final class WorkerService: Service {
    let worker: Worker
    let drainTimeout: Duration
    let logger: Logger
    /// Says the worker serves, once signals are trapped.
    let announce: @Sendable () -> Void
    private let finished = Mutex(false)

    init(worker: Worker, drainTimeout: Duration, logger: Logger, announce: @escaping @Sendable () -> Void) {
        self.worker = worker
        self.drainTimeout = drainTimeout
        self.logger = logger
        self.announce = announce
    }

    /// Whether the last shutdown finished every step and left no work running.
    var drained: Bool { finished.withLock { $0 } }

    func run() async throws {
        worker.start()
        announce()
        try? await gracefulShutdown()
        let drained = await worker.leave(drainingFor: drainTimeout)
        finished.withLock { $0 = drained }
        if !drained { logger.warning("steps still running at the drain deadline were abandoned") }
    }
}

/// Ends its group gracefully once standard input closes: the parent that started this process
/// (with `--exit-with-parent`) is gone.
struct ParentWatch: Service {
    func run() async throws {
        let closed = AsyncStream<Void> { continuation in
            Thread.detachNewThread {
                while !FileHandle.standardInput.availableData.isEmpty {}
                continuation.finish()
            }
        }
        for await _ in closed.cancelOnGracefulShutdown() {}
    }
}

extension ServiceGroup {
    /// `service` until SIGTERM or SIGINT (or, with `exitWithParent`, until the parent is gone),
    /// each of which shuts it down gracefully.
    static func process(_ service: any Service, exitWithParent: Bool, logger: Logger) -> ServiceGroup {
        var services = [ServiceGroupConfiguration.ServiceConfiguration(service: service)]
        if exitWithParent {
            services.append(.init(service: ParentWatch(), successTerminationBehavior: .gracefullyShutdownGroup))
        }
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        return ServiceGroup(configuration: configuration)
    }
}
