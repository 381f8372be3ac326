import ArgumentParser
import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import WeftCluster
import WeftObservability
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// `weft coordinator`: runs a coordinator until SIGINT or SIGTERM, then drains its steps.
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Run a coordinator.",
        discussion: """
            Settings come from --config's cluster file when given; every flag overrides the file. With the file's \
            security section every connection speaks CURVE and only listed keys get in; without keys the \
            coordinator binds only loopback addresses unless --insecure is given.
            """
    )

    @Option(help: "A cluster file (YAML or JSON) to take the address, strategy and timing from.")
    var config: String?

    @Option(
        help:
            "Address to bind, like tcp://127.0.0.1:7070 (port 0 picks a free port). Default: the cluster file's, else tcp://127.0.0.1:7070."
    )
    var listen: String?

    @Flag(
        help: """
            Without keys, allow listening (and serving --http or --metrics-listen) on a non-loopback address: anyone \
            who reaches it can use every session.
            """
    )
    var insecure = false

    @Option(
        help:
            "Placement strategy for sessions that name none: \(PlacementStrategies.all.map(\.name).joined(separator: ", ")). Default: explicit."
    )
    var strategy: String?

    @Option(
        parsing: .unconditional,
        help: "Milliseconds of worker silence before it is declared dead. Default: 1500."
    )
    var heartbeatTimeoutMs: Int?

    @Option(parsing: .unconditional, help: "Milliseconds between a worker's heartbeats. Default: 250.")
    var heartbeatIntervalMs: Int?

    @Option(
        parsing: .unconditional,
        help: "Milliseconds one request to a worker may take, apart from running steps. Default: 2000."
    )
    var requestTimeoutMs: Int?

    @Option(
        parsing: .unconditional,
        help: "Milliseconds a step may run when its client sets no deadline. Default: 60000."
    )
    var stepTimeoutMs: Int?

    @Option(
        parsing: .unconditional,
        help: "The longest lease a client may ask for, in milliseconds: how long a vanished client's session holds state at most. Default: no limit."
    )
    var maxSessionLeaseMs: Int?

    @OptionGroup var lifecycle: ServiceOptions

    @OptionGroup var observability: CoordinatorObservabilityOptions

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        let durations = [
            ("heartbeat-timeout-ms", heartbeatTimeoutMs), ("heartbeat-interval-ms", heartbeatIntervalMs),
            ("request-timeout-ms", requestTimeoutMs), ("step-timeout-ms", stepTimeoutMs),
            ("max-session-lease-ms", maxSessionLeaseMs),
        ]
        for (name, value) in durations { _ = try milliseconds(value, flag: name) }
        try checkAddress(listen, flag: "listen", binding: true)
    }

    /// The cluster file's settings with this command's flags laid over them.
    func coordinatorConfiguration() throws -> Coordinator.Configuration {
        var configuration =
            try config.map { try ClusterConfig(contentsOfFile: $0).coordinatorConfiguration() }
            ?? Coordinator.Configuration(listen: "tcp://127.0.0.1:7070")
        if let listen { configuration.listen = listen }
        if insecure { configuration.insecure = true }
        if let strategy { configuration.defaultStrategy = strategy }
        if let heartbeatTimeoutMs { configuration.heartbeatTimeout = .milliseconds(heartbeatTimeoutMs) }
        if let heartbeatIntervalMs { configuration.heartbeatInterval = .milliseconds(heartbeatIntervalMs) }
        if let requestTimeoutMs { configuration.requestTimeout = .milliseconds(requestTimeoutMs) }
        if let stepTimeoutMs { configuration.stepTimeout = .milliseconds(stepTimeoutMs) }
        if let maxSessionLeaseMs { configuration.maximumSessionLease = .milliseconds(maxSessionLeaseMs) }
        if observability.samplesSteps { configuration.statisticsSampleInterval = .seconds(1) }
        _ = try PlacementStrategies.named(configuration.defaultStrategy)
        if let problem = ClusterConfig.heartbeatProblem(
            interval: configuration.heartbeatInterval,
            timeout: configuration.heartbeatTimeout
        ) {
            throw ValidationError("--heartbeat-timeout-ms: \(problem)")
        }
        return configuration
    }

    func run() async throws {
        global.bootstrapLogging()
        MessageSizeLimit.set(try lifecycle.messageSizeLimit())
        let configuration = try coordinatorConfiguration()
        let logger = Logger(label: "weft.coordinator")
        let coordinator = try Coordinator(configuration, logger: logger)
        let endpoints = try observability.serve(
            coordinator,
            security: HTTPSecurity(
                keys: configuration.security,
                insecure: configuration.insecure,
                tokenFile: try config.flatMap { try ClusterConfig(contentsOfFile: $0).httpTokenFile }
            )
        )
        // The endpoints' lines come first: a parent reads up to the "listening on" line.
        let lines = endpoints.map(\.1) + ["coordinator listening on \(coordinator.address)"]
        let service = CoordinatorService(coordinator: coordinator, drainTimeout: lifecycle.drainTimeout, logger: logger) {
            for line in lines { say(line) }
        }
        try await ServiceGroup.process(service, exitWithParent: lifecycle.exitWithParent, logger: logger).run()
        for (endpoint, _) in endpoints { endpoint.stop() }
    }
}

