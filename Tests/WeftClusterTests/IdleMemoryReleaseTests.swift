import Testing

@testable import WeftCluster

/// When a worker gives free memory back: once per quiet spell after activity, never while busy.
@Suite struct IdleMemoryReleaseTests {
    let start = ContinuousClock.now
    let quiet = IdleMemoryRelease.quietPeriod

    /// The ticks at which `release` answered yes, of `ticks` (activity, busy, seconds after `start`
    /// in quiet periods).
    func releases(_ ticks: [(activity: Int, busy: Bool, at: Double)]) -> [Int] {
        var release = IdleMemoryRelease()
        return ticks.indices.filter { index in
            let tick = ticks[index]
            return release.tick(activity: tick.activity, busy: tick.busy, now: start + quiet * tick.at)
        }
    }

    @Test func aWorkerThatDidNothing_neverReleases() {
        #expect(releases((0..<10).map { (0, false, Double($0)) }).isEmpty)
    }

    @Test func activity_isReleasedOnceAfterAQuietPeriod() {
        let ticks = [(3, false, 0), (3, false, 0.5), (3, false, 1), (3, false, 2), (3, false, 5)]
        #expect(releases(ticks) == [2])
    }

    @Test func steadyActivity_orARunningPartition_postponesTheRelease() {
        var ticks = (1...10).map { (activity: $0, busy: false, at: Double($0) / 2) }
        // A long step: no requests arrive, but the partition still runs.
        ticks += [(10, true, 10), (10, false, 10.5), (10, false, 11), (11, false, 11.5), (11, false, 13)]
        #expect(releases(ticks) == [12, 14])
    }
}
