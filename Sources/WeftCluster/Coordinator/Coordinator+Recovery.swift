import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// The shell's part of recovery after a coordinator restart (the rules are in
/// `ClusterState+Recovery`): requests for a session the new process does not know yet wait
/// for the workers holding it to register again.
extension Coordinator {
    /// How long after it starts the coordinator waits for workers to bring back a session it
    /// does not know before answering `notFound`: time for every worker to notice the restart
    /// (a heartbeat timing out) and register again.
    var recoveryWindow: Duration { configuration.heartbeatTimeout + configuration.requestTimeout * 2 }

    /// Waits, just after a start, until `handle` is adopted and every worker its nodes are placed
    /// on has registered again, or the recovery window closes, so a client's request that
    /// arrives before the workers holding its session re-registered finds it whole.
    func awaitRecovery(of handle: String) async {
        guard !handle.isEmpty else { return }
        while ContinuousClock.now < started + recoveryWindow, !state.withLock({ $0.cluster.recovered(handle) }) {
            guard (try? await executor.sleep(for: .milliseconds(50))) != nil else { return }
        }
    }

    /// The lease a new session gets: what its client asked (30 s when it did not say), within
    /// the configured maximum.
    func sessionLease(asked milliseconds: UInt64) -> Duration {
        let asked = Duration(wireMilliseconds: milliseconds == 0 ? 30_000 : milliseconds)
        return configuration.maximumSessionLease.map { min(asked, $0) } ?? asked
    }
}
