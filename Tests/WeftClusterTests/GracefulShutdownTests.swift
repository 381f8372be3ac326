import Foundation
import Synchronization
import Testing
import WeftRuntime
import WeftTestKit

@testable import Weft
@testable import WeftCluster

/// Real `weft` processes given SIGTERM: they finish what runs, say they leave, and exit 0.
@Suite(.serialized) struct GracefulShutdownTests {
    /// `count` loops from 0 to `limit` on /job:extra/task:0: a step that takes a while.
    static func graphText(limit: Int) -> String {
        """
        node { name: "start" op: "Const" device: "/job:extra/task:0" attr { key: "dtype" value { type: DT_INT32 } }
          attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape {} int_val: 0 } } } }
        node { name: "count" op: "StatelessWhile" input: "start" device: "/job:extra/task:0"
          attr { key: "T" value { list { type: DT_INT32 } } }
          attr { key: "cond" value { func { name: "limit" } } }
          attr { key: "body" value { func { name: "step" } } } }
        library {
          function {
            signature { name: "limit" input_arg { name: "i" type: DT_INT32 } output_arg { name: "holds" type: DT_BOOL } }
            node_def { name: "n" op: "Const" attr { key: "dtype" value { type: DT_INT32 } }
              attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape {} int_val: \(limit) } } } }
            node_def { name: "less" op: "Less" input: "i" input: "n:output:0" attr { key: "T" value { type: DT_INT32 } } }
            ret { key: "holds" value: "less:z:0" }
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
    }

    @Test func sigtermedWorker_finishesItsStep_exitsZero_andIsGoneAtOnce() throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        let (worker, _) = try ProcessCluster.launch(
            Fixtures.weftExecutable,
            [
                "worker", "--listen", "tcp://127.0.0.1:0", "--coordinator", cluster.address, "--job", "extra",
                "--task", "0", "--drain-timeout-ms", "120000", "--exit-with-parent",
            ]
        )
        defer { if worker.isRunning { worker.terminate() } }
        let limit: Int32 = 20_000
        let graph = try Graph(graphDefText: Self.graphText(limit: Int(limit)))
        var options = RemoteSessionOptions()
        options.waitForWorkers = .seconds(5)
        let session = try Session(target: cluster.address, graph: graph, options: options)
        // Partitions are registered by a first step; the second is the one interrupted.
        let started = ContinuousClock.now
        #expect(try session.run(fetches: ["count:0"]).first?.scalar(as: Int32.self) == limit)
        let oneStep = ContinuousClock.now - started
        let result = Mutex<Result<Int32?, WeftError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let outcome = Result { () throws(WeftError) in
                try session.run(fetches: ["count:0"]).first?.scalar(as: Int32.self)
            }
            result.withLock { $0 = outcome }
            done.signal()
        }
        // Well into the step (one takes seconds in a debug build), so it runs on the worker.
        Thread.sleep(forTimeInterval: min(max(oneStep / .seconds(1) / 3, 0.5), 5))
        kill(worker.processIdentifier, SIGTERM)
        #expect(done.wait(timeout: .now() + 150) == .success)
        let outcome = result.withLock { $0 }
        #expect(
            (try? outcome?.get()) == limit,
            "the step running at SIGTERM (one takes \(oneStep)) ended with \(String(describing: outcome))"
        )
        worker.waitUntilExit()
        #expect(worker.terminationReason == .exit)
        #expect(worker.terminationStatus == 0)
        // Gone at once: the coordinator's heartbeat timeout (1.5 s) has not passed.
        let status = try ClusterClient.status(coordinator: cluster.address)
        let extra = status.workers.first { $0.job == "extra" }
        #expect(extra?.healthy == false)
        #expect(status.workers.first { $0.job == "worker" }?.healthy == true)
        let failure = #expect(throws: WeftError.self) { try session.run(fetches: ["count:0"]) }
        #expect(failure?.code == .unavailable)
    }

    @Test func sigtermedCoordinator_exitsZero() throws {
        let (coordinator, _) = try ProcessCluster.launch(
            Fixtures.weftExecutable,
            ["coordinator", "--listen", "tcp://127.0.0.1:0", "--exit-with-parent"]
        )
        kill(coordinator.processIdentifier, SIGTERM)
        coordinator.waitUntilExit()
        #expect(coordinator.terminationReason == .exit)
        #expect(coordinator.terminationStatus == 0)
    }
}
