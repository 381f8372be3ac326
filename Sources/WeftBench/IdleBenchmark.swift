import Foundation
import WeftCluster
import WeftRuntime

#if canImport(Glibc)
import Glibc
#endif

/// `weft bench idle`: what a local cluster costs while nothing runs: each worker's memory, as
/// the kernel counts it in `/proc/PID/smaps_rollup`, and the CPU time of all its processes.
/// Workers are read after `settle`, once start-up, registration, the link measurements and
/// the release of their memory are over.
public enum IdleBenchmark {
    /// A process's memory, in bytes.
    public struct Memory: Sendable, Equatable {
        /// Resident pages, shared ones counted whole (`Rss`).
        public var resident = 0
        /// Resident pages, shared ones divided among their processes (`Pss`).
        public var proportional = 0
        /// Pages no other process maps (`Private_Clean` and `Private_Dirty`).
        public var exclusive = 0
        /// Anonymous memory: heaps, stacks, written data (`Anonymous`).
        public var anonymous = 0

        /// Reads the text of `/proc/PID/smaps_rollup`; `nil` when a field is missing.
        public init?(smapsRollup text: String) {
            var fields: [Substring: Int] = [:]
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ", omittingEmptySubsequences: true)
                guard words.count == 3, words[2] == "kB", let kilobytes = Int(words[1]) else { continue }
                fields[words[0]] = kilobytes * 1024
            }
            guard let rss = fields["Rss:"], let pss = fields["Pss:"], let clean = fields["Private_Clean:"],
                let dirty = fields["Private_Dirty:"], let anonymous = fields["Anonymous:"]
            else { return nil }
            (resident, proportional, exclusive, self.anonymous) = (rss, pss, clean + dirty, anonymous)
        }
    }

    /// What one run measured.
    public struct Report: Sendable {
        /// Each worker's task name and memory.
        public var workers: [(name: String, memory: Memory)]
        /// CPU time of the coordinator and every worker over `window`, in cores (1 is one core busy).
        public var cores: Double
        /// How long CPU time was counted, in seconds.
        public var window: Double
    }

    /// Starts `workers` workers and their coordinator from `executable`, waits `settle`, counts
    /// their CPU time for `window`, then reads each worker's memory.
    public static func run(workers: Int, settle: Duration, window: Duration, executable: URL) throws -> Report {
        let cluster = try ProcessCluster(executable: executable, jobs: JobCounts(parsing: "worker=\(workers)"))
        defer { cluster.stop() }
        Thread.sleep(forTimeInterval: settle / .seconds(1))
        let pids = cluster.members.map(\.pid)
        let start = (ContinuousClock.now, try pids.map(cpuTicks))
        Thread.sleep(forTimeInterval: window / .seconds(1))
        let end = (ContinuousClock.now, try pids.map(cpuTicks))
        let ticks = zip(end.1, start.1).reduce(0) { $0 + $1.0 - $1.1 }
        let seconds = (end.0 - start.0) / .seconds(1)
        let memory = try cluster.members.dropFirst().map { member in
            (name: member.name, memory: try Self.memory(member.pid))
        }
        return Report(
            workers: memory,
            cores: Double(ticks) / Double(sysconf(Int32(_SC_CLK_TCK))) / seconds,
            window: seconds
        )
    }

    private static func memory(_ pid: Int32) throws -> Memory {
        let text = try String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8)
        guard let memory = Memory(smapsRollup: text) else {
            throw WeftError(.internal, "/proc/\(pid)/smaps_rollup lacks Rss, Pss, Private or Anonymous")
        }
        return memory
    }

    /// User and system CPU time of process `pid` in clock ticks (`/proc/PID/stat`, fields 14 and 15).
    static func cpuTicks(_ pid: Int32) throws -> Int {
        let text = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // The command name (field 2) is in parentheses and may hold spaces: count from after it.
        guard let close = text.lastIndex(of: ")") else {
            throw WeftError(.internal, "/proc/\(pid)/stat: no command name")
        }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else {
            throw WeftError(.internal, "/proc/\(pid)/stat: no CPU times")
        }
        return user + system
    }
}
