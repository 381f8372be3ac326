import Testing
import WeftProto
import WeftRuntime

@testable import WeftCluster

/// How the steps of direct routes reach the coordinator's counts and list: the worker's log,
/// the coordinator's list of recent steps. No sockets (`ObservabilityClusterTests` has them).
@Suite struct DirectStepReportTests {
    @Test func log_countsEveryStep_keepsTheNewest_andIsEmptyOnceDrained() {
        var log = DirectStepLog()
        for step in 0..<130 {
            log.log(
                .init(
                    session: step.isMultiple(of: 2) ? "a" : "b",
                    step: UInt64(step),
                    startedMicros: 1_000 + Int64(step),
                    seconds: 0.001,
                    error: step == 129 ? "boom" : nil
                )
            )
        }
        let (counts, steps) = log.drain()
        #expect(counts == ["a": 65, "b": 65])
        #expect(steps.map(\.step) == (130 - DirectStepLog.kept..<130).map { UInt64($0) })
        #expect(steps.last?.error == "boom" && steps.first?.error == "")
        #expect(steps.first?.startedUnixMicros == 1_000 + Int64(130 - DirectStepLog.kept))
        let (noCounts, noSteps) = log.drain()
        #expect(noCounts.isEmpty && noSteps.isEmpty)
    }

    @Test func recentSteps_keepTheNewestTimedStep_whenDirectStepsPushItOut() {
        let recent = RecentSteps()
        var timed = StepRecord(session: "s", startedMicros: 1)
        timed.statistics = StepStatistics()
        recent.append(timed)
        let direct = (1...RecentSteps.capacity + 10).map { step in
            StepRecord(direct: .with {
                $0.session = "s"
                $0.step = DirectStepID.make(UInt64(step))
                $0.seconds = step == 1 ? -.infinity : 0.002
            })
        }
        for record in direct { recent.append(record) }
        let all = recent.all
        #expect(all.count == RecentSteps.capacity + 1)
        #expect(all.first?.statistics != nil && all.first?.direct == false)
        #expect(all.dropFirst().allSatisfy { $0.direct && $0.statistics == nil })
        #expect(all.last?.step == UInt64(RecentSteps.capacity + 10), "the client's count, without the direct bit")
        #expect(all.map(\.id) == all.map(\.id).sorted(), "oldest first")

        recent.append(timed)
        #expect(recent.all.count == RecentSteps.capacity, "a newer timed step is among the kept ones")
    }

    @Test func directStepRecord_takesOnlyFiniteNonNegativeDurations() {
        let record = { (seconds: Double) in StepRecord(direct: .with { $0.seconds = seconds }).seconds }
        #expect(record(.nan) == 0 && record(-1) == 0 && record(.infinity) == 0 && record(0.25) == 0.25)
        let long = StepRecord(direct: .with { $0.error = String(repeating: "x", count: 100_000) })
        #expect(long.error?.count == StepRecord.longestError)
    }
}
