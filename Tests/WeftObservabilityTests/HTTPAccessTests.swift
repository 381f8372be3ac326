import Foundation
import Testing
import WeftCluster
import WeftTestKit

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Who may read the HTTP endpoints: with keys, whoever shows the token; without keys, this host
/// only unless `--insecure`. Real processes and real HTTP requests.
@Suite(.serialized) struct HTTPAccessTests {
    /// An endpoint a member printed: its URL and the file holding its token.
    struct Served {
        var url: URL
        var tokenFile: String

        /// Reads `metrics on http://… (token in FILE)`.
        init(_ line: String) throws {
            let words = line.split(separator: " ")
            guard let on = words.firstIndex(of: "on"), on + 1 < words.count,
                let url = URL(string: String(words[on + 1])),
                let open = line.range(of: "(token in "), let close = line.lastIndex(of: ")")
            else { throw TestFailure("no URL and token file in '\(line)'") }
            self.url = url
            tokenFile = String(line[open.upperBound..<close])
        }

        func token() throws -> String {
            try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test func withKeys_everyEndpointWantsItsToken() async throws {
        let cluster = try ProcessCluster(
            executable: Fixtures.weftExecutable,
            jobs: try JobCounts(parsing: "worker=1"),
            clients: ["client"],
            memberArguments: { index, _ in
                ["--metrics-listen", "127.0.0.1:0"] + (index == 0 ? ["--http", "127.0.0.1:0"] : [])
            }
        )
        defer { cluster.stop() }
        let folder = try #require(cluster.keysFolder)
        let coordinatorNotes = cluster.members[0].notes
        let metrics = try Served(try #require(coordinatorNotes.first { $0.hasPrefix("metrics on") }))
        let dashboard = try Served(try #require(coordinatorNotes.first { $0.hasPrefix("dashboard on") }))
        let workerMetrics = try Served(try #require(cluster.members[1].notes.first { $0.hasPrefix("metrics on") }))
        // Made at start, beside each process's secret key, readable by its owner only.
        #expect(metrics.tokenFile == "\(folder)/coordinator.http-token")
        #expect(dashboard.tokenFile == metrics.tokenFile)
        #expect(workerMetrics.tokenFile == "\(folder)/worker-0.http-token")
        for file in [metrics.tokenFile, workerMetrics.tokenFile] {
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int)
            #expect(mode == 0o600)
        }
        let token = try metrics.token()
        let workerToken = try workerMetrics.token()
        #expect(token.count == 64 && token != workerToken)

        #expect(try await httpGet(metrics.url).status == 401)
        #expect(try await httpGet(metrics.url, bearer: String(token.reversed())).status == 401)
        #expect(try await httpGet(metrics.url, bearer: token + "x").status == 401)
        #expect(try await httpGet(metrics.url, bearer: workerToken).status == 401)
        let scraped = try await httpGet(metrics.url, bearer: token)
        #expect(scraped.status == 200 && scraped.body.contains("weft_tensor_memory_limit_bytes"))
        #expect(try await httpGet(workerMetrics.url).status == 401)
        #expect(try await httpGet(workerMetrics.url, bearer: workerToken).status == 200)

        let api = { (path: String) in URL(string: path, relativeTo: dashboard.url)! }
        #expect(try await httpGet(api("/")).status == 401)
        #expect(try await httpGet(api("/api/cluster")).status == 401)
        #expect(try await httpGet(api("/no-such-page")).status == 401)
        #expect(try await httpGet(api("/api/cluster?token=\(workerToken)")).status == 401)
        #expect(try await httpGet(api("/api/cluster"), bearer: token).status == 200)
        #expect(try await httpGet(api("/no-such-page"), bearer: token).status == 404)
        let page = try await httpGet(api("/?token=\(token)"))
        #expect(page.status == 200 && page.body.contains("<title>Weft cluster</title>"))
        // The page sends the token from its address with every request it makes.
        let dom = try chromium(["--dump-dom", api("/?token=\(token)").absoluteString])
        #expect(dom.contains(#"<td class="device">/job:worker/task:0</td>"#), "\(dom)")
        // Still serving after every refusal.
        #expect(try await httpGet(metrics.url, bearer: token).status == 200)

        try await tokenFile_isReadAndItsModeChecked(cluster)
    }

    /// A second coordinator with the same cluster file, on a port of its own: `--http-token-file`.
    private func tokenFile_isReadAndItsModeChecked(_ cluster: ProcessCluster) async throws {
        let config = try #require(cluster.configFile)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("weft-token-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let token = "a-token-the-operator-chose-0123456789"
        FileManager.default.createFile(
            atPath: file,
            contents: Data((token + "\n").utf8),
            attributes: [.posixPermissions: 0o644]
        )
        let arguments = [
            "coordinator", "--config", config, "--listen", "tcp://127.0.0.1:0", "--metrics-listen", "0.0.0.0:0",
            "--http-token-file", file,
        ]
        let (status, output) = try Fixtures.runWeft(arguments)
        #expect(status != 0 && output.contains("has mode 0644") && output.contains("chmod 600 \(file)"), "\(output)")

        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        // With keys a non-loopback address needs no --insecure: the token guards it.
        let coordinator = try ChildProcess(arguments + ["--exit-with-parent"])
        defer { coordinator.stop() }
        let line = try coordinator.line(containing: "metrics on")
        let served = try Served(line)
        #expect(served.tokenFile == file)
        let local = try #require(URL(string: "http://127.0.0.1:\(served.url.port ?? 0)/metrics"))
        #expect(try await httpGet(local).status == 401)
        #expect(try await httpGet(local, bearer: token).status == 200)

        // The cluster file can name the file instead (relative to its folder).
        let folder = try #require(cluster.keysFolder)
        try FileManager.default.copyItem(atPath: file, toPath: "\(folder)/named.token")
        let named = "\(folder)/cluster-with-token.yaml"
        let text = try String(contentsOfFile: config, encoding: .utf8) + "\n  http_token_file: named.token\n"
        try text.write(toFile: named, atomically: true, encoding: .utf8)
        let configured = try ChildProcess([
            "coordinator", "--config", named, "--listen", "tcp://127.0.0.1:0", "--http", "127.0.0.1:0",
            "--exit-with-parent",
        ])
        defer { configured.stop() }
        let dashboard = try Served(try configured.line(containing: "dashboard on"))
        #expect(dashboard.tokenFile == "\(folder)/named.token")
        let api = try #require(URL(string: "/api/cluster", relativeTo: dashboard.url))
        #expect(try await httpGet(api).status == 401)
        #expect(try await httpGet(api, bearer: token).status == 200)
    }

    @Test func withoutKeys_nonLoopbackNeedsInsecure_andNoTokenIsAsked() async throws {
        let refusals: [([String], String)] = [
            (["coordinator", "--listen", "tcp://127.0.0.1:0", "--http", "0.0.0.0:0"], "0.0.0.0:0 (--http)"),
            (
                ["coordinator", "--listen", "tcp://127.0.0.1:0", "--metrics-listen", "[::]:0"],
                "[::]:0 (--metrics-listen)"
            ),
            (
                [
                    "worker", "--listen", "tcp://127.0.0.1:0", "--coordinator", "tcp://127.0.0.1:1", "--metrics-listen",
                    "0.0.0.0:0",
                ],
                "0.0.0.0:0 (--metrics-listen)"
            ),
        ]
        for (arguments, address) in refusals {
            let (status, output) = try Fixtures.runWeft(arguments)
            #expect(status != 0, "\(output)")
            #expect(output.contains("failedPrecondition: refusing to listen on \(address) without keys"), "\(output)")
            #expect(output.contains("pass --insecure on a network you trust"), "\(output)")
        }
        let (status, output) = try Fixtures.runWeft([
            "coordinator", "--listen", "tcp://127.0.0.1:0", "--http", "127.0.0.1:0", "--http-token-file", "/tmp/x",
        ])
        #expect(status != 0 && output.contains("--http-token-file needs a cluster file with keys"), "\(output)")

        let insecure = try ChildProcess([
            "coordinator", "--listen", "tcp://127.0.0.1:0", "--http", "0.0.0.0:0", "--insecure", "--exit-with-parent",
        ])
        defer { insecure.stop() }
        let port = try #require(URL(string: try insecure.value(after: "dashboard on"))?.port)
        #expect(try await httpGet(try #require(URL(string: "http://127.0.0.1:\(port)/api/cluster"))).status == 200)
        #expect(insecure.standardError.contains("without keys (--insecure)"), "\(insecure.standardError)")
    }
}
