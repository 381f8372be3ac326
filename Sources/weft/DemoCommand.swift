import ArgumentParser
import Weft
import WeftCluster
import WeftRuntime

/// `weft demo`: the seed program, on a local cluster by default.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the seed program: assign then read, an uninitialized read, a re-initialized read."
    )

    @Flag(help: "Run in this process instead of on a local cluster.")
    var local = false

    /// The running cluster to use instead of starting one.
    @OptionGroup var cluster: ClusterOptions

    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.bootstrapLogging()
        if local {
            return try SeedProgram.run(distributed: false, print: say) { graph in Session(graph: graph) }
        }
        var started: ProcessCluster?
        if !cluster.isGiven {
            started = try ProcessCluster(executable: selfExecutable(), jobs: try JobCounts(parsing: "ps=1,worker=2"))
        }
        defer { started?.stop() }
        let address = try started?.address ?? cluster.coordinatorAddress()
        var placements: [String: String] = [:]
        try SeedProgram.run(distributed: true, print: say) { graph in
            let backend = try RemoteSessionBackend(coordinator: address, graph: graph)
            placements = backend.placement
            return Session(graph: graph, backend: backend)
        }
        say("where each node ran:")
        for (node, device) in placements.sorted(by: { $0.key < $1.key }) {
            say("  \(node.padding(toLength: 20, withPad: " ", startingAt: 0)) \(device)")
        }
    }
}

/// The seed program of the design brief, on sessions that `makeSession` opens.
enum SeedProgram {
    static func run(distributed: Bool, print: (String) -> Void, makeSession: (Graph) throws -> Session) throws {
        let graph = Graph()
        let (variable, initialize, assign) = graph.asDefault {
            // Distributed: the variable on the parameter server, the assign's value on a worker.
            let variable = graph.device(distributed ? "/job:ps/task:0" : "") { Variable(42, name: "foo") }
            let value = graph.device(distributed ? "/job:worker/task:0" : "") { constant(13, name: "assign/value") }
            return (variable, globalVariablesInitializer(), variable.assign(value, name: "assign"))
        }
        try makeSession(graph).run { session in
            try session.run(initialize)
            try session.run(assign)
            print("\(try session.run(variable))")
        }
        try makeSession(graph).run { session in
            do {
                print("unexpected: \(try session.run(variable))")
            } catch {
                print("\(error)")
            }
        }
        try makeSession(graph).run { session in
            try session.run(initialize)
            print("\(try session.run(variable))")
        }
    }
}
