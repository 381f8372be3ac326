import Foundation
import Synchronization

/// Test hosts in network namespaces on one machine, made by `scripts/netns-cluster`: a
/// coordinator on host 0 and workers on the other hosts, each bound to its own address on a
/// private bridge. Each test process has its own names (`weft-tPID-`) and a 10.213.N.0/24 no
/// one else uses, so test runs sharing a machine, and a cluster an operator started by hand on
/// the script's default 10.213.0.0/24, are left alone.
///
/// The test process reaches the hosts through the bridge's own address, so traffic stays on
/// the bridge the script made. `down()` removes everything; so does the next `up`, and a
/// later test run removes what a killed one left behind.
public struct NetnsHosts: Sendable {
    /// The name prefix of this test process's namespaces, veths and bridge: the process id in
    /// it keeps test runs that share a machine apart, and tells a later run whether the
    /// process that made them is gone.
    public static let prefix = "weft-t\(getpid() % 100_000)-"
    /// The first three octets of this process's test hosts' addresses: a 10.213.N.0/24 that no
    /// interface on this machine uses yet.
    public static let subnet: String = {
        let used = (try? run(URL(fileURLWithPath: "/usr/bin/env"), ["ip", "-4", "-o", "addr", "show"]).output) ?? ""
        let start = Int(getpid() % 200)
        let free = (0..<234).lazy.map { 20 + (start + $0) % 234 }.first { !used.contains("10.213.\($0).") } ?? 254
        return "10.213.\(free)"
    }()

    /// The folder where the script keeps each cluster's cluster file, logs and pids.
    static let stateFolder = URL(fileURLWithPath: "/run/weft-netns")

    /// Why namespaces cannot be made here, or `nil` when they can: the tests that need them
    /// skip with this reason.
    public static let unavailableReason: String? = {
        guard getuid() == 0 else { return "network namespaces need root; this runs as uid \(getuid())" }
        guard
            let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first(
                where: FileManager.default.isExecutableFile
            )
        else { return "'ip' from iproute2 is not installed (scripts/install-deps installs it)" }
        if let reason = probeLinks(ip: URL(fileURLWithPath: ip)) { return reason }
        removeClustersOfEndedTestRuns()
        guard FileManager.default.isExecutableFile(atPath: Fixtures.weftExecutable.path) else {
            return "no weft executable at \(Fixtures.weftExecutable.path)"
        }
        return nil
    }()

