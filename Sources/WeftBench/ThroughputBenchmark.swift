import Dispatch
import Foundation
import Synchronization
import Weft
import WeftCluster
import WeftRuntime
import WeftTransport

extension ClusterBenchmark {
    /// Many clients stepping at once on one worker, against as many raw ZeroMQ clients of one
    /// echo server, in rounds that take turns.
    public struct ThroughputReport: Sendable {
        /// One round: the raw rate, then the steps' rate moments later.
        public struct Round: Sendable {
            /// Raw DEALER/ROUTER round trips of 64 bytes per second, all clients together.
            public var rawRate: Double
            /// Steps per second, all clients together: each client reads a variable of its own
            /// session on the one worker (the direct route).
            public var stepRate: Double
        }

        /// Clients running at once, on both sides.
        public var clients: Int
        public var rounds: [Round]

        /// The median raw rate over the rounds.
        public var rawRate: Double { Statistics(rounds.map(\.rawRate)).median }
        /// The median step rate over the rounds.
        public var stepRate: Double { Statistics(rounds.map(\.stepRate)).median }
        /// Each round's steps' rate as a fraction of its raw one: the two saw the same host.
        public var roundRatios: [Double] { rounds.map { $0.stepRate / $0.rawRate } }
        /// The median of the rounds' ratios (target: at least 0.8).
        public var ratio: Double { Statistics(roundRatios).median }
    }

    /// Runs `rounds` rounds, each `clients` threads doing `requests` raw round trips to an echo
    /// server and then `clients` threads, each with its own session on a one-worker cluster,
    /// doing `requests` steps; each side's rate is its total over the time from the start until
    /// its last thread finished. Taking turns, both sides see the same states of a shared
    /// machine, whose speed drifts from minute to minute. Every client warms up (its
    /// connection, its session's direct route) first.
    public static func throughput(
        executable: URL,
        clients: Int,
        requests: Int,
        rounds: Int = 5
    ) throws -> ThroughputReport {
        try withEchoServer(executable: executable) { echo in
            let cluster = try ProcessCluster(executable: executable, jobs: JobCounts(parsing: "worker=1"))
            defer { cluster.stop() }
            let sessions = try (0..<clients).map { _ in try variableSession(cluster) }
            defer { for (session, _) in sessions { session.close() } }
            var report = ThroughputReport(clients: clients, rounds: [])
            for _ in 0..<max(1, rounds) {
                let rawRate = try concurrentRate(clients: clients, requests: requests) { _ in
                    { count throws in _ = try RawZeroMQBenchmark.roundTrips(to: echo, iterations: count) }
                }
                let stepRate = try concurrentRate(clients: clients, requests: requests) { client in
                    let (session, variable) = sessions[client]
                    return { count throws in
                        for _ in 0..<count { _ = try session.run(variable) }
                    }
                }
                report.rounds.append(.init(rawRate: rawRate, stepRate: stepRate))
            }
            return report
        }
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
