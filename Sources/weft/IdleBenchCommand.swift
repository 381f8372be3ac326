import ArgumentParser
import Foundation
import WeftBench

/// `weft bench idle`: an idle local cluster's memory per worker and CPU in all.
struct IdleBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle",
        abstract:
            "Measure what an idle local cluster costs: each worker's resident memory and the CPU of all its processes.",
        discussion: """
            Memory is the kernel's count in /proc/PID/smaps_rollup: RSS counts pages shared with other processes \
            (the binary, libraries) whole, PSS divides them among the processes mapping them.
            """
    )

    @Option(help: "Workers.")
    var workers = 4

    @Option(help: "Seconds to wait after start-up before measuring.")
    var settle = 15

    @Option(help: "Seconds over which CPU time is counted.")
    var window = 10

    @Option(help: "The `weft` executable the cluster's processes run (e.g. a release build); this one by default.")
    var clusterExecutable: String?

    func validate() throws {
        guard workers > 0, settle >= 0, window > 0 else {
            throw ValidationError("--workers and --window must be positive, --settle not negative")
        }
    }

    func run() throws {
        let report = try IdleBenchmark.run(
            workers: workers,
            settle: .seconds(settle),
            window: .seconds(window),
            executable: clusterExecutable.map { URL(fileURLWithPath: $0) } ?? selfExecutable()
        )
        say("worker                 RSS MB   PSS MB   private MB   anonymous MB")
        for (name, memory) in report.workers {
            let columns = [memory.resident, memory.proportional, memory.exclusive, memory.anonymous].map {
                fixed(Double($0) / 1e6, 1)
            }
            say(
                name.padding(toLength: 22, withPad: " ", startingAt: 0) + columns[0].leftPadded(7)
                    + columns[1].leftPadded(9) + columns[2].leftPadded(13) + columns[3].leftPadded(15)
            )
        }
        let resident = report.workers.map { Double($0.memory.resident) / 1e6 }
        say(
            "largest worker RSS \(fixed(resident.max() ?? 0, 1)) MB (target: at most 20 MB); the cluster used "
                + "\(fixed(report.cores * 100, 2))% of one core over \(fixed(report.window, 1)) s"
        )
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
