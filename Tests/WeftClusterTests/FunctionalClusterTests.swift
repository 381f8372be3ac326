import Foundation
import Synchronization
import Testing
import WeftRuntime
import WeftTestKit

@testable import Weft
@testable import WeftCluster

/// Functional control flow on a real cluster: the worker running a `While` gets the library
/// functions it calls, and a loop that never ends fails at the step's deadline while the worker
/// goes on serving.
@Suite(.serialized) struct FunctionalClusterTests {
    /// `loop` counts from 0 while `cond` holds: `limit` bounds it, `forever` never does.
    static let graphText = """
        node { name: "start" op: "Const" attr { key: "dtype" value { type: DT_INT32 } }
          attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 0 } } } }
        node { name: "bounded" op: "StatelessWhile" input: "start"
          attr { key: "T" value { list { type: DT_INT32 } } }
          attr { key: "cond" value { func { name: "limit" } } }
          attr { key: "body" value { func { name: "step" } } } }
        node { name: "endless" op: "While" input: "start"
          attr { key: "T" value { list { type: DT_INT32 } } }
          attr { key: "cond" value { func { name: "forever" } } }
          attr { key: "body" value { func { name: "step" } } } }
        library {
          function {
            signature { name: "limit" input_arg { name: "i" type: DT_INT32 } output_arg { name: "holds" type: DT_BOOL } }
            node_def { name: "ten" op: "Const" attr { key: "dtype" value { type: DT_INT32 } }
              attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 10 } } } }
            node_def { name: "less" op: "Less" input: "i" input: "ten:output:0" attr { key: "T" value { type: DT_INT32 } } }
            ret { key: "holds" value: "less:z:0" }
          }
          function {
            signature { name: "forever" input_arg { name: "i" type: DT_INT32 } output_arg { name: "holds" type: DT_BOOL } }
            node_def { name: "yes" op: "Const" attr { key: "dtype" value { type: DT_BOOL } }
              attr { key: "value" value { tensor { dtype: DT_BOOL tensor_shape {} bool_val: true } } } }
            ret { key: "holds" value: "yes:output:0" }
          }
          function {
            signature { name: "step" input_arg { name: "i" type: DT_INT32 } output_arg { name: "next" type: DT_INT32 } }
            node_def { name: "one" op: "Const" attr { key: "dtype" value { type: DT_INT32 } }
              attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 1 } } } }
            node_def { name: "sum" op: "AddV2" input: "i" input: "one:output:0" attr { key: "T" value { type: DT_INT32 } } }
            ret { key: "next" value: "sum:z:0" }
          }
        }
        """

    @Test func runawayLoop_failsAtTheDeadline_andTheWorkerServesOn() throws {
        let cluster = try LocalCluster(jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let graph = try Graph(graphDefText: Self.graphText)
        var options = RemoteSessionOptions()
        options.stepTimeout = .milliseconds(500)
        try Session(target: cluster.address, graph: graph, options: options).run { session in
            let started = ContinuousClock.now
            let failure = #expect(throws: WeftError.self) { try session.run(fetches: ["endless:0"]) }
            #expect(failure?.code == .deadlineExceeded)
            #expect(ContinuousClock.now - started < .seconds(20))
            let counted = try session.run(fetches: ["bounded:0"])
            #expect(counted.first?.scalar(as: Int32.self) == 10)
        }
    }

    @Test func closingTheSession_endsALoopRunningOnTheWorker() throws {
        let cluster = try LocalCluster(jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let worker = try #require(cluster.workers.first)
        let graph = try Graph(graphDefText: Self.graphText)
        var options = RemoteSessionOptions()
        options.stepTimeout = .seconds(600)
        let session = try Session(target: cluster.address, graph: graph, options: options)
        let outcome = Mutex<Result<[Tensor], WeftError>?>(nil)
        let loop = Thread {
            let result = Result { () throws(WeftError) in try session.run(fetches: ["endless:0"]) }
            outcome.withLock { $0 = result }
        }
        loop.start()
        try waitUntil("the loop runs on the worker") { worker.executingSteps == 1 }

        session.close()
        try waitUntil("the worker stops the loop") { worker.executingSteps == 0 && worker.sessionCount == 0 }
        try waitUntil("the client's step ends") { outcome.withLock { $0 } != nil }
        if case .success = outcome.withLock({ $0 }) { Issue.record("an endless loop returned") }

        try Session(target: cluster.address, graph: graph, options: options).run { other in
            let counted = try other.run(fetches: ["bounded:0"])
            #expect(counted.first?.scalar(as: Int32.self) == 10)
        }
    }

    /// Polls `condition` until it holds, failing after 30 s (generous for a loaded machine).
    private func waitUntil(_ what: String, _ condition: () -> Bool) throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw WeftError(.deadlineExceeded, "waited 30 s for \(what)") }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }
}