/// `weft worker`: runs a worker until SIGINT or SIGTERM, then drains its steps and leaves.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker.",
        discussion: """
            With --config, the worker takes task --task of job --job from the cluster file: it binds that task's \
            listen address (every interface, on the task's port, by default; loopback for a loopback address), \
            advertises the task's address, registers with the file's coordinator, and with the file's security \
            section speaks CURVE with its task's keys. Every flag overrides the file. Without keys it binds only \
            loopback addresses unless --insecure is given.
            """
    )

    @Option(
        help:
            "Address to bind, like tcp://127.0.0.1:7071 (port 0 picks a free port). Default: the cluster file's, else tcp://127.0.0.1:7071."
    )
    var listen: String?

    @Flag(
        help: """
            Without keys, allow listening (and serving --http or --metrics-listen) on a non-loopback address: anyone \
            who reaches it can use every session.
            """
    )
    var insecure = false

    @Option(help: "Address other processes reach this worker at, when it differs from the bound one.")
    var advertise: String?

    @OptionGroup var cluster: ClusterOptions

    @Option(help: "The job this worker belongs to. Default: worker.")
    var job: String?

    @Option(
        parsing: .unconditional,
        help: "The task index; assigned by the coordinator when left out (required with --config)."
    )
    var task: Int?

    @Option(parsing: .unconditional, help: "Milliseconds one request to the coordinator may take. Default: 2000.")
    var requestTimeoutMs: Int?

    @Option(
        help: """
            The most memory this worker's tensors may hold: a size like 512MiB or 4GiB, or a share of physical \
            memory like 50%. A step that would pass it fails with resourceExhausted.
            """
    )
    var memoryLimit = "80%"

    @Option(
        parsing: .unconditional,
        help: "Seconds to try registering with the coordinator before exiting with status 1. Default: forever."
    )
    var registerTimeout: Double?

    @OptionGroup var lifecycle: ServiceOptions

    @OptionGroup var observability: WorkerObservabilityOptions

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try cluster.requireOne()
        do {
            _ = try ConfigByteSize.parse(memoryLimit)
        } catch {
            throw ValidationError("--memory-limit: \(error.message)")
        }
        if cluster.config != nil && (job == nil || task == nil) {
            throw ValidationError(
                "--config needs --job NAME and --task N to know which of the file's tasks this worker is"
            )
        }
        if let task, task < 0 { throw ValidationError("--task must be 0 or more, not \(task)") }
        _ = try milliseconds(requestTimeoutMs, flag: "request-timeout-ms")
        try checkAddress(listen, flag: "listen", binding: true)
        try checkAddress(advertise, flag: "advertise", binding: false)
        try checkAddress(cluster.coordinator, flag: "coordinator", binding: false)
        if let registerTimeout, !(registerTimeout > 0 && registerTimeout <= 100 * 365 * 86_400) {
            throw ValidationError("--register-timeout must be a positive number of seconds, not \(registerTimeout)")
        }
    }

    /// The cluster file's settings for this task with this command's flags laid over them.
    func workerConfiguration() throws -> Worker.Configuration {
        var configuration: Worker.Configuration
        if let file = try cluster.clusterFile(), let job, let task {
            configuration = try file.workerConfiguration(job: job, task: task)
        } else {
            configuration = .init(
                listen: "tcp://127.0.0.1:7071",
                coordinator: cluster.coordinator ?? "",
                job: job ?? "worker",
                task: task
            )
        }
        if let listen { configuration.listen = listen }
        if insecure { configuration.insecure = true }
        if let advertise { configuration.advertise = advertise }
        if let coordinator = cluster.coordinator { configuration.coordinator = coordinator }
        if let requestTimeoutMs { configuration.requestTimeout = .milliseconds(requestTimeoutMs) }
        return configuration
    }

    func run() async throws {
        global.bootstrapLogging()
        TensorMemory.setLimit(try ConfigByteSize.parse(memoryLimit))
        MessageSizeLimit.set(try lifecycle.messageSizeLimit())
        let configuration = try workerConfiguration()
        let logger = Logger(label: "weft.worker")
        let worker = try Worker(configuration, logger: logger)
        let endpoint = try observability.serve(
            worker,
            security: HTTPSecurity(
                keys: configuration.security,
                insecure: configuration.insecure,
                tokenFile: try cluster.clusterFile()?.httpTokenFile
            )
        )
        // The endpoint's line comes first: a parent reads up to the "listening on" line.
        let lines = (endpoint.map { [$0.1] } ?? []) + ["worker listening on \(worker.address)"]
        let service = WorkerService(worker: worker, drainTimeout: lifecycle.drainTimeout, logger: logger) {
            for line in lines { say(line) }
        }
        if let registerTimeout { exitUnlessRegistered(worker, within: .milliseconds(Int64(registerTimeout * 1000))) }
        try await ServiceGroup.process(service, exitWithParent: lifecycle.exitWithParent, logger: logger).run()
        endpoint?.0.stop()
        // A step abandoned at the drain deadline may still be inside OpenBLAS, whose exit
        // handler would then never return.
        if !service.drained { exitSkippingLibraryDestructors() }
    }

    /// Ends the process with status 1, saying why, when `worker` has not registered within `timeout`.
    private func exitUnlessRegistered(_ worker: Worker, within timeout: Duration) {
        Thread.detachNewThread {
            guard let error = worker.waitForRegistration(timeout: timeout) else { return }
            FileHandle.standardError.write(
                Data("weft worker: not registered within \(timeout): \(error.code): \(error.message)\n".utf8)
            )
            worker.stop()
            exitSkippingLibraryDestructors(status: 1)
        }
    }
}

