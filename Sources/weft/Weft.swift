import ArgumentParser
import Foundation
import Logging

/// The `weft` command-line tool.
@main
struct WeftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weft",
        abstract: "Weft: TensorFlow-style graphs and sessions in Swift, local or on a cluster.",
        subcommands: [
            DemoCommand.self, ConformanceCommand.self, OpsCommand.self, BenchCommand.self, CoordinatorCommand.self, WorkerCommand.self,
            ClusterCommand.self, StatusCommand.self, HealthCommand.self,
            CheckpointCommand.self,
            PlaceCommand.self,
        ]
    )
}

/// Flags every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    /// Sends logs to standard error at the chosen level; called once per process.
    func bootstrapLogging() {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Prints to standard output at once, so a parent process reading a pipe sees lines as they come.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
