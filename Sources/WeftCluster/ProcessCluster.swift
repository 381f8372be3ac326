import Foundation
import Synchronization
import WeftRuntime

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
    }

    private let processes: Mutex<[String: Process]>
    /// The coordinator first, then the workers in job order.
    public let members: [Member]

    /// The coordinator's address.
    public var address: String { members[0].address }

    /// Starts the coordinator and the workers of `jobs` on `host`, each printing its bound address.
    public init(
        executable: URL,
        jobs: JobCounts,
        host: String = "127.0.0.1",
        strategy: String = "explicit",
        extraArguments: [String] = []
    ) throws(WeftError) {
        var processes: [String: Process] = [:]
        var members: [Member] = []
        do {
            let coordinator = try Self.launch(
                executable,
                ["coordinator", "--listen", "tcp://\(host):0", "--strategy", strategy, "--exit-with-parent"]
                    + extraArguments
            )
            processes["coordinator"] = coordinator.process
            members.append(
                Member(name: "coordinator", address: coordinator.address, pid: coordinator.process.processIdentifier)
            )
            for (job, count) in jobs.jobs {
                for task in 0..<count {
                    let name = "/job:\(job)/task:\(task)"
                    let worker = try Self.launch(
                        executable,
                        [
                            "worker", "--listen", "tcp://\(host):0", "--coordinator", coordinator.address, "--job", job,
                            "--task", "\(task)", "--exit-with-parent",
                        ] + extraArguments
                    )
                    processes[name] = worker.process
                    members.append(Member(name: name, address: worker.address, pid: worker.process.processIdentifier))
                }
            }
        } catch {
            for process in processes.values { process.terminate() }
            throw error
        }
        self.processes = Mutex(processes)
        self.members = members
    }

    /// Starts one child of `executable` and reads the address from its first line
    /// (`… listening on ADDRESS`); pass `--exit-with-parent` so it never outlives this process.
    public static func launch(
        _ executable: URL,
        _ arguments: [String]
    ) throws(WeftError) -> (process: Process, address: String) {
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
        guard let line = readLine(output.fileHandleForReading, timeout: .seconds(20)),
            let address = line.split(separator: " ").last.map(String.init), line.contains("listening on")
        else {
            process.terminate()
            throw WeftError(
                .unavailable,
                "\(executable.lastPathComponent) \(arguments.joined(separator: " ")) did not report its address"
            )
        }
        return (process, address)
    }

    private static func readLine(_ handle: FileHandle, timeout: Duration) -> String? {
        let line = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var bytes: [UInt8] = []
            while true {
                let chunk = handle.readData(ofLength: 1)
                guard let byte = chunk.first else { break }
                if byte == UInt8(ascii: "\n") { break }
                bytes.append(byte)
            }
            line.withLock { $0 = String(decoding: bytes, as: UTF8.self) }
            done.signal()
        }
        guard done.wait(timeout: .now() + timeout.dispatchInterval) == .success else { return nil }
        return line.withLock { $0 }
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
    }

    deinit { stop() }
}
