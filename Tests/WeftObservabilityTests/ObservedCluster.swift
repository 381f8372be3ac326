import Foundation
import Synchronization
import WeftCluster
import WeftTestKit

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `weft` child process whose standard output and error are read as they come, so a test can
/// wait for a line and look at everything printed so far.
final class ChildProcess {
    private let process: Process
    private let output = Buffer()
    private let errors = Buffer()

    /// Bytes a reader thread appends to.
    private final class Buffer: Sendable {
        let data = Mutex(Data())
    }

    init(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = Fixtures.weftExecutable
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        process.environment = environment
        let (stdout, stderr) = (Pipe(), Pipe())
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = Pipe()
        self.process = process
        try process.run()
        Self.collect(stdout.fileHandleForReading, into: output)
        Self.collect(stderr.fileHandleForReading, into: errors)
    }

    private static func collect(_ handle: FileHandle, into buffer: Buffer) {
        Thread.detachNewThread {
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { return }
                buffer.data.withLock { $0.append(chunk) }
            }
        }
    }

    /// The process's id, for signals.
    var processIdentifier: Int32 { process.processIdentifier }

    /// Everything the process printed to standard output, and to standard error.
    var standardOutput: String { output.data.withLock { String(decoding: $0, as: UTF8.self) } }
    var standardError: String { errors.data.withLock { String(decoding: $0, as: UTF8.self) } }

    /// The last word of the first output line starting with `prefix`, waiting up to 20 seconds.
    func value(after prefix: String) throws -> String {
        let line = try self.line { $0.hasPrefix(prefix) }
        return line.split(separator: " ").last.map(String.init) ?? ""
    }

    /// The first output line containing `text`, waiting up to 20 seconds.
    func line(containing text: String) throws -> String {
        try line { $0.contains(text) }
    }

    private func line(where matches: (Substring) -> Bool) throws -> String {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let line = standardOutput.split(separator: "\n").first(where: matches) { return String(line) }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw TestFailure("no such line in: \(standardOutput)\n\(standardError)")
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// A coordinator with metrics and dashboard and two workers with metrics, on loopback.
final class ObservedCluster {
    let coordinator: ChildProcess
    let workers: [ChildProcess]
    let address: String
    let metrics: URL
    let dashboard: URL
    let workerMetrics: [URL]

    init() throws {
        coordinator = try ChildProcess([
            "coordinator", "--listen", "tcp://127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--http",
            "127.0.0.1:0", "--log-format", "json", "--log-level", "info", "--exit-with-parent",
        ])
        address = try coordinator.value(after: "coordinator listening on")
        metrics = try requireURL(coordinator.value(after: "metrics on"))
        dashboard = try requireURL(coordinator.value(after: "dashboard on"))
        var workers: [ChildProcess] = []
        var workerMetrics: [URL] = []
        for task in 0..<2 {
            let worker = try ChildProcess([
                "worker", "--listen", "tcp://127.0.0.1:0", "--coordinator", address, "--job", "worker", "--task",
                "\(task)", "--metrics-listen", "127.0.0.1:0", "--exit-with-parent",
            ])
            workers.append(worker)
            workerMetrics.append(try requireURL(worker.value(after: "metrics on")))
        }
        self.workers = workers
        self.workerMetrics = workerMetrics
        let deadline = ContinuousClock.now + .seconds(10)
        // Registered, and a heartbeat has told the coordinator their memory.
        while (try? ClusterClient.status(coordinator: address))?.workers.filter({
            $0.healthy && $0.memoryLimitBytes > 0
        })
        .count != 2 {
            guard ContinuousClock.now < deadline else { throw TestFailure("the workers did not register in 10 s") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    func stop() {
        for worker in workers { worker.stop() }
        coordinator.stop()
    }

    deinit { stop() }
}

/// A failure a helper reports to its test.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

private func requireURL(_ text: String) throws -> URL {
    guard let url = URL(string: text) else { throw TestFailure("'\(text)' is not a URL") }
    return url
}

/// Fetches a URL: the status code and the body; `bearer` sends `Authorization: Bearer …`.
func httpGet(_ url: URL, method: String = "GET", bearer: String? = nil) async throws -> (status: Int, body: String) {
    var request = URLRequest(url: url)
    request.httpMethod = method
    if let bearer { request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}

/// Runs a program to its end: its status and standard output (and errors, with `withErrors`).
func runProgram(_ executable: String, _ arguments: [String], withErrors: Bool = false) throws -> (Int32, String) {
    guard FileManager.default.isExecutableFile(atPath: executable) else {
        throw TestFailure("\(executable) is missing: run scripts/install-deps")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = withErrors ? output : FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Headless Chromium's output for `arguments` (`--dump-dom URL`: the page once its scripts ran).
func chromium(_ arguments: [String]) throws -> String {
    let (status, output) = try runProgram(
        "/usr/bin/chromium",
        ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=8000"] + arguments
    )
    guard status == 0 else { throw TestFailure("chromium failed: \(output)") }
    return output
}

/// The value of one series in Prometheus's text format (`name{labels} value`); 0 when absent.
func sample(_ text: String, _ series: String) -> Double {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1)) ?? .nan
    }
    return 0
}
