import Foundation
import Synchronization
import Testing
import WeftPlacement
import WeftRuntime
import WeftTestKit

@testable import Weft
@testable import WeftCluster

/// A cluster across hosts: `weft` processes in network namespaces on a private bridge, made by
/// `scripts/netns-cluster`. Skipped, with the reason, where namespaces cannot be made.
@Suite(
    .serialized,
    .enabled(if: NetnsHosts.unavailableReason == nil, Comment(rawValue: NetnsHosts.unavailableReason ?? "")),
    .timeLimit(.minutes(1))
)
struct NetnsClusterTests {
    @Test func seedProgram_acrossHosts() async throws {
        try await offTheCooperativePool { try Self.seedProgram_acrossHostsBlocking() }
    }

    private static func seedProgram_acrossHostsBlocking() throws {
        let hosts = try NetnsHosts.up()
        defer { _ = try? NetnsHosts.down() }
        let graph = Graph()
        let (variable, initialize, assign) = graph.asDefault {
            let variable = graph.device("/job:ps/task:0") { Variable(42, name: "foo") }
            let value = graph.device("/job:worker/task:0") { constant(13, name: "assign/value") }
            return (variable, globalVariablesInitializer(), variable.assign(value, name: "assign"))
        }
        try hosts.session(graph).run { session in
            try session.run(initialize)
            try session.run(assign)
            #expect(try session.run(variable).scalar(as: Int32.self) == 13)
        }
        try hosts.session(graph).run { session in
            let error = try #require(throws: WeftError.self) { try session.run(variable) }
            #expect(error.code == .failedPrecondition)
            #expect(error.message == "Attempting to use uninitialized value foo")
        }
        try hosts.session(graph).run { session in
            try session.run(initialize)
            #expect(try session.run(variable).scalar(as: Int32.self) == 42)
        }
        // The variable and the assigned value really live on two different hosts.
        let status = try ClusterClient.status(coordinator: hosts.coordinator, security: hosts.clientSecurity())
        let addresses = Dictionary(
            uniqueKeysWithValues: status.workers.map { ("/job:\($0.job)/task:\($0.task)", $0.address) }
        )
        #expect(addresses["/job:ps/task:0"] == hosts.workers["/job:ps/task:0"]?.address)
        #expect(hosts.workers["/job:ps/task:0"]?.host != hosts.workers["/job:worker/task:0"]?.host)
        // The hosts reach nothing but each other: their one route is the bridge's subnet.
        let routes = try NetnsHosts.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["ip", "-n", "\(NetnsHosts.prefix)h1", "route"]
        ).output
        #expect(
            routes.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").map {
                $0.split(separator: " ").first ?? ""
            }
                == ["\(NetnsHosts.subnet).0/24"],
            "\(routes)"
        )
    }

    @Test func conformance_acrossHosts_fromAClientOnAnotherHost() async throws {
        try await offTheCooperativePool { try Self.conformance_acrossHosts_fromAClientOnAnotherHostBlocking() }
    }

    private static func conformance_acrossHosts_fromAClientOnAnotherHostBlocking() throws {
        let hosts = try NetnsHosts.up()
        defer { _ = try? NetnsHosts.down() }
        // The client runs in the coordinator's namespace, so every hop crosses the bridge or stays in a test host.
        let (status, output) = try hosts.weft(
            onHost: 0,
            [
                "conformance", Fixtures.conformance.path, "--config", hosts.configFile, "--key", hosts.clientKey,
                "--filter", Fixtures.coreCasePrefix,
            ]
        )
        let cases = try ConformanceCase.load(directory: Fixtures.conformance).filter {
            $0.name.hasPrefix(Fixtures.coreCasePrefix)
        }
        let expected = cases.count * PlacementStrategies.all.count
        #expect(status == 0, "\(output)")
        #expect(output.contains("\(expected) passed, 0 failed"), "\(output)")
    }

    @Test func cutOffWorker_failsItsStepsWithin3s_othersRun_andItRejoins() async throws {
        try await offTheCooperativePool { try Self.cutOffWorker_failsItsStepsWithin3s_othersRun_andItRejoinsBlocking() }
    }

    private static func cutOffWorker_failsItsStepsWithin3s_othersRun_andItRejoinsBlocking() throws {
        let hosts = try NetnsHosts.up()
        defer { _ = try? NetnsHosts.down() }
        let cut = try #require(hosts.workers["/job:worker/task:0"])
        let kept = try #require(hosts.workers["/job:worker/task:1"])
        try #require(cut.host != kept.host)
        let graph = Graph()
        let (onCut, onKept) = graph.asDefault { () -> (Output, Output) in
            let a = graph.device("/job:worker/task:0") { constant(Float(2)) * 3 }
            let b = graph.device("/job:worker/task:1") { constant(Float(5)) + 1 }
            return (a, b)
        }
        let session = try hosts.session(graph)
        let other = try hosts.session(graph)
        defer {
            session.close()
            other.close()
        }
        #expect(try session.run(onCut).scalar(as: Float.self) == 6)
        #expect(try other.run(onKept).scalar(as: Float.self) == 6)

        // Steps on the other host keep running, back to back, through the whole outage.
        let keptSteps = Mutex((succeeded: 0, failures: [String]()))
        let outageOver = Atomic<Bool>(false)
        let keptLoop = DispatchGroup()
        keptLoop.enter()
        // A thread of its own: a global dispatch queue has one thread per core, and blocking
        // one for seconds delays every timer of the suites running beside this one.
        Thread.detachNewThread {
            defer { keptLoop.leave() }
            while !outageOver.load(ordering: .acquiring) {
                do {
                    _ = try other.run(onKept)
                    keptSteps.withLock { $0.succeeded += 1 }
                } catch {
                    keptSteps.withLock { $0.failures.append("\(error)") }
                }
                // Paced, so the loop does not starve the suites running beside this one on a small machine.
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
        try hosts.link(host: cut.host, up: false)
        var linkUp = false
        defer { if !linkUp { try? hosts.link(host: cut.host, up: true) } }
        let start = ContinuousClock.now
        let error = try #require(throws: WeftError.self) { try session.run(onCut) }
        let elapsed = ContinuousClock.now - start
        outageOver.store(true, ordering: .releasing)
        keptLoop.wait()
        let during = keptSteps.withLock { $0 }
        #expect(during.failures.isEmpty, "\(during.failures)")
        #expect(during.succeeded > 10, "only \(during.succeeded) steps on the other host during the outage")
        #expect(error.code == .unavailable, "\(error)")
        #expect(error.message.contains("/job:worker/task:0"), "\(error)")
        #expect(elapsed < .seconds(3), "took \(elapsed)")
        #expect(try other.run(onKept).scalar(as: Float.self) == 6)
        #expect(try session.run(onKept).scalar(as: Float.self) == 6)

        try hosts.link(host: cut.host, up: true)
        linkUp = true
        let back = try Self.firstSuccess(within: .seconds(20)) { try session.run(onCut).scalar(as: Float.self) }
        #expect(back.value == 6)
        print(
            "netns: cut-off step failed after \(elapsed) (\(error.message)) while \(during.succeeded) steps ran on the other host; "
                + "the worker served again \(back.after) after its link came back"
        )
        let status = try ClusterClient.status(coordinator: hosts.coordinator, security: hosts.clientSecurity())
        #expect(status.workers.allSatisfy { $0.healthy }, "\(status)")
    }

    @Test(
        .enabled(
            if: NetnsHosts.netemUnavailableReason == nil,
            Comment(rawValue: NetnsHosts.netemUnavailableReason ?? "")
        )
    )
    func addedLatency_showsInACrossHostStep() async throws {
        try await offTheCooperativePool { try Self.addedLatency_showsInACrossHostStepBlocking() }
    }

    private static func addedLatency_showsInACrossHostStepBlocking() throws {
        let hosts = try NetnsHosts.up()
        defer { _ = try? NetnsHosts.down() }
        let delayed = try #require(hosts.workers["/job:worker/task:0"])
        let graph = Graph()
        // worker/task:0 pushes its value to worker/task:1, on another host, which adds and replies.
        let sum = graph.asDefault { () -> Output in
            let a = graph.device("/job:worker/task:0") { constant(Float(2)) * 3 }
            return graph.device("/job:worker/task:1") { a + 1 }
        }
        let session = try hosts.session(graph)
        defer { session.close() }
        func medianStep() throws -> Duration {
            var times: [Duration] = []
            for _ in 0..<15 {
                let start = ContinuousClock.now
                #expect(try session.run(sum).scalar(as: Float.self) == 7)
                times.append(ContinuousClock.now - start)
            }
            return times.sorted()[times.count / 2]
        }
        _ = try medianStep()  // warm: the first run prunes, partitions and registers
        let plain = try medianStep()
        try hosts.delay(host: delayed.host, milliseconds: 20)
        defer { try? hosts.delay(host: delayed.host, milliseconds: nil) }
        let slowed = try medianStep()
        print("netns: cross-host step median \(plain) plain, \(slowed) with 20 ms netem delay on host \(delayed.host)")
        // Every step waits for at least one message out of the delayed host (the pushed tensor).
        #expect(slowed - plain > .milliseconds(18), "plain \(plain), delayed \(slowed)")
    }

    @Test func down_removesEverything_andRepeats() async throws {
        try await offTheCooperativePool { try Self.down_removesEverything_andRepeatsBlocking() }
    }

    private static func down_removesEverything_andRepeatsBlocking() throws {
        defer { _ = try? NetnsHosts.down() }
        _ = try NetnsHosts.up(hosts: 2, jobs: "worker=1")
        // As after a crash: `up` again over what the first one left clears it and starts afresh.
        let again = try NetnsHosts.up(hosts: 2, jobs: "worker=1")
        let status = try ClusterClient.status(coordinator: again.coordinator, security: again.clientSecurity())
        #expect(status.workers.count == 1)
        try NetnsHosts.down()
        try NetnsHosts.down()
        #expect(try NetnsHosts.namespaces().isEmpty)
        let links = try NetnsHosts.run(URL(fileURLWithPath: "/usr/bin/env"), ["ip", "-o", "link", "show"]).output
        #expect(!links.contains(NetnsHosts.prefix), "\(links)")
    }

    /// Retries `body` until it returns, for at most `limit`; returns its value and the time it took.
    static func firstSuccess<T>(within limit: Duration, _ body: () throws -> T) throws -> (value: T, after: Duration) {
        let start = ContinuousClock.now
        while true {
            do {
                return (try body(), ContinuousClock.now - start)
            } catch  where ContinuousClock.now - start < limit {
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
    }
}

extension NetnsHosts {
    /// The keys of the client the cluster file admits: every session and status request of
    /// these tests speaks CURVE, as every process of the cluster does.
    func clientSecurity() throws -> ClientSecurity {
        guard let security = try ClusterConfig(contentsOfFile: configFile).security else {
            throw WeftError(.failedPrecondition, "the cluster file \(configFile) has no security section")
        }
        return try ClientSecurity(secretKeyFile: clientKey, cluster: security)
    }

    /// A session on `graph` as the admitted client.
    func session(_ graph: Graph) throws -> Session {
        var options = RemoteSessionOptions()
        options.security = try clientSecurity()
        return try Session(target: coordinator, graph: graph, options: options)
    }
}
