import Foundation
import Weft
import WeftCluster
import WeftRuntime

/// `weft bench dispatch`: the executor's cost per node on a graph of many small ops, in one
/// process and over two workers.
///
/// The graph is issue 15's: `chains` chains of `length` links `x = tanh(x + v)`, each on its own
/// scalar variable, their ends summed. Every kernel is a scalar op of a few nanoseconds, so the
/// step's time is the executor's.
public enum DispatchBenchmark {
    /// The chains graph and what a step runs.
    public struct Workload {
        /// The graph, with `init` initialising its variables.
        public let graph: Graph
        /// The sum of the chains' ends: fetching it runs every link.
        public let total: Output
        /// Initialises the variables.
        public let initialize: Weft.Operation
        /// Nodes a step runs: every link, the variables' reads and the sum.
        public let nodesPerStep: Int
    }

    /// Builds the chains graph; with `workers`, chain `c` is pinned to
    /// `/job:worker/task:(c % workers)` and the sum to task 0.
    public static func chains(_ chains: Int, length: Int, workers: Int? = nil) -> Workload {
        let graph = Graph()
        let (total, initialize) = graph.asDefault { () -> (Output, Weft.Operation) in
            var ends: [Output] = []
            for chain in 0..<chains {
                let build = { () -> Output in
                    let variable = Variable(Float(chain % 7) * 0.01, name: "v\(chain)")
                    var x = variable.value
                    for link in 0..<length {
                        x = tanh(add(x, variable.value, name: "c\(chain)/add\(link)"), name: "c\(chain)/tanh\(link)")
                    }
                    return x
                }
                ends.append(workers.map { graph.device("/job:worker/task:\(chain % $0)", build) } ?? build())
            }
            let total = workers == nil ? addN(ends, name: "total") : graph.device("/job:worker/task:0") {
                addN(ends, name: "total")
            }
            return (total, globalVariablesInitializer())
        }
        // Per chain: the variable, its read, 2 × length links; then the sum.
        return Workload(graph: graph, total: total, initialize: initialize, nodesPerStep: chains * (2 + 2 * length) + 1)
    }

    /// Times steps of `workload` in `session` after initialising it.
    public static func measure(
        _ name: String,
        _ workload: Workload,
        session: Session,
        iterations: Int
    ) throws -> LocalBenchmark.Timing {
        try session.run(workload.initialize)
        return try LocalBenchmark.measure(name, iterations: iterations, warmup: max(3, iterations / 10)) {
            _ = try session.run(workload.total)
        }
    }

    /// Times the chains graph in a local session.
    public static func local(chains: Int, length: Int, iterations: Int) throws -> LocalBenchmark.Timing {
        let workload = Self.chains(chains, length: length)
        let session = Session(graph: workload.graph)
        defer { session.close() }
        return try measure("one process, \(workload.nodesPerStep) nodes", workload, session: session, iterations: iterations)
    }

    /// Times the chains graph split over a cluster of `workers` child processes.
    public static func cluster(
        executable: URL,
        workers: Int,
        chains: Int,
        length: Int,
        iterations: Int
    ) throws -> LocalBenchmark.Timing {
        let cluster = try ProcessCluster(executable: executable, jobs: JobCounts(parsing: "worker=\(workers)"))
        defer { cluster.stop() }
        let workload = Self.chains(chains, length: length, workers: workers)
        let session = try Session(target: cluster.address, graph: workload.graph)
        defer { session.close() }
        return try measure(
            "\(workers) workers, \(workload.nodesPerStep) nodes",
            workload,
            session: session,
            iterations: iterations
        )
    }
}