    /// Removes the hosts that test processes which have ended left behind (killed, or crashed
    /// before their `defer` ran), found by the owner file `up` leaves in the state folder.
    private static func removeClustersOfEndedTestRuns() {
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: stateFolder.path)) ?? []
        for folder in folders where folder.hasPrefix("weft-t") {
            let owner = stateFolder.appendingPathComponent(folder).appendingPathComponent("owner")
            guard let text = try? String(contentsOf: owner, encoding: .utf8),
                let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                kill(pid, 0) == -1 && errno == ESRCH
            else { continue }
            _ = try? run(script, ["down", "--prefix", folder])
        }
    }

    /// Makes and removes what the script makes (a namespace, a bridge, a veth pair between
    /// them), or says which step the kernel or the container refused.
    private static func probeLinks(ip: URL) -> String? {
        let suffix = getpid() % 10_000
        let (namespace, bridge, veth) = ("weft-probe\(suffix)", "weft-pb\(suffix)", "weft-pv\(suffix)")
        defer {
            _ = try? run(ip, ["link", "del", veth])
            _ = try? run(ip, ["link", "del", bridge])
            _ = try? run(ip, ["netns", "del", namespace])
        }
        let steps: [(String, [String])] = [
            ("'ip netns add' does not work here (no CAP_SYS_ADMIN in this container?)", ["netns", "add", namespace]),
            (
                "cannot make a bridge here (no bridge support in the kernel?)",
                ["link", "add", bridge, "type", "bridge"]
            ),
            (
                "cannot make a veth pair into a namespace here (no veth support in the kernel?)",
                ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace]
            ),
        ]
        for (reason, arguments) in steps {
            guard let result = try? run(ip, arguments), result.status == 0 else { return reason }
        }
        return nil
    }

    /// Why `tc netem` cannot delay traffic here (the kernel lacks `sch_netem`, or `tc` is
    /// missing), or `nil` when it can: the latency tests skip with this reason.
    public static let netemUnavailableReason: String? = {
        if let reason = unavailableReason { return reason }
        let probe = "weft-probe\(getpid() % 100_000)n"
        let env = URL(fileURLWithPath: "/usr/bin/env")
        guard (try? run(env, ["ip", "netns", "add", probe]))?.status == 0 else { return "'ip netns add' failed" }
        defer { _ = try? run(env, ["ip", "netns", "del", probe]) }
        let added = try? run(
            env,
            ["ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]
        )
        guard let added, added.status == 0 else {
            return
                "tc netem is not available here: \(added?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? "tc did not run")"
        }
        return nil
    }()

    /// The coordinator's address.
    public let coordinator: String
    /// Each worker's device (`/job:worker/task:0`) with its address and host index.
    public let workers: [String: (address: String, host: Int)]
    /// The cluster file, whose security section lists every process's CURVE key.
    public let configFile: String
    /// The secret key file of the client the cluster file admits (named `client`).
    public let clientKey: String

    private static let script = Fixtures.repository.appendingPathComponent("scripts/netns-cluster")
    private static let clusters = Atomic<Int>(0)

    /// Makes `hosts` namespaces and starts the cluster of `jobs` on them; waits until every
    /// worker is registered.
    public static func up(hosts: Int = 3, jobs: String = "ps=1,worker=2") throws -> NetnsHosts {
        // A new coordinator port each time: this process's connection to the previous cluster's
        // coordinator would otherwise meet the new one at the same address and lose a request.
        let port = 17_070 + 10 * (clusters.add(1, ordering: .relaxed).oldValue % 4_000)
        let (status, output) = try script(
            ["up", "--hosts", "\(hosts)", "--jobs", jobs, "--port", "\(port)", "--weft", Fixtures.weftExecutable.path])
        guard status == 0 else { throw NetnsError(description: "netns-cluster up failed (\(status)):\n\(output)") }
        let owner = stateFolder.appendingPathComponent(prefix).appendingPathComponent("owner")
        try "\(getpid())\n".write(to: owner, atomically: true, encoding: .utf8)
        var coordinator = ""
        var configFile = ""
        var clientKey = ""
        var workers: [String: (String, Int)] = [:]
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            if words.count == 2 && words[0] == "coordinator" { coordinator = words[1] }
            if words.count == 2 && words[0] == "config" { configFile = words[1] }
            if words.count == 2 && words[0] == "key" { clientKey = words[1] }
            if words.count == 4 && words[2] == "host", let host = Int(words[3]) { workers[words[0]] = (words[1], host) }
        }
        return NetnsHosts(coordinator: coordinator, workers: workers, configFile: configFile, clientKey: clientKey)
    }

    /// Stops every process and removes every namespace, veth and the bridge; safe to repeat.
    @discardableResult
    public static func down() throws -> String {
        let (status, output) = try script(["down"])
        guard status == 0 else { throw NetnsError(description: "netns-cluster down failed (\(status)):\n\(output)") }
        return output
    }

    /// Sets host `host`'s link to the bridge up or down.
    public func link(host: Int, up: Bool) throws {
        let (status, output) = try Self.script(["link", "\(host)", up ? "up" : "down"])
        guard status == 0 else { throw NetnsError(description: "netns-cluster link failed: \(output)") }
    }

    /// Adds `milliseconds` of delay to host `host`'s outgoing traffic (`nil` removes it);
    /// throws when tc netem is not available.
    public func delay(host: Int, milliseconds: Int?) throws {
        let (status, output) = try Self.script(["delay", "\(host)", milliseconds.map(String.init) ?? "off"])
        guard status == 0 else { throw NetnsError(description: "netns-cluster delay failed: \(output)") }
    }

    /// Runs the `weft` executable with `arguments` inside host `host`'s namespace.
    public func weft(onHost host: Int, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try Self.script(["exec", "\(host)", "--", Fixtures.weftExecutable.path] + arguments)
    }

    /// The namespaces with the test prefix that exist now.
    public static func namespaces() throws -> [String] {
        try run(URL(fileURLWithPath: "/usr/bin/env"), ["ip", "netns", "list"]).output
            .split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { $0.hasPrefix(prefix) }
    }

    private static func script(_ arguments: [String]) throws -> (status: Int32, output: String) {
        // Options go before a `--` that ends the script's own options.
        try run(script, [arguments[0], "--prefix", prefix, "--subnet", subnet] + arguments.dropFirst())
    }

    /// Runs a program and returns its exit status with its standard output and error.
    ///
    /// posix_spawn and a blocking waitpid rather than Foundation's `Process`: the script leaves
    /// daemons behind in the namespaces, and `Process.waitUntilExit` was seen to miss the
    /// script's exit then, hanging the test. Output goes through a file for the same reason:
    /// nothing but the script itself ever holds it.
    public static func run(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "weft-netns-\(UUID().uuidString).out"
        )
        defer { try? FileManager.default.removeItem(at: output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable.path, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw NetnsError(description: "cannot start \(executable.path): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS, which Swift does not import as macros.
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exitStatus, text)
    }
}

/// A failure of the namespace script, with what it printed.
public struct NetnsError: Error, CustomStringConvertible {
    /// What failed and the script's output.
    public var description: String
}
