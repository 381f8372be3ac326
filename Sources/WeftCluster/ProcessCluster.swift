import Foundation
import Synchronization
import WeftRuntime
import WeftTransport

/// A coordinator and workers started as child processes of the `weft` executable, on one
/// host: what `weft cluster up`, `weft demo` and the multi-process tests run.
///
/// Children are started with `--exit-with-parent`: they read their standard input and exit
/// when it closes, so they never outlive this process, even when it is killed.
public final class ProcessCluster: Sendable {
    /// One child process.
    public struct Member: Sendable {
        /// `coordinator`, or the worker's device.
        public var name: String
        /// The address it listens on.
        public var address: String
        /// Its process id.
        public var pid: Int32
        /// What else it printed before its address, like `metrics on http://…/metrics`.
        public var notes: [String] = []
    }

    private let processes: Mutex<[String: Process]>
    /// The coordinator first, then the workers in job order.
    public let members: [Member]
    /// With keys: the folder holding every key file and the cluster file.
    public let keysFolder: String?
    /// With keys: the cluster file every child read.
    public let configFile: String?
    /// With keys: the security section of that file.
    public let security: ClusterSecurity?

    /// The coordinator's address.
    public var address: String { members[0].address }

    /// Starts the coordinator and the workers of `jobs` on `host`, each printing its bound address.
    ///
    /// With `clients`, the cluster has keys: a key pair for every process and for each client
    /// named, written with a cluster file (free ports chosen now) to a new folder, and every
    /// socket speaks CURVE. `clientSecurity(_:)` gives a client's keys.
    ///
    /// `memberArguments` gives the arguments of one member only, by its index in `members`
    /// (0 the coordinator, then the workers in job order) and the keys folder, when there is one.
    public init(
        executable: URL,
        jobs: JobCounts,
        host: String = "127.0.0.1",
        strategy: String = "explicit",
        extraArguments: [String] = [],
        clients: [String]? = nil,
        memberArguments: (_ index: Int, _ keysFolder: String?) throws(WeftError) -> [String] = { _, _ in [] }
    ) throws(WeftError) {
        if let clients {
            let secured = try SecuredClusterFile(jobs: jobs, host: host, clients: clients)
            keysFolder = secured.folder
            configFile = secured.file
            security = secured.security
        } else {
            keysFolder = nil
            configFile = nil
            security = nil
        }
        var processes: [String: Process] = [:]
        var members: [Member] = []
        let listen = configFile.map { ["--config", $0] } ?? ["--listen", "tcp://\(host):0"]
        do {
            let coordinator = try Self.start(
                executable,
                ["coordinator"] + listen + ["--strategy", strategy, "--exit-with-parent"] + extraArguments
                    + memberArguments(0, keysFolder)
            )
            processes["coordinator"] = coordinator.process
            members.append(
                Member(
                    name: "coordinator",
                    address: coordinator.address,
                    pid: coordinator.process.processIdentifier,
                    notes: coordinator.notes
                )
            )
            for (job, count) in jobs.jobs {
                for task in 0..<count {
                    let name = "/job:\(job)/task:\(task)"
                    let place = configFile == nil ? listen + ["--coordinator", coordinator.address] : listen
                    let worker = try Self.start(
                        executable,
                        ["worker"] + place + ["--job", job, "--task", "\(task)", "--exit-with-parent"] + extraArguments
                            + memberArguments(members.count, keysFolder)
                    )
                    processes[name] = worker.process
                    members.append(
                        Member(
                            name: name,
                            address: worker.address,
                            pid: worker.process.processIdentifier,
                            notes: worker.notes
                        )
                    )
                }
            }
        } catch {
            for process in processes.values { process.terminate() }
            if let keysFolder { try? FileManager.default.removeItem(atPath: keysFolder) }
            throw error
        }
        self.processes = Mutex(processes)
        self.members = members
    }

    /// The keys of client `name` (one of `clients`), for sessions and status requests.
    public func clientSecurity(_ name: String) throws(WeftError) -> ClientSecurity {
        guard let keysFolder, let security else {
            throw WeftError(.failedPrecondition, "this cluster has no keys")
        }
        return try ClientSecurity(secretKeyFile: "\(keysFolder)/\(name).key", cluster: security)
    }

    /// Starts one child of `executable` and reads the address from its line `… listening on
    /// ADDRESS`; pass `--exit-with-parent` so it never outlives this process.
    public static func launch(
        _ executable: URL,
        _ arguments: [String]
    ) throws(WeftError) -> (process: Process, address: String) {
        let started = try start(executable, arguments)
        return (started.process, started.address)
    }