/// `weft status`: the coordinator's view of workers and sessions.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "List workers and open sessions.")

    @OptionGroup var cluster: ClusterOptions

    @Flag(help: "Also measure the links between workers' hosts (one pair of workers per pair of hosts), each direction.")
    var links = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try cluster.requireOne()
    }

    /// What a worker's sessions hold, `0 bytes` rather than Foundation's `Zero KB`.
    private static func bytes(_ count: UInt64) -> String {
        let formatter = ByteCountFormatter()
        formatter.countStyle = .memory
        formatter.allowsNonnumericFormatting = false
        return formatter.string(fromByteCount: Int64(clamping: count))
    }

    func run() throws {
        global.bootstrapLogging()
        let address = try cluster.coordinatorAddress()
        let security = try cluster.clientSecurity()
        let status = try ClusterClient.status(coordinator: address, security: security)
        say("WORKER                 ADDRESS                        HEALTH     SESSIONS  MEMORY      LAST SEEN")
        for worker in status.workers {
            let device = "/job:\(worker.job)/task:\(worker.task)"
            say(
                device.padding(toLength: 22, withPad: " ", startingAt: 0) + " "
                    + worker.address.padding(toLength: 30, withPad: " ", startingAt: 0) + " "
                    + (worker.healthy ? "healthy" : "dead").padding(toLength: 10, withPad: " ", startingAt: 0) + " "
                    + "\(worker.sessions)".padding(toLength: 9, withPad: " ", startingAt: 0) + " "
                    + Self.bytes(worker.residentBytes).padding(toLength: 11, withPad: " ", startingAt: 0)
                    + " \(worker.lastSeenMsAgo) ms ago"
            )
        }
        say("\(status.sessions.count) open session\(status.sessions.count == 1 ? "" : "s")")
        for session in status.sessions {
            // Other clients' sessions come without their handles.
            let handle = session.handle.isEmpty ? "(another client's)" : session.handle
            let client = session.client.isEmpty ? "" : "  client \(session.client)"
            say("  \(handle)  nodes \(session.nodes)  steps \(session.steps)\(client)")
        }
        guard links else { return }
        say("LINK                                        LATENCY     BANDWIDTH")
        for link in try ClusterClient.measureLinks(coordinator: address, security: security) {
            let microseconds = link.latency / .microseconds(1)
            say(
                "\(link.source) -> \(link.destination)".padding(toLength: 43, withPad: " ", startingAt: 0) + " "
                    + String(format: "%8.1f µs  %8.2f GB/s", microseconds, link.bytesPerSecond / 1e9)
            )
        }
    }
}

