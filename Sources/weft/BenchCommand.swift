import ArgumentParser
import Foundation
import WeftBench

/// `weft bench …`: benchmarks that print medians and tails, never asserted in tests.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure Weft's speed.", subcommands: [LocalBench.self])
}

/// `weft bench local`.
struct LocalBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local",
        abstract: "Time a local variable read and a 1024³ MatMul against a direct cblas_sgemm call.")

    @Option(help: "Variable reads to time.")
    var reads = 200_000

    @Option(help: "MatMul size (n for an n×n by n×n product).")
    var size = 1024

    @Option(help: "MatMul repetitions.")
    var repetitions = 20

    func run() throws {
        let read = try LocalBenchmark.seedRead(iterations: reads)
        say("\(read.name): median \(fixed(read.statistics.median * 1e6)) µs, p99 \(fixed(read.statistics.p99 * 1e6)) µs (\(reads) runs)")
        let direct = LocalBenchmark.directSgemm(size: size, iterations: repetitions)
        let session = try LocalBenchmark.sessionMatMul(size: size, iterations: repetitions)
        for timing in [session, direct] {
            say(
                "\(timing.name): median \(fixed(timing.statistics.median * 1e3)) ms, "
                    + "p99 \(fixed(timing.statistics.p99 * 1e3)) ms, \(fixed(timing.gigaflops, 1)) GFLOP/s")
        }
        say("session MatMul reaches \(fixed(100 * session.gigaflops / direct.gigaflops, 1))% of direct cblas_sgemm")
    }
}

/// `value` with `digits` decimals.
func fixed(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }
