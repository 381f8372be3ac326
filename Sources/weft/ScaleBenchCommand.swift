import ArgumentParser
import WeftBench
import WeftCluster

/// `weft bench scale`: the coordinator's cost per registration, heartbeat and health check,
/// and the time to open a session placed over every worker, at several cluster sizes.
struct ScaleBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Simulate clusters of many workers against the coordinator's state machines and time its work.",
        discussion: """
            No processes are started: the workers are simulated, so 1,000 of them fit on any machine. The last \
            columns divide the growth of a session's cost since the first size by the growth of n log n: about 1 \
            or less means it grows no faster than n log n.
            """
    )

    @Option(help: "Cluster sizes, comma-separated.")
    var sizes = "100,250,500,1000"

    @Option(help: "Simulated workers on each host.")
    var workersPerHost = 8

    @Option(help: "The placement strategy of the sessions.")
    var strategy = "load-balance"

    func run() throws {
        let counts = try sizes.split(separator: ",").map { text -> Int in
            guard let count = Int(text), count >= 1 else { throw ValidationError("--sizes: '\(text)' is not a size") }
            return count
        }
        let rows = try ScaleBenchmark.run(sizes: counts, workersPerHost: workersPerHost, strategy: strategy)
        say(
            pad("workers", 9) + pad("hosts", 7) + pad("probes", 8) + pad("beat every", 12) + pad("register µs", 13)
                + pad("heartbeat µs", 14) + pad("tick ms", 9) + pad("nodes", 7) + pad("session ms", 12)
                + pad("place ms", 10) + "session, place / n log n"
        )
        guard let first = rows.first else { return }
        for row in rows {
            let session = ScaleBenchmark.growthOverNLogN(\.sessionSeconds, from: first, to: row)
            let place = ScaleBenchmark.growthOverNLogN(\.placementSeconds, from: first, to: row)
            say(
                pad("\(row.workers)", 9) + pad("\(row.hosts)", 7) + pad("\(row.probesAtStart)", 8)
                    + pad("\(row.heartbeatInterval)", 12) + pad(fixed(row.registerSeconds * 1e6, 1), 13)
                    + pad(fixed(row.heartbeatSeconds * 1e6, 1), 14) + pad(fixed(row.tickSeconds * 1e3, 3), 9)
                    + pad("\(row.graphNodes)", 7) + pad(fixed(row.sessionSeconds * 1e3, 2), 12)
                    + pad(fixed(row.placementSeconds * 1e3, 2), 10) + "\(fixed(session, 2)), \(fixed(place, 2))"
            )
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
