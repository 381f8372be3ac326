import Foundation
import Logging
import Testing
import WeftCluster
import WeftTestKit
import WeftTransport

@testable import Weft
@testable import WeftObservability

/// Real processes: a coordinator with `--metrics-listen` and `--http`, two workers with
/// `--metrics-listen`, and a client in this process.
@Suite(.serialized) struct ObservabilityClusterTests {
    /// `a` on task 0, `b = a × a` on task 1: every step pushes `a` from task 0 to task 1.
    static func twoWorkerGraph() -> (Graph, Output) {
        let graph = Graph()
        let product = graph.asDefault { () -> Output in
            let a = graph.device("/job:worker/task:0") { constant([[Float(1), 2], [3, 4]], name: "a") + 1 }
            return graph.device("/job:worker/task:1") { matMul(a, a, name: "b") }
        }
        return (graph, product)
    }

    /// `a + 1` on task 0: after its first step, a step goes straight to task 0 (a direct route).
    static func oneWorkerGraph() -> (Graph, Output) {
        let graph = Graph()
        let sum = graph.asDefault {
            graph.device("/job:worker/task:0") { constant([Float(1), 2], name: "a") + 1 }
        }
        return (graph, sum)
    }

    @Test func metrics_countersMoveWithSteps() async throws {
        let cluster = try ObservedCluster()
        defer { cluster.stop() }
        let (graph, product) = Self.twoWorkerGraph()
        var options = RemoteSessionOptions()
        options.directRoutes = false  // every step through the coordinator, which counts it
        let session = try Session(target: cluster.address, graph: graph, options: options)
        _ = try await session.run(product)
        let before = try await httpGet(cluster.metrics).body
        let pushedBefore = try await httpGet(cluster.workerMetrics[0]).body
        for _ in 0..<3 { _ = try await session.run(product) }
        let after = try await httpGet(cluster.metrics)
        #expect(after.status == 200)
        let text = after.body
        let steps = #"weft_steps_total{route="coordinator",outcome="ok"}"#
        #expect(sample(text, steps) - sample(before, steps) == 3)
        let timed = #"weft_step_duration_seconds_count{route="coordinator"}"#
        #expect(sample(text, timed) - sample(before, timed) == 3)
        #expect(text.contains("# TYPE weft_step_duration_seconds histogram"))
        #expect(text.contains("# HELP weft_steps_total "))
        #expect(sample(text, "weft_sessions") == 1)
        #expect(sample(text, #"weft_workers{state="healthy"}"#) == 2)
        #expect(sample(text, #"weft_worker_memory_limit_bytes{worker="/job:worker/task:1"}"#) > 0)
        #expect(sample(text, "weft_tensor_memory_limit_bytes") > 0)

        let pushed = try await httpGet(cluster.workerMetrics[0]).body
        let peer = #"{peer="/job:worker/task:1"}"#
        #expect(
            sample(pushed, "weft_pushed_tensors_total" + peer)
                - sample(pushedBefore, "weft_pushed_tensors_total" + peer) == 3
        )
        #expect(
            sample(pushed, "weft_pushed_bytes_total" + peer) - sample(pushedBefore, "weft_pushed_bytes_total" + peer)
                == 48
        )
        #expect(sample(pushed, #"weft_partition_runs_total{outcome="ok"}"#) >= 4)
        // The coordinator timed the first step for the dashboard: the kernel time reached the metrics.
        let receiver = try await httpGet(cluster.workerMetrics[1]).body
        #expect(sample(receiver, #"weft_kernel_runs_total{op="MatMul"}"#) >= 1)
        #expect(sample(receiver, #"weft_kernel_seconds_total{op="MatMul"}"#) > 0)

        #expect(try await httpGet(URL(string: "/nothing-here", relativeTo: cluster.metrics)!).status == 404)
        session.close()
    }

    @Test func largeTensorsBetweenWorkerProcesses_areLent_andArriveIntact() async throws {
        let cluster = try ObservedCluster()
        defer { cluster.stop() }
        let graph = Graph()
        let count = 1 << 18  // 1 MiB of floats
        let (value, total) = graph.asDefault { () -> (Output, Output) in
            // Made from a feed, so no optimization folds it away: task 0 pushes it every step.
            let value = graph.device("/job:worker/task:0") { placeholder(.float, shape: [], name: "value") }
            let filled = graph.device("/job:worker/task:0") { fill([count], with: value) }
            return (value, graph.device("/job:worker/task:1") { sum(filled * 2) })
        }
        let session = try Session(target: cluster.address, graph: graph)
        let before = try await httpGet(cluster.workerMetrics[1]).body
        // The first push goes in frames while the sender proves itself; later ones are lent.
        for step in 1...20 {
            let result = try await session.run(total, feeding: [value: Tensor(Float(step))])
            #expect(result.scalar(as: Float.self) == Float(2 * step * count))
            let lent = sample(try await httpGet(cluster.workerMetrics[1]).body, "weft_lent_bytes_total")
            if lent - sample(before, "weft_lent_bytes_total") >= Double(4 * count) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let after = try await httpGet(cluster.workerMetrics[1]).body
        #expect(sample(after, "weft_lent_bytes_total") - sample(before, "weft_lent_bytes_total") >= Double(4 * count))
        #expect(sample(try await httpGet(cluster.workerMetrics[0]).body, "weft_lent_bytes_total") == 0)
        session.close()
    }

    @Test func tensorsSentTogether_travelInOneMessagePerStep() async throws {
        let cluster = try ObservedCluster()
        defer { cluster.stop() }
        let graph = Graph()
        let (initialize, total) = graph.asDefault { () -> (Weft.Operation, Output) in
            // A parameter server's pattern: task 0 holds six variables, and its executor sends
            // them one after another on one thread.
            let weights = graph.device("/job:worker/task:0") { (1...6).map { Variable(Float($0), name: "w\($0)") } }
            let total = graph.device("/job:worker/task:1") { addN(weights.map(\.value)) }
            return (globalVariablesInitializer(), total)
        }
        let session = try Session(target: cluster.address, graph: graph)
        try await session.run(initialize)
        _ = try await session.run(total)
        let before = try await httpGet(cluster.workerMetrics[0]).body
        let receiverBefore = try await httpGet(cluster.workerMetrics[1]).body
        for _ in 1...3 { #expect(try await session.run(total).scalar(as: Float.self) == 21) }
        let after = try await httpGet(cluster.workerMetrics[0]).body
        let receiverAfter = try await httpGet(cluster.workerMetrics[1]).body
        let peer = #"{peer="/job:worker/task:1"}"#
        let moved = { (series: String) in sample(after, series + peer) - sample(before, series + peer) }
        #expect(moved("weft_pushed_tensors_total") == 18)
        #expect(moved("weft_push_messages_total") == 3)
        // The steps went straight to both workers, and each counted once among them.
        let direct = #"weft_steps_total{route="direct",outcome="ok"}"#
        #expect(
            sample(after, direct) - sample(before, direct) + sample(receiverAfter, direct)
                - sample(receiverBefore, direct) == 3
        )
        session.close()
    }

    @Test func metrics_directRouteSteps_countOnTheWorkerThatRanThem() async throws {
        let cluster = try ObservedCluster()
        defer { cluster.stop() }
        let (graph, sum) = Self.oneWorkerGraph()
        let session = try Session(target: cluster.address, graph: graph)
        let coordinatorBefore = try await httpGet(cluster.metrics).body
        let workerBefore = try await httpGet(cluster.workerMetrics[0]).body
        // The first step asks the coordinator, which names the route; the next four take it.
        for _ in 0..<5 { _ = try await session.run(sum) }
        let coordinator = try await httpGet(cluster.metrics).body
        let worker = try await httpGet(cluster.workerMetrics[0]).body
        let otherWorker = try await httpGet(cluster.workerMetrics[1]).body
        let moved = { (after: String, before: String, series: String) in sample(after, series) - sample(before, series)
        }
        let viaCoordinator = #"weft_steps_total{route="coordinator",outcome="ok"}"#
        let direct = #"weft_steps_total{route="direct",outcome="ok"}"#
        #expect(moved(coordinator, coordinatorBefore, viaCoordinator) == 1)
        #expect(moved(worker, workerBefore, direct) == 4)
        #expect(moved(worker, workerBefore, #"weft_step_duration_seconds_count{route="direct"}"#) == 4)
        #expect(sample(worker, #"weft_step_duration_seconds_sum{route="direct"}"#) > 0)
        #expect(sample(otherWorker, direct) == 0)
        // Every step is counted once across the cluster's scrape targets.
        #expect(
            moved(coordinator, coordinatorBefore, viaCoordinator) + moved(worker, workerBefore, direct)
                + sample(coordinator, direct) == 5
        )
        session.close()
    }

    @Test func dashboard_directSteps_areCountedAndListed_andOneASecondIsSampledThroughTheCoordinator() async throws {
        let cluster = try ObservedCluster()
        defer { cluster.stop() }
        let (graph, sum) = Self.oneWorkerGraph()
        let session = try Session(target: cluster.address, graph: graph)
        // The coordinator samples a step a second (it serves --http): for 2.5 s of steps, the
        // client sends the first and then one a second through it, the others straight to task 0.
        let clock = ContinuousClock()
        let started = clock.now
        var steps = 0
        while clock.now - started < .milliseconds(2500) {
            #expect(try await session.run(sum).scalars(as: Float.self) == [2, 3])
            steps += 1
            try await Task.sleep(for: .milliseconds(5))
        }
        let api = { (path: String) in URL(string: path, relativeTo: cluster.dashboard)! }
        // Heartbeats bring the direct steps: the session's count reaches every step.
        var counted = 0
        let deadline = clock.now + .seconds(10)
        while counted < steps, clock.now < deadline {
            let object = try JSONSerialization.jsonObject(with: Data(try await httpGet(api("/api/cluster")).body.utf8))
            let sessions = (object as? [String: Any])?["sessions"] as? [[String: Any]]
            counted = sessions?.first?["steps"] as? Int ?? 0
            if counted < steps { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(counted == steps)
        let listed = try #require(
            try JSONSerialization.jsonObject(with: Data(try await httpGet(api("/api/steps")).body.utf8))
                as? [[String: Any]]
        )
        let direct = listed.filter { $0["route"] as? String == "direct" }
        let sampled = listed.filter { $0["route"] as? String == "coordinator" && $0["hasTimeline"] as? Bool == true }
        #expect(direct.count >= 20 && direct.allSatisfy { ($0["seconds"] as? Double ?? -1) >= 0 && $0["error"] == nil })
        // The first step and at least one a second later, all timed (capacity permitting, the newest stays).
        #expect(sampled.count >= 1)
        let metrics = try await httpGet(cluster.metrics).body
        #expect(sample(metrics, #"weft_steps_total{route="coordinator",outcome="ok"}"#) >= 2)
        session.close()
    }

    @Test func metrics_stalledWorkerAndGarbage_countMissedHeartbeatsAndRefusedMessages() async throws {
        let cluster = try ObservedCluster()
        defer { cluster.stop() }
        // Stopped for about three heartbeat intervals (250 ms each), well inside the 1.5 s timeout.
        kill(cluster.workers[1].processIdentifier, SIGSTOP)
        try await Task.sleep(for: .milliseconds(800))
        kill(cluster.workers[1].processIdentifier, SIGCONT)
        try await Task.sleep(for: .milliseconds(500))
        let node = try MessagingNode(listen: "tcp://127.0.0.1:0", logger: Logger(label: "weft.tests.garbage"))
        defer { node.close() }
        let notAnEnvelope: [[UInt8]] = [[0xFF, 0xFF, 0xFF, 0xFF]]
        for _ in 0..<3 { node.sendRawFrames(notAnEnvelope, to: cluster.address) }
        try await Task.sleep(for: .milliseconds(300))
        let text = try await httpGet(cluster.metrics).body
        let stalled = sample(text, #"weft_heartbeats_missed_total{worker="/job:worker/task:1"}"#)
        #expect(stalled >= 2)
        // The other worker kept time (a loaded machine may delay a heartbeat of its, but not by 0.8 s).
        #expect(sample(text, #"weft_heartbeats_missed_total{worker="/job:worker/task:0"}"#) < stalled)
        #expect(sample(text, #"weft_worker_up{worker="/job:worker/task:1"}"#) == 1)
        #expect(sample(text, #"weft_messages_refused_total{code="invalidArgument"}"#) == 3)
    }

    @Test func timeline_twoWorkerStep_matchesTheSchemaAndItsFlowJoinsSendToReceive() throws {
        let cluster = try ObservedCluster()
        defer { cluster.stop() }
        let (graph, product) = Self.twoWorkerGraph()
        let session = try Session(target: cluster.address, graph: graph)
        var metadata = RunMetadata()
        _ = try session.run([product], metadata: &metadata)
        let trace = metadata.chromeTrace()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("weft-timeline-\(getpid()).json")
        try trace.jsonData().write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        try validateAgainstSchema(file)

        let processes = Dictionary(
            uniqueKeysWithValues: trace.events.filter { $0.name == "process_name" }.map {
                ($0.pid, $0.args?["name"].flatMap { if case .string(let name) = $0 { name } else { nil } } ?? "")
            }
        )
        #expect(processes.count == 2)
        #expect(processes.values.allSatisfy { $0.contains("±") && $0.contains("µs") })
        let slices = trace.events.filter { $0.ph == "X" }
        let starts = trace.events.filter { $0.ph == "s" }
        let finishes = trace.events.filter { $0.ph == "f" }
        #expect(starts.count == 1 && finishes.count == 1)
        for start in starts {
            let finish = try #require(finishes.first { $0.id == start.id })
            let send = try #require(slices.first { enclosing($0, start) })
            let receive = try #require(slices.first { enclosing($0, finish) })
            #expect(send.name == "_Send" && receive.name == "_Recv")
            #expect(send.args?["rendezvous_key"] == receive.args?["rendezvous_key"])
            #expect(processes[send.pid]?.hasPrefix("/job:worker/task:0") == true)
            #expect(processes[receive.pid]?.hasPrefix("/job:worker/task:1") == true)
        }
        let matMul = try #require(slices.first { $0.name == "MatMul" })
        #expect(matMul.args?["outputs"] == .strings(["float32[2,2]"]))
        #expect(processes[matMul.pid]?.hasPrefix("/job:worker/task:1") == true)
        session.close()
    }

    @Test func cli_runWritesTheTimeline() throws {
        let cluster = try ObservedCluster()
        defer { cluster.stop() }
        let (graph, _) = Self.twoWorkerGraph()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("weft-run-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let graphFile = folder.appendingPathComponent("graph.pb")
        try graph.serializedGraphDef().write(to: graphFile)
        let traceFile = folder.appendingPathComponent("trace.json")
        let (status, output) = try Fixtures.runWeft([
            "run", graphFile.path, "--fetch", "b:0", "--coordinator", cluster.address, "--trace", traceFile.path,
        ])
        #expect(status == 0, "\(output)")
        #expect(output.contains("b:0 = "))
        try validateAgainstSchema(traceFile)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: traceFile)) as? [String: Any]
        let events = try #require(object?["traceEvents"] as? [[String: Any]])
        #expect(Set(events.compactMap { $0["pid"] as? Int }).count == 2)
        #expect(events.contains { $0["ph"] as? String == "f" })

        let (localStatus, localOutput) = try Fixtures.runWeft([
            "run", graphFile.path, "--fetch", "b", "--local", "--trace", traceFile.path,
        ])
        #expect(localStatus == 0, "\(localOutput)")
        #expect(localOutput.contains("b = "))
        try validateAgainstSchema(traceFile)
        let (badStatus, badOutput) = try Fixtures.runWeft(["run", graphFile.path, "--local"])
        #expect(badStatus != 0 && badOutput.contains("--fetch"))
    }

    @Test func dashboard_endpointsAnswerAndRefuseBadRequests() async throws {
        let cluster = try ObservedCluster()
        defer { cluster.stop() }
        let (graph, product) = Self.twoWorkerGraph()
        let session = try Session(target: cluster.address, graph: graph)
        _ = try await session.run(product)
        let api = { (path: String) in URL(string: path, relativeTo: cluster.dashboard)! }
        let clusterView = try await httpGet(api("/api/cluster"))
        #expect(clusterView.status == 200)
        let object = try JSONSerialization.jsonObject(with: Data(clusterView.body.utf8)) as? [String: Any]
        let workers = try #require(object?["workers"] as? [[String: Any]])
        #expect(workers.count == 2)
        #expect(workers.allSatisfy { $0["healthy"] as? Bool == true && ($0["memoryLimitBytes"] as? Int ?? 0) > 0 })
        let steps = try await httpGet(api("/api/steps"))
        #expect(steps.status == 200 && steps.body.contains(#""hasTimeline":true"#))
        let handle = try #require((object?["sessions"] as? [[String: Any]])?.first?["handle"] as? String)
        let placement = try await httpGet(api("/api/sessions/\(handle)/placement"))
        #expect(placement.status == 200 && placement.body.contains("/job:worker/task:1"))
        #expect(try await httpGet(api("/api/sessions/\(handle)/placement?limit=abc")).status == 400)
        #expect(try await httpGet(api("/api/sessions/nobody/placement")).status == 404)
        #expect(try await httpGet(api("/api/steps/abc/trace")).status == 400)
        #expect(try await httpGet(api("/api/steps/999999/trace")).status == 404)
        #expect(try await httpGet(api("/api/cluster"), method: "POST").status / 100 == 4)
        #expect(try await httpGet(api("/%ff%00")).status / 100 == 4)
        // Still serving after the bad requests.
        #expect(try await httpGet(api("/api/cluster")).status == 200)
        session.close()
    }

    @Test func dashboard_inHeadlessChromium_showsWorkersSessionTimelineAndPlacement() throws {
        let cluster = try ObservedCluster()
        defer { cluster.stop() }
        let (graph, product) = Self.twoWorkerGraph()
        let session = try Session(target: cluster.address, graph: graph)
        _ = try session.run(product)
        let dom = try chromium(["--dump-dom", cluster.dashboard.absoluteString])
        #expect(dom.contains(#"<td class="device">/job:worker/task:0</td>"#))
        #expect(dom.contains(#"<td class="device">/job:worker/task:1</td>"#))
        #expect(dom.components(separatedBy: #"<td class="healthy">healthy</td>"#).count == 3)
        let handle = try #require(try ClusterClient.status(coordinator: cluster.address).sessions.first?.handle)
        #expect(dom.contains(#"<td class="session">\#(handle)</td>"#))
        #expect(dom.contains(#"id="timeline-svg""#))
        #expect(dom.contains(#"class="slice""#))
        #expect(dom.contains(#"class="flow""#))
        #expect(dom.contains(#"id="placement-svg""#))
        #expect(dom.contains(#"data-device="/job:worker/task:1""#))
        #expect(dom.contains(#"<div class="muted" id="updated">updated "#))
        if let path = ProcessInfo.processInfo.environment["WEFT_DASHBOARD_SCREENSHOT"] {
            _ = try chromium(["--screenshot=\(path)", "--window-size=1280,1500", cluster.dashboard.absoluteString])
        }
        session.close()
    }

    @Test func logFormatJSON_everyLineIsAnObject() throws {
        let cluster = try ObservedCluster()
        defer { cluster.stop() }
        let (graph, product) = Self.twoWorkerGraph()
        let session = try Session(target: cluster.address, graph: graph)
        _ = try session.run(product)
        let deadline = ContinuousClock.now + .seconds(5)
        while !cluster.coordinator.standardError.contains("session created"), ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let lines = cluster.coordinator.standardError.split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] != nil && object?["label"] != nil && object?["time"] != nil, "\(line)")
        }
        let created = try #require(lines.first { $0.contains("session created") })
        let object = try JSONSerialization.jsonObject(with: Data(created.utf8)) as? [String: Any]
        let handle = try ClusterClient.status(coordinator: cluster.address).sessions.first?.handle
        #expect((object?["metadata"] as? [String: Any])?["session.id"] as? String == handle)
        session.close()
    }

    // MARK: Helpers

    private func enclosing(_ slice: ChromeTrace.Event, _ flow: ChromeTrace.Event) -> Bool {
        guard slice.pid == flow.pid, slice.tid == flow.tid, let start = slice.ts, let duration = slice.dur,
            let time = flow.ts
        else { return false }
        return start <= time && time <= start + duration
    }

    /// Checks a trace file with Python's jsonschema against the Trace Event Format's schema.
    private func validateAgainstSchema(_ file: URL) throws {
        let schema = Fixtures.repository.appendingPathComponent(
            "Tests/WeftObservabilityTests/trace-event-format.schema.json"
        )
        let script = """
            import json, sys, jsonschema
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))
            print("valid")
            """
        var failures: [String] = []
        for python in ["/usr/bin/env", "/usr/bin/python3"] {
            let arguments = (python == "/usr/bin/env" ? ["python3"] : []) + ["-c", script, schema.path, file.path]
            let (status, output) = try runProgram(python, arguments, withErrors: true)
            if status == 0, output.contains("valid") { return }
            failures.append(output)
        }
        Issue.record("the timeline does not pass the schema check: \(failures.joined(separator: "\n"))")
    }
}
