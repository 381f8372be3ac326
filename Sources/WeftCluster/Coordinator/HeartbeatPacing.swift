/// How often workers send heartbeats as the cluster grows, so the coordinator's idle load stays
/// bounded: the configured interval while the cluster is small, doubled as often as needed to
/// keep the heartbeats the coordinator receives under `budget` a second. The timeout grows in
/// proportion, so a worker may miss as many heartbeats as configured before it is declared dead.
///
/// The pace follows the largest size the cluster reached and never speeds up again: a worker
/// learns a new interval only with its next heartbeat's answer, so a timeout that shrank first
/// would declare workers still on the slower pace dead.
struct HeartbeatPacing: Sendable, Equatable {
    /// The configured interval and timeout: the pace of a small cluster.
    let baseInterval: Duration
    let baseTimeout: Duration
    /// The most heartbeats a second the coordinator should receive from an idle cluster.
    let budget: Int
    /// The factor the base interval and timeout are multiplied by now.
    private(set) var factor = 1

    /// The pace of a cluster that has not grown yet.
    init(interval: Duration, timeout: Duration, budget: Int = 50) {
        baseInterval = interval
        baseTimeout = timeout
        self.budget = max(budget, 1)
    }

    /// The interval workers send heartbeats at now.
    var interval: Duration { baseInterval * factor }
    /// The silence after which a worker is declared dead now.
    var timeout: Duration { baseTimeout * factor }

    /// The cluster has `workers` workers: slows the pace if they would send more than the
    /// budget; returns whether the pace changed.
    mutating func cluster(of workers: Int) -> Bool {
        var factor = self.factor
        // Heartbeats a second at this factor: workers / (interval × factor).
        while Double(workers) / ((baseInterval * factor) / .seconds(1)) > Double(budget), factor < 1 << 20 {
            factor *= 2
        }
        guard factor != self.factor else { return false }
        self.factor = factor
        return true
    }
}
