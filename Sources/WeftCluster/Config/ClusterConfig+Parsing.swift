import Foundation
import WeftPlacement
import WeftRuntime
import WeftTransport
import Yams

extension ClusterConfig {
    /// Reads a cluster file in YAML or JSON (JSON is read as YAML, which it is a subset of)
    /// and checks it, returning every problem rather than stopping at the first: what
    /// `weft cluster check` prints.
    ///
    /// Public key files are always read; with `secrets`, every secret key file named too (it
    /// exists, holds the listed public key's secret, mode 0600), which only a host holding all
    /// of them can check: processes read only their own.
    public static func check(
        _ text: String,
        file: String,
        secrets: Bool = false
    ) -> (config: ClusterConfig?, problems: [ConfigProblem]) {
        var reader = ConfigReader(file: file, checkSecrets: secrets)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            return (nil, [reader.syntaxProblem(error)])
        } catch {
            return (nil, [ConfigProblem(file: file, path: "", message: "cannot read the file: \(error)")])
        }
        guard let root else {
            return (
                nil,
                [ConfigProblem(file: file, path: "", message: "the file is empty; it needs 'coordinator' and 'jobs'")]
            )
        }
        let config = reader.cluster(root)
        // File order reads best: problems found by later cross-checks go where they are in the file.
        func place(_ item: (offset: Int, element: ConfigProblem)) -> (Int, Int, Int) {
            (item.element.line ?? 0, item.element.column ?? 0, item.offset)
        }
        let problems = reader.problems.enumerated().sorted { place($0) < place($1) }.map(\.element)
        return (problems.isEmpty ? config : nil, problems)
    }

    /// Checks a cluster file's bytes: text that is not UTF-8 (a binary file, a file in another
    /// encoding) is one problem at the line and column of its first bad byte.
    public static func check(
        _ data: Data,
        file: String,
        secrets: Bool = false
    ) -> (config: ClusterConfig?, problems: [ConfigProblem]) {
        let bytes = [UInt8](data)
        var line = 1
        var lineStart = 0
        var offset = 0
        while offset < bytes.count {
            guard let length = Self.utf8Length(bytes, at: offset), bytes[offset] != 0 else {
                let byte = String(bytes[offset], radix: 16, uppercase: true)
                let problem = ConfigProblem(
                    file: file,
                    path: "",
                    line: line,
                    column: offset - lineStart + 1,
                    message: "byte 0x\(byte) at offset \(offset) is not UTF-8 text; a cluster file is YAML or JSON"
                )
                return (nil, [problem])
            }
            if bytes[offset] == UInt8(ascii: "\n") {
                line += 1
                lineStart = offset + 1
            }
            offset += length
        }
        return check(String(decoding: bytes, as: UTF8.self), file: file, secrets: secrets)
    }

    /// The length of the well-formed UTF-8 sequence at `offset`, or `nil` when it is not one.
    private static func utf8Length(_ bytes: [UInt8], at offset: Int) -> Int? {
        let lead = bytes[offset]
        let length: Int
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return nil
        }
        guard offset + length <= bytes.count else { return nil }
        let sequence = Array(bytes[offset..<offset + length])
        return String(validating: sequence, as: UTF8.self) == nil ? nil : length
    }

    /// Reads a cluster file's text, or throws `invalidArgument` listing every problem with its place.
    public init(parsing text: String, file: String) throws(WeftError) {
        let (config, problems) = Self.check(text, file: file)
        guard let config else {
            throw WeftError(
                .invalidArgument,
                "\(file) is not a valid cluster file:\n" + problems.map { "  \($0)" }.joined(separator: "\n")
            )
        }
        self = config
    }

    /// Reads the cluster file at `path`.
    public init(contentsOfFile path: String) throws(WeftError) {
        let (config, problems) = Self.check(try Self.contents(ofFile: path), file: path)
        guard let config else {
            throw WeftError(
                .invalidArgument,
                "\(path) is not a valid cluster file:\n" + problems.map { "  \($0)" }.joined(separator: "\n")
            )
        }
        self = config
    }

    /// The bytes of the file at `path`, or `notFound` saying why they cannot be read.
    public static func contents(ofFile path: String) throws(WeftError) -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw WeftError(.notFound, "cannot read the cluster file \(path): \(error.localizedDescription)")
        }
    }

    /// Why a heartbeat `timeout` does not suit `interval`, or `nil` when it does: a timeout
    /// shorter than two intervals declares healthy workers dead after one late heartbeat. The
    /// cluster file and the command line refuse the same settings with the same words.
    public static func heartbeatProblem(interval: Duration, timeout: Duration) -> String? {
        guard timeout < interval * 2 else { return nil }
        return "\(ConfigDuration.format(timeout)) is less than two heartbeat intervals "
            + "(\(ConfigDuration.format(interval))); one late heartbeat would declare a healthy worker dead"
    }

    /// Why `text` cannot be an address a process binds (`binding`) or is reached at, or `nil`
    /// when it can: the checks the cluster file's addresses get, for the command line too.
    public static func addressProblem(_ text: String, binding: Bool) -> String? {
        do throws(WeftError) {
            let address = try ClusterAddress(parsing: text)
            if !binding && address.isWildcard {
                return "\(text) names every interface; other processes need a host they can reach, "
                    + "like tcp://10.0.0.3:\(address.port)"
            } else if !binding && address.port == 0 {
                return "port 0 lets the system choose, so nobody could find the process; name a port"
            }
            return nil
        } catch {
            return error.message
        }
    }
}

