import Foundation
import Testing
import Weft
import WeftRuntime

/// The timeline of a step's statistics: rows, slices, flows and clock alignment.
@Suite struct ChromeTraceTests {
    /// Two workers: task 0 sends `a:0` to task 1, whose clock runs 1 ms ahead of the client's.
    static let statistics: StepStatistics = {
        var statistics = StepStatistics()
        let key = "/job:worker/task:0;/job:worker/task:1;a:0"
        statistics.nodes = [
            .init(
                node: "a",
                op: "Const",
                device: "/job:worker/task:0",
                start: .microseconds(10),
                duration: .microseconds(5),
                outputBytes: 16,
                thread: 77,
                outputShapes: ["float32[2,2]"]
            ),
            .init(
                node: "send_1",
                op: "_Send",
                device: "/job:worker/task:0",
                start: .microseconds(20),
                duration: .microseconds(4),
                outputBytes: 0,
                thread: 78,
                inputShapes: ["float32[2,2]"],
                rendezvousKey: key
            ),
            .init(
                node: "recv_1",
                op: "_Recv",
                device: "/job:worker/task:1",
                start: .microseconds(1_002),
                duration: .microseconds(40),
                outputBytes: 16,
                thread: 5,
                outputShapes: ["float32[2,2]"],
                rendezvousKey: key
            ),
            .init(
                node: "b",
                op: "MatMul",
                device: "/job:worker/task:1",
                start: .microseconds(1_050),
                duration: .microseconds(30),
                outputBytes: 16,
                thread: 5,
                inputShapes: ["float32[2,2]", "float32[2,2]"],
                outputShapes: ["float32[2,2]"]
            ),
        ]
        statistics.clocks = [
            .init(device: "/job:worker/task:0", originMicros: 5_000_000, offsetMicros: 0, offsetErrorMicros: 20),
            .init(device: "/job:worker/task:1", originMicros: 5_001_000, offsetMicros: 1_000, offsetErrorMicros: 35),
        ]
        return statistics
    }()

    @Test func rows_perWorkerAndThread_withClockErrorInTheName() throws {
        let events = ChromeTrace(Self.statistics).events
        let processes = events.filter { $0.name == "process_name" }
        #expect(processes.map(\.pid) == [1, 2])
        #expect(processes[1].args?["name"] == .string("/job:worker/task:1 (clock +1000 µs ± 35 µs)"))
        let threads = events.filter { $0.name == "thread_name" }.map { "\($0.pid)/\($0.tid ?? 0)" }
        #expect(threads == ["1/1", "1/2", "2/1"])
    }

    @Test func slices_alignedOnTheClientClock() throws {
        let slices = ChromeTrace(Self.statistics).events.filter { $0.ph == "X" }
        let byNode = Dictionary(uniqueKeysWithValues: slices.map { ($0.args?["name"], $0) })
        // task 1 started 1000 µs later by its own clock, which runs 1000 µs ahead: same origin.
        #expect(byNode[.string("a")]?.ts == 10)
        #expect(byNode[.string("recv_1")]?.ts == 1_002)
        #expect(byNode[.string("b")]?.dur == 30)
        #expect(byNode[.string("b")]?.args?["inputs"] == .strings(["float32[2,2]", "float32[2,2]"]))
        #expect(byNode[.string("b")]?.name == "MatMul")
    }

    @Test func flow_leavesTheSendAndLandsInTheReceive() throws {
        let events = ChromeTrace(Self.statistics).events
        let start = try #require(events.first { $0.ph == "s" })
        let finish = try #require(events.first { $0.ph == "f" })
        #expect(start.id == finish.id)
        #expect(finish.bp == "e")
        let send = try #require(events.first { $0.name == "_Send" })
        let receive = try #require(events.first { $0.name == "_Recv" })
        #expect(start.pid == send.pid && start.tid == send.tid)
        #expect(finish.pid == receive.pid && finish.tid == receive.tid)
        #expect(contains(send, start.ts ?? -1))
        #expect(contains(receive, finish.ts ?? -1))
    }

    @Test func json_hasTraceEventsAndParses() throws {
        let data = ChromeTrace(Self.statistics).jsonData()
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let events = try #require(object["traceEvents"] as? [[String: Any]])
        #expect(events.count == ChromeTrace(Self.statistics).events.count)
        #expect(events.allSatisfy { $0["ph"] != nil && $0["pid"] != nil })
    }

    @Test func localStep_oneProcessNamedLocal() throws {
        var statistics = StepStatistics()
        statistics.nodes = [
            .init(node: "x", op: "Const", device: "", start: .zero, duration: .microseconds(1), outputBytes: 4)
        ]
        statistics.clocks = [.init(device: "", originMicros: 42)]
        let events = ChromeTrace(statistics).events
        #expect(events.first { $0.name == "process_name" }?.args?["name"] == .string("local"))
        #expect(events.filter { $0.ph == "X" }.count == 1)
    }

    @Test func localSession_fillsShapesThreadsAndClock() throws {
        let graph = Graph()
        // A placeholder keeps the MatMul from being folded into a constant.
        let (x, product) = graph.asDefault { () -> (Output, Output) in
            let x = placeholder(.float, shape: [2, 2], name: "x")
            return (x, matMul(x, constant([[Float(1)], [1]])))
        }
        var metadata = RunMetadata()
        let input = try Tensor([Float(1), 2, 3, 4], shape: [2, 2])
        _ = try Session(graph: graph).run([product], feeding: [x: input], metadata: &metadata)
        let run = try #require(metadata.stepStatistics.nodes.first { $0.op == "MatMul" })
        #expect(run.inputShapes == ["float32[2,2]", "float32[2,1]"])
        #expect(run.outputShapes == ["float32[2,1]"])
        #expect(run.thread != 0)
        #expect(metadata.stepStatistics.clocks.count == 1)
        #expect(metadata.chromeTrace().events.contains { $0.ph == "X" && $0.name == "MatMul" })
    }

    private func contains(_ slice: ChromeTrace.Event, _ time: Double) -> Bool {
        guard let start = slice.ts, let duration = slice.dur else { return false }
        return start <= time && time <= start + duration
    }
}
