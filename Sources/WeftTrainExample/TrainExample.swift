import ArgumentParser
import Foundation
import Logging
import Weft
import WeftCluster

/// `weft-train-example`: trains a small MLP on a local process cluster (a coordinator, one
/// parameter server, two workers) with a `TrainingSession` that checkpoints every few steps.
/// `kill -9` the parameter server while it runs: this program stands in for the cluster manager
/// (systemd, Kubernetes) and starts the ps again on the same task, and the training session
/// restores the latest checkpoint and carries on.
@main
struct TrainExample: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weft-train-example",
        abstract: "Train an MLP on a local cluster; kill -9 its parameter server and watch it resume."
    )

    @Option(help: "Global steps to train for.")
    var steps: Int64 = 400

    @Option(help: "Steps between checkpoints.")
    var saveEvery = 25

    @Option(help: "Checkpoint directory (a previous run's checkpoints there are resumed from).")
    var checkpointDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("weft-train-example").path

    @Option(help: "Milliseconds to pause after each step, to leave time for a kill.")
    var pause = 50

    @Option(help: "The `weft` executable that runs the cluster's processes (default: next to this one).")
    var weft: String?

    func validate() throws {
        guard steps > 0, saveEvery > 0, pause >= 0 else {
            throw ValidationError("--steps and --save-every must be positive, --pause not negative")
        }
    }

    func run() throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let executable = weft.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("weft")
        let cluster = try ProcessCluster(executable: executable, jobs: JobCounts(parsing: "worker=2"))
        defer { cluster.stop() }
        let supervisor = try ParameterServerSupervisor(executable: executable, coordinator: cluster.address)
        defer { supervisor.stop() }
        say("cluster up at \(cluster.address); parameter server pid \(supervisor.pid): try `kill -9 \(supervisor.pid)`")

        let model = try ExampleModel()
        var configuration = TrainingSession.Configuration(
            checkpointDirectory: checkpointDirectory,
            saveEverySteps: saveEvery
        )
        configuration.recoveryTimeout = .seconds(60)
        let training = try TrainingSession(
            target: cluster.address,
            globalStep: model.globalStep,
            configuration: configuration
        )
        defer { training.close() }
        if let restored = training.restoredFrom { say("resumed from \(restored)") }
        var step = try training.currentGlobalStep()
        var recoveries = 0
        while step < steps {
            let loss = try training.run([model.loss], feeding: model.batch(step), targets: [model.train])[0]
            step = try training.currentGlobalStep()
            if training.recoveries > recoveries {
                recoveries = training.recoveries
                say(
                    "lost the parameter server; resumed from \(training.restoredFrom ?? "?") at step \(step) "
                        + "(new ps pid \(supervisor.pid))"
                )
            }
            if step % 20 == 0 {
                say("step \(step): loss \(loss.scalar(as: Float.self).map { String(format: "%.4f", $0) } ?? "?")")
            }
            Thread.sleep(forTimeInterval: Double(pause) / 1000)
        }
        say("trained to step \(step) with \(recoveries) recoveries; checkpoints in \(checkpointDirectory)")
    }
}

/// Writes a line to standard output at once (unbuffered, also into a pipe).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
