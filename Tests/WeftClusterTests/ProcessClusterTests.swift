import Foundation
import Testing
import WeftPlacement
import WeftRuntime
import WeftTestKit

@testable import Weft
@testable import WeftCluster

/// Real `weft` processes on loopback: killed workers, garbage on sockets, the CLI.
@Suite(.serialized) struct ProcessClusterTests {
    @Test func killedWorker_failsStepsFastAndOthersGoOn() throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "ps=1,worker=2"))
        defer { cluster.stop() }
        let graph = Graph()
        let (onWorker1, onWorker0) = graph.asDefault { () -> (Output, Output) in
            let a = graph.device("/job:worker/task:1") { constant(Float(2)) * 3 }
            let b = graph.device("/job:worker/task:0") { constant(Float(5)) + 1 }
            return (a, b)
        }
        let session = try Session(target: cluster.address, graph: graph)
        let other = try Session(target: cluster.address, graph: graph)
        #expect(try session.run(onWorker1).scalar(as: Float.self) == 6)
        cluster.kill("/job:worker/task:1")
        let start = ContinuousClock.now
        let error = try #require(throws: WeftError.self) { try session.run(onWorker1) }
        let elapsed = ContinuousClock.now - start
        #expect(error.code == .unavailable)
        #expect(error.message.contains("/job:worker/task:1"))
        #expect(elapsed < .seconds(3), "took \(elapsed)")
        #expect(try other.run(onWorker0).scalar(as: Float.self) == 6)
        #expect(try session.run(onWorker0).scalar(as: Float.self) == 6)
    }

    @Test func restartedWorker_registersAgain() throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        cluster.kill("/job:worker/task:0")
        let (replacement, address) = try ProcessCluster.launch(
            Fixtures.weftExecutable,
            [
                "worker", "--listen", "tcp://127.0.0.1:0", "--coordinator", cluster.address, "--job", "worker",
                "--task", "0",
                "--exit-with-parent",
            ]
        )
        defer { replacement.terminate() }
        let deadline = ContinuousClock.now + .seconds(5)
        while (try? ClusterClient.status(coordinator: cluster.address))?.workers.first?.address != address {
            #expect(ContinuousClock.now < deadline, "the replacement worker did not register within 5 s")
            if ContinuousClock.now >= deadline { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let graph = Graph()
        let value = graph.asDefault { graph.device("/job:worker/task:0") { constant(Float(4)) + 1 } }
        var options = RemoteSessionOptions()
        options.waitForWorkers = .seconds(5)
        let session = try Session(target: cluster.address, graph: graph, options: options)
        #expect(try session.run(value).scalar(as: Float.self) == 5)
    }

    @Test func garbageFrames_leaveProcessesServing() throws {
        let cluster = try ProcessCluster(executable: Fixtures.weftExecutable, jobs: JobCounts(parsing: "worker=1"))
        defer { cluster.stop() }
        for member in cluster.members {
            try GarbageSender.send(to: member.address)
        }
        for member in cluster.members {
            try ClusterClient.ping(member.address)
        }
        let graph = Graph()
        let value = graph.asDefault { constant(Float(1)) + 1 }
        #expect(try Session(target: cluster.address, graph: graph).run(value).scalar(as: Float.self) == 2)
        let status = try ClusterClient.status(coordinator: cluster.address)
        #expect(status.workers.count == 1 && status.workers[0].healthy)
    }

    @Test func cli_conformanceOnALocalCluster() throws {
        let (status, output) = try Fixtures.runWeft([
            "conformance", Fixtures.conformance.path, "--jobs", "ps=1,worker=2", "--filter", Fixtures.coreCasePrefix,
        ])
        let cases = try ConformanceCase.load(directory: Fixtures.conformance).filter {
            $0.name.hasPrefix(Fixtures.coreCasePrefix)
        }.count
        let strategies = PlacementStrategies.all.count
        #expect(status == 0, "\(output)")
        #expect(output.contains("\(cases * strategies) passed, 0 failed"), "\(output)")
    }

    @Test func cli_demoPrintsTheSeedAndWhereNodesRan() throws {
        let (status, output) = try Fixtures.runWeft(["demo"])
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(
            Array(lines.prefix(3)) == [
                "13", "failedPrecondition: Attempting to use uninitialized value foo", "42",
            ]
        )
        #expect(lines.contains { $0.contains("foo") && $0.contains("/job:ps/task:0") })
    }

    @Test func cli_benchStepAndTransfer_measureAgainstRawZeroMQ() throws {
        let step = try Fixtures.runWeft(["bench", "step", "--iterations", "50"])
        #expect(step.status == 0, "\(step.output)")
        #expect(step.output.contains("raw ZeroMQ DEALER/ROUTER round trip"), "\(step.output)")
        #expect(step.output.contains("raw round trips at the median"), "\(step.output)")
        let transfer = try Fixtures.runWeft(["bench", "transfer", "--mebibytes", "1", "--iterations", "5"])
        #expect(transfer.status == 0, "\(transfer.output)")
        #expect(transfer.output.contains("workers reported 1048576 bytes sent per step"), "\(transfer.output)")
    }

    @Test func cli_clusterUpStatusAndStopOnSIGTERM() throws {
        let process = Process()
        process.executableURL = Fixtures.weftExecutable
        process.arguments = ["cluster", "up", "--jobs", "ps=1,worker=2"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var lines: [String] = []
        var pending = Data()
        while !(lines.last?.hasPrefix("cluster up;") ?? false) {
            let chunk = output.fileHandleForReading.availableData
            try #require(!chunk.isEmpty, "cluster up ended early: \(lines)")
            pending.append(chunk)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
        }
        let members = lines.dropLast().map {
            $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        }
        #expect(members.map(\.[0]) == ["coordinator", "/job:ps/task:0", "/job:worker/task:0", "/job:worker/task:1"])
        let coordinator = try #require(members.first?[1])
        let pids = members.compactMap { Int32($0.last!) }

        let deadline = ContinuousClock.now + .seconds(5)
        var status = try Fixtures.runWeft(["status", "--coordinator", coordinator])
        while status.output.components(separatedBy: "healthy").count < 4, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.1)
            status = try Fixtures.runWeft(["status", "--coordinator", coordinator])
        }
        #expect(status.status == 0)
        for device in ["/job:ps/task:0", "/job:worker/task:0", "/job:worker/task:1"] {
            #expect(
                status.output.split(separator: "\n").contains {
                    // No session is open, so its sessions hold nothing.
                    $0.hasPrefix(device) && $0.contains("healthy") && $0.contains(" 0 bytes ")
                },
                "\(status.output)"
            )
        }
        #expect(status.output.contains("0 open sessions"))

        process.terminate()
        process.waitUntilExit()
        let rest = String(decoding: pending + output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(rest.contains("cluster stopped"))
        #expect(pids.count == 4 && pids.allSatisfy { kill($0, 0) != 0 }, "every child exits with the cluster")
    }

    @Test func cli_localDemoAndConformance() throws {
        let demo = try Fixtures.runWeft(["demo", "--local"])
        #expect(demo.output == "13\nfailedPrecondition: Attempting to use uninitialized value foo\n42\n")
        let conformance = try Fixtures.runWeft([
            "conformance", Fixtures.conformance.path, "--local", "--filter", Fixtures.coreCasePrefix,
        ])
        #expect(conformance.status == 0)
        #expect(conformance.output.hasSuffix("passed, 0 failed\n"))
    }
}
