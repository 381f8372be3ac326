import ArgumentParser
import Dispatch
import Foundation
import Logging
import WeftCluster
import WeftProto
import WeftRuntime

/// `weft coordinator`: runs a coordinator until SIGINT or SIGTERM.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "coordinator", abstract: "Run a coordinator.")

    @Option(help: "Address to bind, like tcp://0.0.0.0:7070 (port 0 picks a free port).")
    var listen = "tcp://0.0.0.0:7070"

    @Option(help: "Placement strategy for sessions that name none: \(PlacementStrategies.all.map(\.name).joined(separator: ", ")).")
    var strategy = "explicit"

    @Option(help: "Milliseconds of worker silence before it is declared dead.")
    var heartbeatTimeoutMs = 1500

    @Flag(help: .hidden) var exitWithParent = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.bootstrapLogging()
        _ = try PlacementStrategies.named(strategy)
        var configuration = Coordinator.Configuration(listen: listen)
        configuration.defaultStrategy = strategy
        configuration.heartbeatTimeout = .milliseconds(heartbeatTimeoutMs)
        let coordinator = try Coordinator(configuration, logger: Logger(label: "weft.coordinator"))
        coordinator.start()
        say("coordinator listening on \(coordinator.address)")
        waitForTermination(exitWithParent: exitWithParent)
        coordinator.stop()
    }
}

/// `weft worker`: runs a worker until SIGINT or SIGTERM.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run a worker.")

    @Option(help: "Address to bind, like tcp://0.0.0.0:7071 (port 0 picks a free port).")
    var listen = "tcp://0.0.0.0:7071"

    @Option(help: "Address other processes reach this worker at, when it differs from the bound one.")
    var advertise: String?

    @Option(help: "The coordinator's address, like tcp://host:7070.")
    var coordinator: String

    @Option(help: "The job this worker belongs to.")
    var job = "worker"

    @Option(help: "The task index; assigned by the coordinator when left out.")
    var task: Int?

    @Flag(help: .hidden) var exitWithParent = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.bootstrapLogging()
        let worker = try Worker(
            .init(listen: listen, advertise: advertise, coordinator: coordinator, job: job, task: task),
            logger: Logger(label: "weft.worker"))
        worker.start()
        say("worker listening on \(worker.address)")
        waitForTermination(exitWithParent: exitWithParent)
        worker.stop()
    }
}

/// `weft status`: the coordinator's view of workers and sessions.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "List workers and open sessions.")

    @Option(help: "The coordinator's address.")
    var coordinator: String

    @Flag(help: "Also measure every link between workers: latency and bandwidth, each direction.")
    var links = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.bootstrapLogging()
        let status = try ClusterClient.status(coordinator: coordinator)
        say("WORKER                 ADDRESS                        HEALTH     SESSIONS  MEMORY      LAST SEEN")
        for worker in status.workers {
            let device = "/job:\(worker.job)/task:\(worker.task)"
            say(
                device.padding(toLength: 22, withPad: " ", startingAt: 0) + " "
                    + worker.address.padding(toLength: 30, withPad: " ", startingAt: 0) + " "
                    + (worker.healthy ? "healthy" : "dead").padding(toLength: 10, withPad: " ", startingAt: 0) + " "
                    + "\(worker.sessions)".padding(toLength: 9, withPad: " ", startingAt: 0) + " "
                    + ByteCountFormatter.string(fromByteCount: Int64(worker.residentBytes), countStyle: .memory)
                    .padding(toLength: 11, withPad: " ", startingAt: 0) + " \(worker.lastSeenMsAgo) ms ago")
        }
        say("\(status.sessions.count) open session\(status.sessions.count == 1 ? "" : "s")")
        for session in status.sessions {
            say("  \(session.handle)  nodes \(session.nodes)  steps \(session.steps)  client \(session.client)")
        }
        guard links else { return }
        say("LINK                                        LATENCY     BANDWIDTH")
        for link in try ClusterClient.measureLinks(coordinator: coordinator) {
            let microseconds = Double(link.latency.components.attoseconds) / 1e12 + Double(link.latency.components.seconds) * 1e6
            say(
                "\(link.source) -> \(link.destination)".padding(toLength: 43, withPad: " ", startingAt: 0) + " "
                    + String(format: "%8.1f µs  %8.2f GB/s", microseconds, link.bytesPerSecond / 1e9))
        }
    }
}

/// Blocks until SIGINT or SIGTERM, or, with `exitWithParent`, until standard input closes
/// (the parent that started this process is gone).
func waitForTermination(exitWithParent: Bool = false) {
    let done = DispatchSemaphore(value: 0)
    if exitWithParent {
        Thread.detachNewThread {
            while !FileHandle.standardInput.availableData.isEmpty {}
            done.signal()
        }
    }
    var sources: [DispatchSourceSignal] = []
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { done.signal() }
        source.resume()
        sources.append(source)
    }
    done.wait()
    _ = sources
}
