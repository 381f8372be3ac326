import ArgumentParser
import Foundation
import WeftCluster
import WeftRuntime

/// `weft cluster …`: local clusters of child processes.
struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Start a local cluster, or check a cluster file.",
        subcommands: [ClusterUpCommand.self, ClusterCheckCommand.self]
    )
}

/// `weft cluster up`: a coordinator and workers as child processes until Ctrl-C or SIGTERM.
struct ClusterUpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start a coordinator and workers on this host until Ctrl-C or SIGTERM."
    )

    @Option(help: "Jobs and task counts, like ps=1,worker=2.")
    var jobs = "ps=1,worker=2"

    @Option(help: "Host address to bind every process to.")
    var host = "127.0.0.1"

    @Option(help: "Default placement strategy.")
    var strategy = "explicit"

    @Flag(help: "Let processes without keys listen on a --host that is not loopback.")
    var insecure = false

    @Flag(help: "Make CURVE keys for every process and a client named 'client', and a cluster file naming them.")
    var keys = false

    func validate() throws {
        if keys && insecure { throw ValidationError("--keys and --insecure exclude each other") }
    }

    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.bootstrapLogging()
        let cluster = try ProcessCluster(
            executable: selfExecutable(),
            jobs: try JobCounts(parsing: jobs),
            host: host,
            strategy: strategy,
            extraArguments: insecure ? ["--insecure"] : [],
            clients: keys ? ["client"] : nil
        )
        for member in cluster.members {
            say(
                "\(member.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(member.address)  pid \(member.pid)"
            )
        }
        if let file = cluster.configFile, let folder = cluster.keysFolder {
            say("cluster file \(file); the client's key is \(folder)/client.key (removed when the cluster stops)")
            say("try: weft status --config \(file) --key \(folder)/client.key")
        }
        say("cluster up; connect with Session(target: \"\(cluster.address)\"); Ctrl-C stops it")
        waitForTermination()
        cluster.stop()
        say("cluster stopped")
    }
}

/// This executable's path, to start children of the same build.
func selfExecutable() -> URL {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
}
