import Foundation
import Testing
import WeftTestKit

@testable import WeftBench

/// `weft bench idle` reads real workers' memory and CPU time.
@Suite struct IdleBenchmarkTests {
    @Test func smapsRollup_isReadInBytes_andAMissingFieldIsNoFigure() {
        let text = """
            55d0c5a1e000-7ffd8a9f3000 ---p 00000000 00:00 0                          [rollup]
            Rss:               25344 kB
            Pss:                8661 kB
            Pss_Anon:           4604 kB
            Shared_Clean:      20736 kB
            Private_Clean:        12 kB
            Private_Dirty:      4596 kB
            Anonymous:          4604 kB
            """
        let memory = IdleBenchmark.Memory(smapsRollup: text)
        #expect(memory?.resident == 25344 * 1024)
        #expect(memory?.proportional == 8661 * 1024)
        #expect(memory?.exclusive == 4608 * 1024)
        #expect(memory?.anonymous == 4604 * 1024)
        #expect(IdleBenchmark.Memory(smapsRollup: text.replacingOccurrences(of: "Pss:", with: "Pss?")) == nil)
    }

    @Test func idleCluster_reportsEveryWorkersMemory() throws {
        let report = try IdleBenchmark.run(
            workers: 2,
            settle: .seconds(2),
            window: .milliseconds(500),
            executable: Fixtures.weftExecutable
        )
        #expect(report.workers.map(\.name) == ["/job:worker/task:0", "/job:worker/task:1"])
        for (name, memory) in report.workers {
            // A worker maps at least its binary's start-up code and writes its own heap.
            #expect(memory.resident > 4 << 20, "\(name)")
            #expect(memory.anonymous > 0 && memory.anonymous <= memory.exclusive, "\(name)")
            #expect(memory.proportional < memory.resident, "\(name): it shares libraries with the coordinator")
        }
        #expect(report.cores >= 0 && report.window >= 0.5)
    }
}
