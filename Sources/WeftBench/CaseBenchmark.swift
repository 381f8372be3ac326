import Foundation
import Weft
import WeftRuntime

/// `weft bench case`: how long a step of a TensorFlow-made graph takes in a local session (or
/// on a cluster), so a graph can be timed beside TensorFlow running the same GraphDef (a frozen
/// MobileNetV2, say).
public enum CaseBenchmark {
    /// Runs the step `step` of the case's first session `iterations` times (the steps before it
    /// once, to initialise), after `warmup` untimed runs, in the session `makeSession` opens
    /// (a local one by default).
    public static func run(
        _ testCase: ConformanceCase,
        step: Int,
        iterations: Int,
        warmup: Int,
        makeSession: (Graph) throws -> Session = { Session(graph: $0) }
    ) throws -> LocalBenchmark.Timing {
        guard let steps = testCase.sessions.first, steps.indices.contains(step) else {
            throw WeftError(.invalidArgument, "case \(testCase.name) has no step \(step + 1) in its first session")
        }
        let graph: Graph
        switch testCase.graph {
        case .text(let text): graph = try Graph(graphDefText: text)
        case .binary(let data): graph = try Graph(serializedGraphDef: data)
        }
        let session = try makeSession(graph)
        defer { session.close() }
        for earlier in steps[..<step] {
            _ = try session.run(fetches: earlier.fetches, feeds: earlier.feeds, targets: earlier.targets)
        }
        let timed = steps[step]
        return try LocalBenchmark.measure("\(testCase.name) step \(step + 1)", iterations: iterations, warmup: warmup) {
            _ = try session.run(fetches: timed.fetches, feeds: timed.feeds, targets: timed.targets)
        }
    }
}
