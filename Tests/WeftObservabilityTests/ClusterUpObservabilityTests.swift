import Foundation
import Testing
import WeftTestKit

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `weft cluster up --metrics-listen --http --log-format`: every process it starts serves and
/// logs as asked, and the command says where.
@Suite(.serialized) struct ClusterUpObservabilityTests {
    @Test func metricsOnBasePortPlusIndex_dashboard_jsonLogs() async throws {
        let base = try freePorts(3)
        let up = try ChildProcess([
            "cluster", "up", "--jobs", "worker=2", "--metrics-listen", "127.0.0.1:\(base)", "--http", "127.0.0.1:0",
            "--log-format", "json", "--log-level", "info",
        ])
        defer { up.stop() }
        _ = try up.line(containing: "cluster up")
        let lines = up.standardOutput.split(separator: "\n").map(String.init)
        let metrics = lines.filter { $0.contains("metrics on ") }.compactMap { URL(string: lastWord($0)) }
        #expect(metrics.map(\.port) == [base, base + 1, base + 2], "\(up.standardOutput)")
        // Each note follows its member's line: the coordinator's, then the workers' in order.
        let names = lines.filter { !$0.hasPrefix(" ") }.map { $0.split(separator: " ").first.map(String.init) ?? "" }
        #expect(Array(names.prefix(3)) == ["coordinator", "/job:worker/task:0", "/job:worker/task:1"])
        for url in metrics {
            let scraped = try await httpGet(url)
            #expect(scraped.status == 200 && scraped.body.contains("weft_tensor_memory_limit_bytes"), "\(url)")
        }
        let dashboard = try #require(lines.first { $0.contains("dashboard on ") }.flatMap { URL(string: lastWord($0)) })
        #expect(try await httpGet(URL(string: "/api/cluster", relativeTo: dashboard)!).status == 200)
        // The children log as JSON at info: the coordinator says when workers register.
        let deadline = ContinuousClock.now + .seconds(5)
        while !up.standardError.contains("weft.coordinator"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let logs = up.standardError.split(separator: "\n")
        #expect(logs.contains { $0.contains(#""label":"weft.coordinator""#) }, "\(up.standardError)")
        for line in logs {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["level"] != nil, "not a JSON log line: \(line)")
        }
    }

    @Test func withKeys_oneTokenForEveryEndpoint() async throws {
        let up = try ChildProcess([
            "cluster", "up", "--jobs", "worker=1", "--keys", "--metrics-listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
        ])
        defer { up.stop() }
        let tokenLine = try up.line(containing: "HTTP token for every process in")
        let file = try #require(tokenLine.split(separator: " ").first { $0.hasSuffix("http.token:") }?.dropLast())
        let token = try String(contentsOfFile: String(file), encoding: .utf8).trimmingCharacters(in: .newlines)
        let urls = up.standardOutput.split(separator: "\n").filter { $0.contains(" on http://") }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("http://") }.flatMap { URL(string: String($0)) }
        }
        #expect(urls.count == 3, "\(up.standardOutput)")
        for url in urls {
            #expect(try await httpGet(url).status == 401, "\(url)")
            #expect(try await httpGet(url, bearer: token).status == 200, "\(url)")
        }
    }

    private func lastWord(_ line: String) -> String {
        line.split(separator: " ").last.map(String.init) ?? ""
    }

    /// The first of `count` consecutive loopback TCP ports that are free now.
    private func freePorts(_ count: Int) throws -> Int {
        for _ in 0..<200 {
            let base = Int.random(in: 20_000...60_000)
            if (base..<(base + count)).allSatisfy(isFree) { return base }
        }
        throw TestFailure("no \(count) consecutive free ports found")
    }

    private func isFree(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
