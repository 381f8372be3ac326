import Foundation
import Logging
import Testing
import WeftProto
import WeftRuntime
import WeftTestKit
import WeftTransport

@testable import Weft
@testable import WeftCluster

/// The limits a worker puts on what peers and steps may make it hold: the largest frame a peer
/// may send (`--max-message-size`) and the memory budget, strings included (`--memory-limit`).
@Suite(.serialized) struct ResourceLimitTests {
    /// A coordinator and one worker started with `workerArguments`.
    private static func cluster(
        _ workerArguments: [String]
    ) throws -> (coordinator: String, worker: String, processes: [Process]) {
        let coordinator = try ProcessCluster.launch(
            Fixtures.weftExecutable,
            ["coordinator", "--listen", "tcp://127.0.0.1:0", "--exit-with-parent"]
        )
        do {
            let worker = try ProcessCluster.launch(
                Fixtures.weftExecutable,
                [
                    "worker", "--listen", "tcp://127.0.0.1:0", "--coordinator", coordinator.address, "--job", "worker",
                    "--task", "0", "--exit-with-parent",
                ] + workerArguments
            )
            return (coordinator.address, worker.address, [coordinator.process, worker.process])
        } catch {
            coordinator.process.terminate()
            throw error
        }
    }

    /// A push of a float tensor of `count` elements: a frame of `4 * count` bytes.
    private static func push(floats count: Int) throws -> WireMessage {
        var envelope = Weft_Envelope()
        envelope.pushTensor = .init()
        envelope.session = "no-such-session"
        envelope.pushTensor.key = "x:0;0;1"
        return WireMessage(
            envelope: envelope,
            tensors: [try Tensor([Float](repeating: 1, count: count), shape: [count])]
        )
    }

    @Test func maxMessageSize_oversizeFrameRefused_workerServesOn() throws {
        let (coordinator, worker, processes) = try Self.cluster(["--max-message-size", "1MiB"])
        defer { for process in processes { process.terminate() } }
        let node = try MessagingNode(listen: "tcp://127.0.0.1:0", logger: Logger(label: "test"))
        defer { node.close() }
        // 2 MiB in one frame: libzmq drops the connection before the frame is read, so no reply comes.
        let error = try #require(throws: WeftError.self) {
            try node.requestAndWait(Self.push(floats: 512 << 10), to: worker, timeout: .seconds(3))
        }
        #expect(error.code == .unavailable, "\(error)")
        // The worker serves on: a frame under the cap is read and answered.
        var ping = Weft_Envelope()
        ping.ping = .init()
        _ = try node.requestAndWait(WireMessage(envelope: ping), to: worker, timeout: .seconds(5))
        _ = try node.requestAndWait(Self.push(floats: 128 << 10), to: worker, timeout: .seconds(5))
        #expect(try ClusterClient.status(coordinator: coordinator).workers.allSatisfy(\.healthy))
    }

    @Test func maxMessageSize_malformed_refusedOnTheCommandLine() throws {
        let (status, output) = try Fixtures.runWeft([
            "worker", "--coordinator", "tcp://127.0.0.1:1", "--max-message-size", "lots",
        ])
        #expect(status != 0)
        #expect(output.contains("--max-message-size: 'lots' is not a memory size"), "\(output)")
    }

    /// `Fill` of the fed string `text` into a vector of `count` elements, named `filled`.
    private static func stringFillGraph(count: Int) throws -> Graph {
        try Graph(
            graphDefText: """
                node {
                  name: "text" op: "Placeholder" device: "/job:worker/task:0"
                  attr { key: "dtype" value { type: DT_STRING } }
                  attr { key: "shape" value { shape { } } }
                }
                node {
                  name: "dims" op: "Const" device: "/job:worker/task:0"
                  attr { key: "dtype" value { type: DT_INT32 } }
                  attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 1 } } int_val: \(count) } } }
                }
                node {
                  name: "filled" op: "Fill" input: "dims" input: "text" device: "/job:worker/task:0"
                  attr { key: "T" value { type: DT_STRING } }
                  attr { key: "index_type" value { type: DT_INT32 } }
                }
                node {
                  name: "joined" op: "StringJoin" input: "filled" input: "text" device: "/job:worker/task:0"
                  attr { key: "N" value { i: 2 } }
                  attr { key: "separator" value { s: "" } }
                }
                node {
                  name: "size" op: "Size" input: "joined" device: "/job:worker/task:0"
                  attr { key: "T" value { type: DT_STRING } }
                  attr { key: "out_type" value { type: DT_INT32 } }
                }
                """
        )
    }

    @Test func memoryLimit_hugeStringsFailNamingTheNode_workerServesOn() throws {
        let (coordinator, _, processes) = try Self.cluster(["--memory-limit", "64MiB"])
        defer { for process in processes { process.terminate() } }
        let megabyte = try Tensor(strings: [[UInt8](repeating: 0x61, count: 1 << 20)], shape: .scalar)
        // 100 copies of a 1 MiB string are 100 MiB as TensorFlow counts them: past the budget.
        let huge = try Self.stringFillGraph(count: 100)
        let error = try #require(throws: WeftError.self) {
            try Session(target: coordinator, graph: huge).run(
                huge.tensor(named: "size:0"),
                feeding: [huge.tensor(named: "text:0"): megabyte]
            )
        }
        #expect(error.code == .resourceExhausted, "\(error)")
        #expect(error.message.contains("filled") && error.message.contains("memory limit"), "\(error)")
        // 8 copies fit (8 MiB, 16 MiB joined), and their bytes are given back after each step.
        let fits = try Self.stringFillGraph(count: 8)
        let session = try Session(target: coordinator, graph: fits)
        for _ in 0..<6 {
            let size = try session.run(fits.tensor(named: "size:0"), feeding: [fits.tensor(named: "text:0"): megabyte])
            #expect(size.scalar(as: Int32.self) == 8)
        }
        #expect(try ClusterClient.status(coordinator: coordinator).workers.allSatisfy(\.healthy))
    }

    @Test func memoryLimit_joinPastTheBudget_refusedBeforeBuilding() throws {
        let (coordinator, _, processes) = try Self.cluster(["--memory-limit", "64MiB"])
        defer { for process in processes { process.terminate() } }
        let megabyte = try Tensor(strings: [[UInt8](repeating: 0x61, count: 1 << 20)], shape: .scalar)
        // Fill of 40 is 40 MiB; the join would add 80 MiB more: refused naming the join.
        let graph = try Self.stringFillGraph(count: 40)
        let error = try #require(throws: WeftError.self) {
            try Session(target: coordinator, graph: graph).run(
                graph.tensor(named: "size:0"),
                feeding: [graph.tensor(named: "text:0"): megabyte]
            )
        }
        #expect(error.code == .resourceExhausted, "\(error)")
        #expect(error.message.contains("'joined'"), "\(error)")
    }
}
