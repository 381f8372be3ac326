import Foundation
import Testing
import WeftRuntime
import WeftTestKit

@testable import WeftCluster

/// The cluster file on the command line: `weft cluster check`, `--config` with flags laid over
/// it, and `weft health`, with real processes on loopback.
@Suite(.serialized) struct ClusterFileCLITests {
    @Test func check_printsEveryProblemWithItsPlace_andExits1() async throws {
        try await offTheCooperativePool { try Self.check_printsEveryProblemWithItsPlace_andExits1Blocking() }
    }

    private static func check_printsEveryProblemWithItsPlace_andExits1Blocking() throws {
        let bad = try Self.write(
            """
            coordinator:
              address: tcp://10.0.0.1:7070
            jobs:
              worker:
                - tcp://10.0.0.3:7071
                - tcp://10.0.0.3
            heartbeat:
              interval: fast
            """
        )
        let (status, output) = try Fixtures.runWeft(["cluster", "check", "--config", bad.path])
        #expect(status == 1)
        #expect(output.contains("\(bad.path):6:7: jobs.worker[1]: 'tcp://10.0.0.3'"), "\(output)")
        #expect(output.contains("\(bad.path):8:13: heartbeat.interval: 'fast' is not a duration"), "\(output)")
        #expect(output.hasSuffix("\(bad.path): 2 problems\n"), "\(output)")
        let good = try Self.write(ClusterConfigTests.valid)
        let ok = try Fixtures.runWeft(["cluster", "check", "--config", good.path])
        #expect(ok.status == 0)
        #expect(
            ok.output
                == "\(good.path): OK: coordinator tcp://10.0.0.1:7070, jobs ps=1,worker=2 (4 processes); "
                + "no keys: processes listen on loopback only\n"
        )
    }

    @Test func coordinatorAndWorker_fromAFile_withFlagsOverridingIt() async throws {
        try await offTheCooperativePool { try Self.coordinatorAndWorker_fromAFile_withFlagsOverridingItBlocking() }
    }

    private static func coordinatorAndWorker_fromAFile_withFlagsOverridingItBlocking() throws {
        let (coordinatorPort, workerPort) = (try Self.freePort(), try Self.freePort())
        let file = try Self.write(
            """
            coordinator:
              address: tcp://127.0.0.1:\(coordinatorPort)
              listen: tcp://127.0.0.1:\(coordinatorPort)
            jobs:
              worker:
                - address: tcp://127.0.0.1:\(workerPort)
                  listen: tcp://127.0.0.1:\(workerPort)
            heartbeat: {interval: 100ms, timeout: 1s}
            """
        )
        let coordinator = try ProcessCluster.launch(
            Fixtures.weftExecutable,
            ["coordinator", "--config", file.path, "--exit-with-parent"]
        )
        defer {
            coordinator.process.terminate()
            coordinator.process.waitUntilExit()
        }
        #expect(coordinator.address == "tcp://127.0.0.1:\(coordinatorPort)")
        // The flag wins over the file: this worker listens where the file says but binds a port of its own choosing.
        let worker = try ProcessCluster.launch(
            Fixtures.weftExecutable,
            [
                "worker", "--config", file.path, "--job", "worker", "--task", "0", "--listen", "tcp://127.0.0.1:0",
                "--advertise", "tcp://127.0.0.1:\(workerPort)", "--exit-with-parent",
            ]
        )
        defer {
            worker.process.terminate()
            worker.process.waitUntilExit()
        }
        let registered = try NetnsClusterTests.firstSuccess(within: .seconds(5)) { () throws -> String in
            let status = try ClusterClient.status(coordinator: coordinator.address)
            guard let entry = status.workers.first, entry.healthy else {
                throw WeftError(.unavailable, "not yet registered")
            }
            return "/job:\(entry.job)/task:\(entry.task) \(entry.address)"
        }
        #expect(registered.value == "/job:worker/task:0 tcp://127.0.0.1:\(workerPort)")
        let health = try Fixtures.runWeft(["health", "--config", file.path])
        #expect(health.status == 0, "\(health.output)")
        #expect(health.output.hasPrefix("tcp://127.0.0.1:\(coordinatorPort) is healthy"), "\(health.output)")
    }

    @Test func health_exits1_whenNothingAnswers() async throws {
        try await offTheCooperativePool { try Self.health_exits1_whenNothingAnswersBlocking() }
    }

    private static func health_exits1_whenNothingAnswersBlocking() throws {
        let port = try Self.freePort()
        let (status, output) = try Fixtures.runWeft([
            "health", "--address", "tcp://127.0.0.1:\(port)", "--timeout-ms", "300",
        ])
        #expect(status == 1)
        #expect(output.contains("is not healthy"), "\(output)")
        let usage = try Fixtures.runWeft(["worker", "--config", "x.yaml"])
        #expect(usage.status == 64)
        #expect(usage.output.contains("--config needs --job NAME and --task N"), "\(usage.output)")
    }

    static func write(_ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("weft-\(UUID().uuidString).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// A TCP port on loopback that was free a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw WeftError(.unavailable, "cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
