import ArgumentParser
import Foundation
import Logging
import WeftObservability

/// The `weft` command-line tool.
@main
struct WeftCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "weft",
        abstract: "Weft: TensorFlow-style graphs and sessions in Swift, local or on a cluster.",
        subcommands: [
            DemoCommand.self, RunCommand.self, ConformanceCommand.self, OpsCommand.self, BenchCommand.self,
            CoordinatorCommand.self, WorkerCommand.self, ClusterCommand.self, StatusCommand.self, HealthCommand.self,
            KeysCommand.self,
            CheckpointCommand.self,
            PlaceCommand.self,
        ]
    )
}

/// Flags every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    @Option(name: .long, help: "Log format: text, or json for one JSON object per line.")
    var logFormat: LogFormat = .text

    /// How log records are written.
    enum LogFormat: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    /// These options as flags, for the child processes a command starts.
    var arguments: [String] { ["--log-level", "\(logLevel)", "--log-format", logFormat.rawValue] }

    /// Sends logs to standard error at the chosen level and format; called once per process.
    func bootstrapLogging() {
        let level = logLevel
        switch logFormat {
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case .json:
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Prints to standard output at once, so a parent process reading a pipe sees lines as they come.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