/// Walks a parsed cluster file, building the configuration and collecting every problem
/// with its key path and position.
struct ConfigReader {
    let file: String
    /// Read every secret key file too (`weft cluster check`).
    let checkSecrets: Bool
    var problems: [ConfigProblem] = []

    init(file: String, checkSecrets: Bool = false) {
        self.file = file
        self.checkSecrets = checkSecrets
    }

    mutating func report(_ path: String, at node: Node?, _ message: String) {
        problems.append(
            ConfigProblem(file: file, path: path, line: node?.mark?.line, column: node?.mark?.column, message: message)
        )
    }

    func syntaxProblem(_ error: YamlError) -> ConfigProblem {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return ConfigProblem(
                file: file,
                path: "",
                line: mark.line,
                column: mark.column,
                message: "not valid YAML or JSON: \(detail)"
            )
        default:
            return ConfigProblem(file: file, path: "", message: "not valid YAML or JSON: \(error)")
        }
    }

    // MARK: The sections

    mutating func cluster(_ root: Node) -> ClusterConfig? {
        guard
            let fields = mapping(root, at: "", allowed: ["coordinator", "jobs", "heartbeat", "deadlines", "security"])
        else {
            return nil
        }
        var config = ClusterConfig(coordinatorAddress: "", jobs: [])
        if let node = required(fields, "coordinator", in: root, at: "") { coordinator(node, into: &config) }
        if let node = required(fields, "jobs", in: root, at: "") { config.jobs = jobs(node) }
        if let node = fields["heartbeat"] { heartbeat(node, into: &config) }
        if let node = fields["deadlines"] { deadlines(node, into: &config) }
        if let node = fields["security"] { security(node, into: &config) }
        checkDistinctAddresses(config, root: root)
        return config
    }

    private mutating func coordinator(_ node: Node, into config: inout ClusterConfig) {
        guard let fields = mapping(node, at: "coordinator", allowed: ["address", "listen", "strategy"]) else { return }
        if let value = required(fields, "address", in: node, at: "coordinator") {
            config.coordinatorAddress = address(value, at: "coordinator.address", binding: false) ?? ""
        }
        if let value = fields["listen"] {
            config.coordinatorListen = address(value, at: "coordinator.listen", binding: true)
        }
        if let value = fields["strategy"], let name = string(value, at: "coordinator.strategy") {
            do throws(WeftError) {
                _ = try PlacementStrategies.named(name)
                config.strategy = name
            } catch {
                report("coordinator.strategy", at: value, error.message)
            }
        }
    }

    private mutating func jobs(_ node: Node) -> [ClusterConfig.Job] {
        guard let fields = orderedMapping(node, at: "jobs") else { return [] }
        if fields.isEmpty { report("jobs", at: node, "no jobs; name at least one, like 'worker: [tcp://host:7071]'") }
        var jobs: [ClusterConfig.Job] = []
        for (name, keyNode, value) in fields {
            if name.isEmpty || name.contains("/") || name.contains(":") {
                report(
                    "jobs.\(name)",
                    at: keyNode,
                    "'\(name)' is not a job name; it must be non-empty without '/' or ':'"
                )
            }
            jobs.append(ClusterConfig.Job(name: name, tasks: tasks(value, job: name)))
        }
        return jobs
    }

    private mutating func tasks(_ node: Node, job: String) -> [ClusterConfig.Task] {
        guard case .sequence(let sequence) = node, !sequence.isEmpty else {
            report("jobs.\(job)", at: node, "a job is a list of its tasks' addresses, like [tcp://10.0.0.3:7071]")
            return []
        }
        return sequence.enumerated().map { index, item in task(item, at: "jobs.\(job)[\(index)]") }
    }

    private mutating func task(_ node: Node, at path: String) -> ClusterConfig.Task {
        if node.scalar != nil {
            return ClusterConfig.Task(address: address(node, at: path, binding: false) ?? "")
        }
        guard let fields = mapping(node, at: path, allowed: ["address", "listen"]) else { return .init(address: "") }
        var task = ClusterConfig.Task(address: "")
        if let value = required(fields, "address", in: node, at: path) {
            task.address = address(value, at: "\(path).address", binding: false) ?? ""
        }
        if let value = fields["listen"] { task.listen = address(value, at: "\(path).listen", binding: true) }
        return task
    }

    private mutating func heartbeat(_ node: Node, into config: inout ClusterConfig) {
        guard let fields = mapping(node, at: "heartbeat", allowed: ["interval", "timeout"]) else { return }
        config.heartbeatInterval = fields["interval"].flatMap { duration($0, at: "heartbeat.interval") }
        config.heartbeatTimeout = fields["timeout"].flatMap { duration($0, at: "heartbeat.timeout") }
        let interval = config.heartbeatInterval ?? Coordinator.Configuration(listen: "").heartbeatInterval
        if let timeout = config.heartbeatTimeout,
            let problem = ClusterConfig.heartbeatProblem(interval: interval, timeout: timeout)
        {
            report("heartbeat.timeout", at: fields["timeout"], problem)
        }
    }

    private mutating func deadlines(_ node: Node, into config: inout ClusterConfig) {
        guard let fields = mapping(node, at: "deadlines", allowed: ["request", "step"]) else { return }
        config.requestTimeout = fields["request"].flatMap { duration($0, at: "deadlines.request") }
        config.stepTimeout = fields["step"].flatMap { duration($0, at: "deadlines.step") }
    }

    /// `security`: `insecure: true`, or the keys of the coordinator, of every task (in the
    /// order of `jobs`) and of the clients, and the HTTP token's file. Files are relative to the
    /// cluster file's folder.
    private mutating func security(_ node: Node, into config: inout ClusterConfig) {
        let allowed = ["insecure", "coordinator", "tasks", "clients", "http_token_file"]
        guard let fields = mapping(node, at: "security", allowed: allowed) else { return }
        if let file = fields["http_token_file"] {
            config.httpTokenFile = string(file, at: "security.http_token_file").map(resolve)
            if fields["coordinator"] == nil {
                let problem = "an HTTP token needs keys: without them HTTP serves loopback only"
                report("security.http_token_file", at: file, problem)
            }
        }
        if let value = fields["insecure"] {
            if let flag = value.bool { config.insecure = flag } else { report("security.insecure", at: value, "expected true or false") }
        }
        let hasKeys = fields["coordinator"] != nil || fields["tasks"] != nil || fields["clients"] != nil
        guard hasKeys else { return }
        if config.insecure {
            report("security.insecure", at: fields["insecure"], "'insecure' and keys exclude each other; remove one")
        }
        var keys: [(path: String, node: Node?, key: CurveKey)] = []
        let coordinator = required(fields, "coordinator", in: node, at: "security").flatMap {
            processKeys($0, at: "security.coordinator")
        }
        if let coordinator { keys.append(("security.coordinator", fields["coordinator"], coordinator.publicKey)) }
        var tasks: [DeviceName: ClusterSecurity.ProcessKeys] = [:]
        if let tasksNode = required(fields, "tasks", in: node, at: "security"),
            let jobs = mapping(tasksNode, at: "security.tasks", allowed: config.jobs.map(\.name))
        {
            for job in config.jobs {
                let path = "security.tasks.\(job.name)"
                guard let list = jobs[job.name] else {
                    report(path, at: tasksNode, "job '\(job.name)' has no keys; list one entry per task")
                    continue
                }
                guard case .sequence(let entries) = list, entries.count == job.tasks.count else {
                    report(path, at: list, "job '\(job.name)' has \(job.tasks.count) tasks; list one entry per task")
                    continue
                }
                for (index, entry) in entries.enumerated() {
                    guard let found = processKeys(entry, at: "\(path)[\(index)]") else { continue }
                    tasks[DeviceName(job: job.name, task: index)] = found
                    keys.append(("\(path)[\(index)]", entry, found.publicKey))
                }
            }
        }
        var clients: [String: CurveKey] = [:]
        if let clientsNode = fields["clients"], let entries = orderedMapping(clientsNode, at: "security.clients") {
            for (name, _, value) in entries {
                guard let key = publicKey(value, at: "security.clients.\(name)") else { continue }
                clients[name] = key
                keys.append(("security.clients.\(name)", value, key))
            }
        }
        var seen: [CurveKey: String] = [:]
        for entry in keys {
            if let first = seen[entry.key] {
                report(entry.path, at: entry.node, "this public key is already \(first)'s; each process needs its own")
            } else {
                seen[entry.key] = entry.path
            }
        }
        if let coordinator { config.security = ClusterSecurity(coordinator: coordinator, tasks: tasks, clients: clients) }
    }

    /// `{public: FILE, secret: FILE}`: a process's public key, read now, and its secret key file.
    private mutating func processKeys(_ node: Node, at path: String) -> ClusterSecurity.ProcessKeys? {
        guard let fields = mapping(node, at: path, allowed: ["public", "secret"]) else { return nil }
        let key = required(fields, "public", in: node, at: path).flatMap { publicKey($0, at: "\(path).public") }
        guard let secretNode = required(fields, "secret", in: node, at: path),
            let secret = string(secretNode, at: "\(path).secret").map(resolve)
        else { return nil }
        if checkSecrets, let key {
            do throws(WeftError) {
                let pair = try CurveKeyFile.readSecret(secret)
                if pair.publicKey != key {
                    report("\(path).secret", at: secretNode, "\(secret) is not the secret key of \(path).public")
                }
            } catch {
                report("\(path).secret", at: secretNode, error.message)
            }
        }
        return key.map { ClusterSecurity.ProcessKeys(publicKey: $0, secretKeyFile: secret) }
    }

    private mutating func publicKey(_ node: Node, at path: String) -> CurveKey? {
        guard let file = string(node, at: path).map(resolve) else { return nil }
        do throws(WeftError) {
            return try CurveKeyFile.readPublic(file)
        } catch {
            report(path, at: node, error.message)
            return nil
        }
    }

    /// A key file's path: relative ones are relative to the cluster file's folder.
    private func resolve(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        return URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(path).path
    }

    /// Two processes cannot listen at one address, and a worker advertising the coordinator's
    /// address would receive its traffic: each address may appear once.
    private mutating func checkDistinctAddresses(_ config: ClusterConfig, root: Node) {
        var seen: [String: String] = [:]
        if !config.coordinatorAddress.isEmpty { seen[config.coordinatorAddress] = "coordinator.address" }
        for job in config.jobs {
            for (index, task) in job.tasks.enumerated() where !task.address.isEmpty {
                let path = "jobs.\(job.name)[\(index)]"
                if let first = seen[task.address] {
                    report(
                        path,
                        at: node(at: path, in: root),
                        "\(task.address) is already used by \(first); each process needs its own address"
                    )
                } else {
                    seen[task.address] = path
                }
            }
        }
    }

    private func node(at path: String, in root: Node) -> Node? {
        // Only task paths are looked up: jobs.NAME[INDEX].
        guard let open = path.lastIndex(of: "["), let index = Int(path[path.index(after: open)...].dropLast()) else {
            return nil
        }
        let job = String(path.dropFirst("jobs.".count).prefix(upTo: open))
        guard let tasks = root["jobs"]?[job], case .sequence(let sequence) = tasks, sequence.indices.contains(index)
        else {
            return nil
        }
        return sequence[index]
    }

    // MARK: Values

    private mutating func orderedMapping(_ node: Node, at path: String) -> [(String, Node, Node)]? {
        guard case .mapping(let mapping) = node else {
            report(path, at: node, "expected a mapping of keys to values, found \(kind(of: node))")
            return nil
        }
        var fields: [(String, Node, Node)] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string else {
                report(path, at: keyNode, "keys must be plain names")
                continue
            }
            if fields.contains(where: { $0.0 == key }) {
                report(join(path, key), at: keyNode, "'\(key)' appears twice; keep one")
                continue
            }
            fields.append((key, keyNode, value))
        }
        return fields
    }

    private mutating func mapping(_ node: Node, at path: String, allowed: [String]) -> [String: Node]? {
        guard let ordered = orderedMapping(node, at: path) else { return nil }
        var fields: [String: Node] = [:]
        for (key, keyNode, value) in ordered {
            guard allowed.contains(key) else {
                report(
                    join(path, key),
                    at: keyNode,
                    "unknown key '\(key)'; expected one of: \(allowed.joined(separator: ", "))"
                )
                continue
            }
            fields[key] = value
        }
        return fields
    }

    private mutating func required(_ fields: [String: Node], _ key: String, in parent: Node, at path: String) -> Node? {
        guard let value = fields[key] else {
            report(path.isEmpty ? key : path, at: parent, "'\(key)' is missing")
            return nil
        }
        return value
    }

    private mutating func string(_ node: Node, at path: String) -> String? {
        guard let scalar = node.scalar, node.null == nil, !scalar.string.isEmpty else {
            report(path, at: node, "expected a text value, found \(kind(of: node))")
            return nil
        }
        return scalar.string
    }

    private mutating func address(_ node: Node, at path: String, binding: Bool) -> String? {
        guard let text = string(node, at: path) else { return nil }
        guard let problem = ClusterConfig.addressProblem(text, binding: binding) else { return text }
        report(path, at: node, problem)
        // An address that parses is kept, so later checks (distinct addresses) still see it.
        return (try? ClusterAddress(parsing: text)) == nil ? nil : text
    }

    private mutating func duration(_ node: Node, at path: String) -> Duration? {
        guard let text = string(node, at: path) else { return nil }
        do throws(WeftError) {
            return try ConfigDuration.parse(text)
        } catch {
            report(path, at: node, error.message)
            return nil
        }
    }

    private func kind(of node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar(let scalar): node.null != nil ? "nothing" : "'\(scalar.string)'"
        }
    }

    private func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}
