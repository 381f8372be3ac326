import Foundation
import Testing
import WeftPlacement
import WeftRuntime
import WeftTestKit

@testable import WeftBench

/// The machine's own cost model and the planning benchmark built on the strategies.
@Suite struct CalibrationTests {
    @Test func calibration_measuresPositiveRates() throws {
        let model = try CostModel.calibrated()
        #expect(model.rates.flopsPerSecond > 1e8)
        #expect(model.rates.bytesPerSecond > 1e8)
        #expect(model.rates.secondsPerOp > 0 && model.rates.secondsPerOp < 1e-2)
        #expect(model.link.latency > 0 && model.link.latency < 0.1)
        #expect(model.link.bytesPerSecond > 1e6)
    }

    /// The command-line benchmark runs every strategy and prints min-cut's cut against the baselines.
    @Test func planningBenchmark_printsEveryStrategy() throws {
        let process = Process()
        process.executableURL = Fixtures.weftExecutable
        process.arguments = ["bench", "planning", "--nodes", "300", "--layers", "10", "--workers", "3"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        for name in PlacementStrategies.all.map(\.name) + ["topological-blocks"] {
            #expect(output.contains("\n" + name + " "))
        }
        #expect(output.contains("min-cut sends"))
    }
}
