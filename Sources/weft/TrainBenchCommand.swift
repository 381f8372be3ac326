import ArgumentParser
import Foundation
import WeftBench

/// `weft bench train`: the parameter-server MLP's training steps on a local process cluster.
struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time SGD steps of a 784-256-256-10 MLP, variables on one ps and a tower on each of 2 workers."
    )

    @Option(help: "Steps timed per round (and as many again with step statistics).")
    var steps = 100

    @Option(help: "Rounds.")
    var rounds = 5

    @Option(help: "Untimed steps first.")
    var warmup = 20

    @Option(help: "Examples per tower and step.")
    var batch = 64

    @Option(help: "Write the training GraphDef (binary) to this file, to run the same graph elsewhere.")
    var writeGraph: String?

    @Option(help: "The `weft` executable the cluster's processes run (e.g. a release build); this one by default.")
    var clusterExecutable: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard steps > 0, rounds > 0, warmup >= 0, batch > 0 else {
            throw ValidationError("--steps, --rounds and --batch must be positive, --warmup not negative")
        }
    }

    func run() throws {
        global.bootstrapLogging()
        let model = try DataParallelMLP(batch: batch)
        if let writeGraph {
            try model.graph.serializedGraphDef().write(to: URL(fileURLWithPath: writeGraph))
            say("wrote the GraphDef to \(writeGraph): feed tower_{0,1}/images:0 and tower_{0,1}/labels:0, run init, then train and fetch loss:0")
        }
        let report = try TrainBenchmark.run(
            executable: clusterExecutable.map { URL(fileURLWithPath: $0) } ?? selfExecutable(),
            model: model,
            steps: steps,
            rounds: rounds,
            warmup: warmup
        )
        let split = report.split
        say(
            "train step (ps=1, worker=2, batch \(batch) per tower): median \(fixed(report.step.median * 1e3)) ms, "
                + "p90 \(fixed(report.step.p90 * 1e3)) ms, \(fixed(report.stepsPerSecond, 1)) steps/s"
        )
        say(
            "split of a step with statistics: compute \(fixed(split.compute * 1e3)) ms, transfer "
                + "\(fixed(split.transfer * 1e3)) ms, waiting \(fixed(split.waiting * 1e3)) ms; "
                + "\(report.bytesSentPerStep) bytes between workers per step; last loss \(report.finalLoss)"
        )
    }
}