/// A `--NAME-ms` flag's value as a duration, checked as the cluster file checks durations.
func milliseconds(_ value: Int?, flag: String) throws -> Duration? {
    guard let value else { return nil }
    do {
        return try ConfigDuration.parse("\(value)ms")
    } catch {
        throw ValidationError("--\(flag): \(error.message)")
    }
}

/// Checks an address flag as the cluster file checks addresses (`binding` for one to listen on).
func checkAddress(_ text: String?, flag: String, binding: Bool) throws {
    guard let text, let problem = ClusterConfig.addressProblem(text, binding: binding) else { return }
    throw ValidationError("--\(flag): \(problem)")
}

/// A size flag's bytes (`256MiB`, `50%` of physical memory), or `nil` when it was not given.
private func byteSize(_ text: String?, flag: String) throws -> Int? {
    guard let text else { return nil }
    do {
        return try ConfigByteSize.parse(text)
    } catch {
        throw ValidationError("--\(flag): \(error.message)")
    }
}

/// Ends a worker process that cannot end through its exit handlers: OpenBLAS's joins its thread
/// pool and deadlocks when another thread is still inside a BLAS call (a step abandoned at the
/// drain deadline, the start-up calibration of a worker that never registered). Its sockets
/// are closed and its output is unbuffered, so nothing is lost.
func exitSkippingLibraryDestructors(status: Int32 = 0) -> Never {
    _exit(status)
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

/// The flags a coordinator and a worker share as long-running services: the frame size they
/// accept, and how they shut down.
struct ServiceOptions: ParsableArguments {
    @Option(
        help: """
            The largest frame (the envelope, or one tensor) a peer may send, like 256MiB or 50%; a peer that \
            sends a larger one is disconnected. Default: the memory limit.
            """
    )
    var maxMessageSize: String?

    @Option(
        name: .customLong("drain-timeout-ms"),
        parsing: .unconditional,
        help: "Milliseconds a process given SIGTERM lets its running steps finish before it stops. Default: 10000."
    )
    var drainTimeoutMs: Int?

    @Flag(help: .hidden) var exitWithParent = false

    func validate() throws {
        _ = try milliseconds(drainTimeoutMs, flag: "drain-timeout-ms")
        _ = try messageSizeLimit()
    }

    /// The drain deadline.
    var drainTimeout: Duration { .milliseconds(drainTimeoutMs ?? 10_000) }

    /// `--max-message-size` in bytes, or `nil` for the default.
    func messageSizeLimit() throws -> Int? { try byteSize(maxMessageSize, flag: "max-message-size") }
}
