import Dispatch
import Foundation
import Synchronization
import Weft
import WeftCluster
import WeftRuntime
import WeftTransport

extension ClusterBenchmark {
    /// Many clients stepping at once on one worker, against as many raw ZeroMQ clients of one
    /// echo server in the same run.
    public struct ThroughputReport: Sendable {
        /// Clients running at once, on both sides.
        public var clients: Int
        /// Raw DEALER/ROUTER round trips of 64 bytes per second, all clients together.
        public var rawRate: Double
        /// Steps per second, all clients together: each client reads a variable of its own
        /// session on the one worker (the direct route).
        public var stepRate: Double
        /// The steps' rate as a fraction of the raw one (target: at least 0.8).
        public var ratio: Double { stepRate / rawRate }
    }

    /// Runs `clients` threads, each doing `requests` raw round trips to an echo server, then
    /// `clients` threads, each with its own session on a one-worker cluster, doing `requests`
    /// steps; each side's rate is its total over the time from the start until the last thread
    /// finished. Every client warms up (its connection, its session's direct route) first.
    public static func throughput(executable: URL, clients: Int, requests: Int) throws -> ThroughputReport {
        let rawRate = try withEchoServer(executable: executable) { echo in
            try concurrentRate(clients: clients, requests: requests) { _ in
                { count throws in _ = try RawZeroMQBenchmark.roundTrips(to: echo, iterations: count) }
            }
        }
        let cluster = try ProcessCluster(executable: executable, jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let sessions = try (0..<clients).map { _ in try variableSession(cluster) }
        defer { for (session, _) in sessions { session.close() } }
        let stepRate = try concurrentRate(clients: clients, requests: requests) { client in
            let (session, variable) = sessions[client]
            return { count throws in
                for _ in 0..<count { _ = try session.run(variable) }
            }
        }
        return ThroughputReport(clients: clients, rawRate: rawRate, stepRate: stepRate)
    }

    /// Starts one thread per client, lets each warm up with 50 requests, then starts them
    /// together and returns the requests completed per second until the last one ended.
    private static func concurrentRate(
        clients: Int,
        requests: Int,
        _ makeRun: (Int) throws -> @Sendable (Int) throws -> Void
    ) throws -> Double {
        let runs = try (0..<clients).map(makeRun)
        let warmedUp = DispatchGroup()
        let finished = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        let failure = Mutex<(any Error)?>(nil)
        for run in runs {
            warmedUp.enter()
            finished.enter()
            Thread {
                defer { finished.leave() }
                var ready = true
                do { try run(50) } catch {
                    ready = false
                    failure.withLock { $0 = $0 ?? error }
                }
                warmedUp.leave()
                start.wait()
                guard ready else { return }
                do { try run(requests) } catch { failure.withLock { $0 = $0 ?? error } }
            }.start()
        }
        warmedUp.wait()
        let clock = ContinuousClock()
        let began = clock.now
        for _ in runs { start.signal() }
        finished.wait()
        let elapsed = (clock.now - began) / .seconds(1)
        if let error = failure.withLock({ $0 }) { throw error }
        return Double(clients * requests) / max(elapsed, 1e-9)
    }
}
