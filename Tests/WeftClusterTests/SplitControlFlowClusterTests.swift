import Foundation
import Testing
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTestKit

@testable import Weft
@testable import WeftCluster

/// Loops and conds split across two workers of a real cluster: the workers exchange tensors
/// every iteration, dead ones included, and get TensorFlow's values; a split loop that never
/// ends fails at the step's deadline, and the workers serve on.
@Suite(.serialized) struct SplitControlFlowClusterTests {
    static let structure = "/job:worker/task:0"
    static let body = "/job:worker/task:1"

    /// A loop on worker 0 whose body's `tanh` asks for worker 1, inside a cond: `steps` times
    /// `x = tanh(x + 0.5)` when `flag` holds, `x - 1` otherwise. The `tanh` of the inner loop
    /// of a nested pair asks for worker 1 too.
    static func graph(forever: Bool = false) -> (Graph, [String]) {
        let graph = Graph()
        graph.asDefault {
            graph.device(structure) {
                let flag = placeholder(.bool, shape: [], name: "flag")
                let x = placeholder(.float, shape: [], name: "x")
                let steps = placeholder(.int32, shape: [], name: "steps")
                let looped = cond(
                    flag,
                    then: {
                        whileLoop(
                            [constant(Int32(0)), x],
                            condition: { forever ? constant(true) : less($0[0], steps) },
                            body: { values in
                                let next = graph.device(body) { tanh(values[1] + constant(Float(0.5))) }
                                return [values[0] + constant(Int32(1)), next]
                            }
                        )[1]
                    },
                    else: { graph.device(body) { x - constant(Float(1)) } }
                )
                _ = identity(looped, name: "looped")
                // Outer loop of 3 iterations, each adding an inner loop's sum of 0..<steps.
                let nested = whileLoop(
                    [constant(Int32(0)), constant(Float(0))],
                    condition: { less($0[0], constant(Int32(3))) },
                    body: { outer in
                        let inner = whileLoop(
                            [constant(Int32(0)), outer[1]],
                            condition: { less($0[0], steps) },
                            body: { values in
                                let added = graph.device(body) { values[1] + cast(values[0], to: .float) }
                                return [values[0] + constant(Int32(1)), added]
                            }
                        )
                        return [outer[0] + constant(Int32(1)), inner[1]]
                    }
                )
                _ = identity(nested[1], name: "nested")
            }
        }
        return (graph, ["looped:0", "nested:0"])
    }

    static func feeds(flag: Bool, steps: Int32) -> [String: Tensor] {
        ["flag:0": Tensor(flag), "x:0": Tensor(Float(0.25)), "steps:0": Tensor(steps)]
    }

    @Test func splitLoopsAndConds_matchALocalSession() throws {
        let (graph, fetches) = Self.graph()
        #expect(graph.buildError == nil)
        let local = Session(graph: graph)
        defer { local.close() }
        let cluster = try LocalCluster(jobs: JobCounts(parsing: "worker=2"))
        defer { cluster.stop() }
        var options = RemoteSessionOptions(strategy: "explicit")
        options.stepTimeout = .seconds(20)
        try Session(target: cluster.address, graph: graph, options: options).run { session in
            for (flag, steps) in [(true, Int32(7)), (false, 7), (true, 0), (true, 30)] {
                let feeds = Self.feeds(flag: flag, steps: steps)
                let expected = try local.run(fetches: fetches, feeds: feeds)
                let values = try session.run(fetches: fetches, feeds: feeds)
                #expect(values == expected, "flag \(flag), \(steps) steps")
            }
            var metadata = RunMetadata()
            _ = try session.run(fetches: fetches, feeds: Self.feeds(flag: true, steps: 3), metadata: &metadata)
            let graphs = metadata.partitionGraphs
            #expect(graphs.count == 2, "the loops ran on both workers")
            #expect(graphs.contains { $0.node.contains { $0.name.hasPrefix("_weft/cloop") } })
        }
    }

    @Test func everyStrategy_splittingControlFlow_matchesALocalSession() throws {
        let (graph, fetches) = Self.graph()
        let local = Session(graph: graph)
        defer { local.close() }
        let cluster = try LocalCluster(jobs: JobCounts(parsing: "worker=2"))
        defer { cluster.stop() }
        for strategy in PlacementStrategies.all.map(\.name) where strategy != "profile" {
            var options = RemoteSessionOptions(strategy: strategy)
            options.splitControlFlow = true
            options.stepTimeout = .seconds(20)
            try Session(target: cluster.address, graph: graph, options: options).run { session in
                let feeds = Self.feeds(flag: true, steps: 5)
                let expected = try local.run(fetches: fetches, feeds: feeds)
                #expect(try session.run(fetches: fetches, feeds: feeds) == expected, "\(strategy)")
            }
        }
    }

    @Test func aSplitLoopThatNeverEnds_failsAtTheDeadline_andTheWorkersServeOn() throws {
        let (graph, _) = Self.graph(forever: true)
        let cluster = try LocalCluster(jobs: JobCounts(parsing: "worker=2"))
        defer { cluster.stop() }
        var options = RemoteSessionOptions(strategy: "explicit")
        options.stepTimeout = .milliseconds(500)
        try Session(target: cluster.address, graph: graph, options: options).run { session in
            let started = ContinuousClock.now
            let failure = #expect(throws: WeftError.self) {
                try session.run(fetches: ["looped:0"], feeds: Self.feeds(flag: true, steps: 1))
            }
            #expect(failure?.code == .deadlineExceeded)
            #expect(ContinuousClock.now - started < .seconds(20))
            // The untaken branch does not run the loop.
            let other = try session.run(fetches: ["looped:0"], feeds: Self.feeds(flag: false, steps: 1))
            #expect(other.first?.scalar(as: Float.self) == -0.75)
        }
    }
}
