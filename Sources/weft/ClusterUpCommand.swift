import ArgumentParser
import Foundation
import WeftCluster
import WeftObservability
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
        abstract: "Start a coordinator and workers on this host until Ctrl-C or SIGTERM.",
        discussion: """
            --metrics-listen HOST:PORT gives every process metrics: the coordinator on PORT, the Nth worker (in \
            job order, from 0) on PORT+1+N; port 0 lets each take a free port. --http serves the dashboard from \
            the coordinator. --log-format and --log-level reach every process. With --keys, one HTTP token for \
            all of them is written to the keys folder.
            """
    )

    @Option(help: "Jobs and task counts, like ps=1,worker=2.")
    var jobs = "ps=1,worker=2"

    @Option(help: "Host address to bind every process to.")
    var host = "127.0.0.1"

    @Option(help: "Default placement strategy.")
    var strategy = "explicit"

    @Flag(help: "Let processes without keys listen (and serve HTTP) on addresses that are not loopback.")
    var insecure = false

    @Flag(help: "Make CURVE keys for every process and a client named 'client', and a cluster file naming them.")
    var keys = false

    @Option(help: "Serve Prometheus metrics from every process: the coordinator at HOST:PORT, worker N at PORT+1+N.")
    var metricsListen: String?

    @Option(help: "Serve the coordinator's dashboard at HOST:PORT, or PORT on loopback.")
    var http: String?

    func validate() throws {
        if keys && insecure { throw ValidationError("--keys and --insecure exclude each other") }
        let jobs = try JobCounts(parsing: jobs)
        if let metricsListen {
            let address = try HTTPAddress(parsing: metricsListen)
            let workers = jobs.jobs.reduce(0) { $0 + $1.1 }
            if address.port != 0 && address.port + workers > 65_535 {
                throw ValidationError("--metrics-listen: ports \(address.port) to \(address.port + workers) pass 65535")
            }
        }
        if let http { _ = try HTTPAddress(parsing: http) }
    }

    @OptionGroup var global: GlobalOptions

    /// The arguments only member `index` gets (0 the coordinator, then the workers): its
    /// metrics port, the dashboard for the coordinator, the shared token with keys.
    private func memberArguments(_ index: Int, keysFolder: String?) -> [String] {
        var arguments: [String] = []
        if let metricsListen, var address = try? HTTPAddress(parsing: metricsListen) {
            if address.port != 0 { address.port += index }
            arguments += ["--metrics-listen", address.description]
        }
        if index == 0, let http { arguments += ["--http", http] }
        if !arguments.isEmpty, let keysFolder { arguments += ["--http-token-file", Self.tokenFile(in: keysFolder)] }
        return arguments
    }

    private static func tokenFile(in folder: String) -> String { "\(folder)/http.token" }

    func run() throws {
        global.bootstrapLogging()
        let cluster = try ProcessCluster(
            executable: selfExecutable(),
            jobs: try JobCounts(parsing: jobs),
            host: host,
            strategy: strategy,
            extraArguments: (insecure ? ["--insecure"] : []) + global.arguments,
            clients: keys ? ["client"] : nil,
            memberArguments: { (index, folder) throws(WeftError) in
                // Written before the first child that reads it starts.
                if let folder, index == 0, metricsListen != nil || http != nil {
                    try HTTPToken.generate().write(toFile: Self.tokenFile(in: folder))
                }
                return memberArguments(index, keysFolder: folder)
            }
        )
        for member in cluster.members {
            say(
                "\(member.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(member.address)  pid \(member.pid)"
            )
            for note in member.notes { say(String(repeating: " ", count: 21) + note) }
        }
        if let file = cluster.configFile, let folder = cluster.keysFolder {
            say("cluster file \(file); the client's key is \(folder)/client.key (removed when the cluster stops)")
            say("try: weft status --config \(file) --key \(folder)/client.key")
            if metricsListen != nil || http != nil {
                say("HTTP token for every process in \(Self.tokenFile(in: folder)): send 'Authorization: Bearer TOKEN'")
            }
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