    /// `launch`, also returning the lines the child printed before its address.
    static func start(
        _ executable: URL,
        _ arguments: [String]
    ) throws(WeftError) -> (process: Process, address: String, notes: [String]) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        // Weft keeps OpenBLAS single-threaded (see `Gemm`); set before the child starts, this also
        // spares it the 0.1 s OpenBLAS's helper threads spin at start-up. A value already set stays.
        var environment = ProcessInfo.processInfo.environment
        if environment["OPENBLAS_NUM_THREADS"] == nil { environment["OPENBLAS_NUM_THREADS"] = "1" }
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = Pipe()
        do {
            try process.run()
        } catch {
            throw WeftError(.unavailable, "cannot start \(executable.path): \(error.localizedDescription)")
        }
        guard var lines = readLines(output.fileHandleForReading, through: "listening on", timeout: .seconds(20)),
            let line = lines.popLast(), let address = line.split(separator: " ").last.map(String.init)
        else {
            process.terminate()
            throw WeftError(
                .unavailable,
                "\(executable.lastPathComponent) \(arguments.joined(separator: " ")) did not report its address"
            )
        }
        return (process, address, lines)
    }

    /// The lines `handle` gives up to and including the first that contains `marker`, or `nil`
    /// when none comes within `timeout` or the output ends first.
    private static func readLines(_ handle: FileHandle, through marker: String, timeout: Duration) -> [String]? {
        let lines = Mutex<[String]?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var read: [String] = []
            var bytes: [UInt8] = []
            while true {
                let chunk = handle.readData(ofLength: 1)
                guard let byte = chunk.first else { break }
                guard byte == UInt8(ascii: "\n") else {
                    bytes.append(byte)
                    continue
                }
                read.append(String(decoding: bytes, as: UTF8.self))
                bytes.removeAll()
                if read.last?.contains(marker) == true {
                    lines.withLock { $0 = read }
                    break
                }
            }
            done.signal()
        }
        guard done.wait(timeout: .now() + timeout.dispatchInterval) == .success else { return nil }
        return lines.withLock { $0 }
    }

    /// Starts one more worker process for the cluster at `coordinator`; the caller stops it.
    public static func worker(
        executable: URL,
        coordinator: String,
        job: String,
        task: Int,
        host: String = "127.0.0.1"
    ) throws(WeftError) -> Process {
        try launch(
            executable,
            [
                "worker", "--listen", "tcp://\(host):0", "--coordinator", coordinator, "--job", job, "--task",
                "\(task)",
                "--exit-with-parent",
            ]
        ).process
    }

    /// Sends SIGKILL to one member: for failure tests.
    public func kill(_ name: String) {
        guard let process = processes.withLock({ $0[name] }) else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Stops every child with SIGTERM and waits for it.
    public func stop() {
        let all = processes.withLock { table in
            defer { table.removeAll() }
            return Array(table.values)
        }
        for process in all where process.isRunning { process.terminate() }
        for process in all { process.waitUntilExit() }
        if let keysFolder, !all.isEmpty { try? FileManager.default.removeItem(atPath: keysFolder) }
    }

    deinit { stop() }
}

/// A cluster file with keys for a `ProcessCluster`: a new folder with a key pair per process
/// and per client, and the file naming them, every process on its own free port of `host`.
private struct SecuredClusterFile {
    let folder: String
    let file: String
    let security: ClusterSecurity

    init(jobs: JobCounts, host: String, clients: [String]) throws(WeftError) {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("weft-keys-\(UUID().uuidString)").path
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw WeftError(.unavailable, "cannot make the keys folder \(folder): \(error.localizedDescription)")
        }
        var lines = ["coordinator:"]
        let coordinatorAddress = "tcp://\(host):\(try Self.freePort(host))"
        lines += ["  address: \(coordinatorAddress)", "  listen: \(coordinatorAddress)", "jobs:"]
        var keys = ["security:", "  coordinator: {public: coordinator.pub, secret: coordinator.key}", "  tasks:"]
        _ = try CurveKeyFile.write(try CurveKeyPair.generate(), to: folder, name: "coordinator")
        for (job, count) in jobs.jobs {
            lines.append("  \(job):")
            keys.append("    \(job):")
            for task in 0..<count {
                let address = "tcp://\(host):\(try Self.freePort(host))"
                lines += ["    - address: \(address)", "      listen: \(address)"]
                _ = try CurveKeyFile.write(try CurveKeyPair.generate(), to: folder, name: "\(job)-\(task)")
                keys.append("      - {public: \(job)-\(task).pub, secret: \(job)-\(task).key}")
            }
        }
        keys.append("  clients:")
        for client in clients {
            _ = try CurveKeyFile.write(try CurveKeyPair.generate(), to: folder, name: client)
            keys.append("    \(client): \(client).pub")
        }
        file = "\(folder)/cluster.yaml"
        do {
            try (lines + keys).joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        } catch {
            throw WeftError(.unavailable, "cannot write \(file): \(error.localizedDescription)")
        }
        guard let security = try ClusterConfig(contentsOfFile: file).security else {
            throw WeftError(.internal, "\(file) lost its security section")
        }
        self.security = security
    }

    /// A TCP port of `host` free now (the system's choice for port 0); a child binds it moments later.
    private static func freePort(_ host: String) throws(WeftError) -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw WeftError(.unavailable, "cannot open a socket to find a free port") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr(host)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(descriptor, generic, length) == 0 && getsockname(descriptor, generic, &length) == 0
            }
        }
        guard bound else { throw WeftError(.unavailable, "cannot find a free port on \(host)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
