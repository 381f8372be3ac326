import Dispatch
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization
import WeftRuntime

/// Where an HTTP endpoint listens: `127.0.0.1:9100`, `[::1]:8080`, `localhost:0` for any free
/// port, or a bare port (`9100`, `:9100`) on loopback.
public struct HTTPAddress: Sendable, Hashable, CustomStringConvertible {
    /// The host name or address to bind.
    public var host: String
    /// The port; 0 picks a free one.
    public var port: Int

    /// Parses `HOST:PORT` (an IPv6 host in brackets) or `PORT`; without a host it binds
    /// loopback, so nothing is served beyond this machine unless asked for by name.
    public init(parsing text: String) throws(WeftError) {
        let bad = WeftError(.invalidArgument, "'\(text)' is not an HTTP address: write HOST:PORT, like 127.0.0.1:9100")
        let colon = text.lastIndex(of: ":")
        var host = colon.map { String(text[..<$0]) } ?? ""
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let portText = colon.map { text[text.index(after: $0)...] } ?? Substring(text)
        let hostMissing = colon != nil && host.isEmpty && !text.hasPrefix(":")
        guard let port = Int(portText), (0...65_535).contains(port), !hostMissing else { throw bad }
        self.host = host.isEmpty ? "127.0.0.1" : host
        self.port = port
    }

    /// `HOST:PORT`, with brackets around an IPv6 host.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A read-only HTTP server on its own task, started and stopped from synchronous code (the
/// `weft` commands): `start` returns once it listens, or throws why it cannot.
public final class HTTPEndpoint: Sendable {
    /// The port it listens on (the one picked, when the address asked for port 0).
    public let port: Int
    private let task: Task<Void, Never>
    private let group: ServiceGroup

    private enum Startup: Sendable {
        case waiting
        case listening(Int)
        case failed(String)
    }

    /// What the server task reports to `start`, which waits for it.
    private final class StartupBox: Sendable {
        let state = Mutex(Startup.waiting)
    }

    private init(port: Int, task: Task<Void, Never>, group: ServiceGroup) {
        self.port = port
        self.task = task
        self.group = group
    }

    /// Serves `router` at `address`; throws `unavailable` when it cannot bind within ten seconds.
    public static func start(
        _ router: Router<BasicRequestContext>,
        at address: HTTPAddress,
        logger: Logger
    ) throws(WeftError) -> HTTPEndpoint {
        let startup = StartupBox()
        let settled = DispatchSemaphore(value: 0)
        let application = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port)),
            onServerRunning: { channel in
                startup.state.withLock { $0 = .listening(channel.localAddress?.port ?? address.port) }
                settled.signal()
            },
            logger: logger
        )
        // SIGINT and SIGTERM stay with the command, which stops every part of the process.
        let group = ServiceGroup(
            configuration: .init(services: [application], gracefulShutdownSignals: [], logger: logger)
        )
        let task = Task {
            do {
                try await group.run()
            } catch {
                startup.state.withLock { state in
                    if case .waiting = state { state = .failed("\(error)") }
                }
                settled.signal()
            }
        }
        _ = settled.wait(timeout: .now() + .seconds(10))
        switch startup.state.withLock({ $0 }) {
        case .listening(let port):
            return HTTPEndpoint(port: port, task: task, group: group)
        case .failed(let reason):
            task.cancel()
            throw WeftError(.unavailable, "cannot serve HTTP on \(address): \(reason)")
        case .waiting:
            task.cancel()
            throw WeftError(.unavailable, "cannot serve HTTP on \(address): the server did not start in 10 seconds")
        }
    }

    /// Stops serving: lets requests under way finish, for up to two seconds.
    public func stop() {
        let group = self.group
        let task = self.task
        let stopped = DispatchSemaphore(value: 0)
        Task {
            await group.triggerGracefulShutdown()
            await task.value
            stopped.signal()
        }
        if stopped.wait(timeout: .now() + .seconds(2)) == .timedOut { task.cancel() }
    }

    deinit { task.cancel() }
}
