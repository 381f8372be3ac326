import WeftPlacement
import WeftRuntime

/// A cluster file: where the coordinator is, which jobs and tasks exist and where each one
/// listens, and the timing every process of the cluster should agree on.
///
/// It is TensorFlow's `ClusterSpec` (`{"ps": ["host:port"], "worker": [...]}`) plus the
/// coordinator and the deadlines, in YAML or JSON (`ClusterConfig(parsing:file:)`). Every
/// process reads the same file; `weft coordinator --config` and
/// `weft worker --config --job --task` take their part of it, and command-line flags override it.
public struct ClusterConfig: Sendable, Equatable {
    /// One task of a job.
    public struct Task: Sendable, Equatable {
        /// The address other processes reach the task at, like `tcp://10.0.0.3:7071`.
        public var address: String
        /// The address the task binds; `ClusterAddress.wildcardListen(for: address)` when `nil`.
        public var listen: String?

        /// Makes a task.
        public init(address: String, listen: String? = nil) {
            self.address = address
            self.listen = listen
        }
    }

    /// One job: a name and its tasks in task-index order.
    public struct Job: Sendable, Equatable {
        /// The job's name, as in `/job:NAME/task:N`.
        public var name: String
        /// Its tasks; the index in this list is the task index.
        public var tasks: [Task]

        /// Makes a job.
        public init(name: String, tasks: [Task]) {
            self.name = name
            self.tasks = tasks
        }
    }

    /// Where clients and workers reach the coordinator, like `tcp://10.0.0.1:7070`.
    public var coordinatorAddress: String
    /// The address the coordinator binds; `ClusterAddress.wildcardListen(for: coordinatorAddress)` when `nil`.
    public var coordinatorListen: String?
    /// The placement strategy for sessions that name none; the coordinator's default when `nil`.
    public var strategy: String?
    /// The jobs in file order.
    public var jobs: [Job]
    /// How often workers send heartbeats.
    public var heartbeatInterval: Duration?
    /// Silence after which the coordinator declares a worker dead.
    public var heartbeatTimeout: Duration?
    /// How long one request between processes may take, apart from running steps.
    public var requestTimeout: Duration?
    /// How long a step may run when the client sets no deadline.
    public var stepTimeout: Duration?
    /// `security: {insecure: true}`: processes without keys may listen on non-loopback addresses.
    public var insecure = false
    /// The `security` section's keys: with them every socket speaks CURVE.
    public var security: ClusterSecurity?
    /// `security.http_token_file`: the file (mode 0600) holding the token the HTTP endpoints ask for.
    public var httpTokenFile: String?

    /// Makes a configuration from its parts; `ClusterConfig(parsing:file:)` reads one from a file.
    public init(
        coordinatorAddress: String,
        coordinatorListen: String? = nil,
        strategy: String? = nil,
        jobs: [Job],
        heartbeatInterval: Duration? = nil,
        heartbeatTimeout: Duration? = nil,
        requestTimeout: Duration? = nil,
        stepTimeout: Duration? = nil
    ) {
        self.coordinatorAddress = coordinatorAddress
        self.coordinatorListen = coordinatorListen
        self.strategy = strategy
        self.jobs = jobs
        self.heartbeatInterval = heartbeatInterval
        self.heartbeatTimeout = heartbeatTimeout
        self.requestTimeout = requestTimeout
        self.stepTimeout = stepTimeout
    }

    /// The job counts, like `ps=1,worker=2`.
    public var jobCounts: String { jobs.map { "\($0.name)=\($0.tasks.count)" }.joined(separator: ",") }

    /// The task `task` of job `job`, or `notFound` naming the tasks the file has.
    public func task(job: String, index: Int) throws(WeftError) -> Task {
        guard let found = jobs.first(where: { $0.name == job }) else {
            let names = jobs.map(\.name).joined(separator: ", ")
            throw WeftError(.notFound, "the cluster file has no job '\(job)'; its jobs are: \(names)")
        }
        guard found.tasks.indices.contains(index) else {
            throw WeftError(
                .notFound,
                "job '\(job)' has tasks 0 to \(found.tasks.count - 1) in the cluster file; there is no task \(index)"
            )
        }
        return found.tasks[index]
    }

    /// The coordinator's settings from this file, before command-line flags override them; with
    /// keys, the coordinator's secret key is read (and must be mode 0600).
    public func coordinatorConfiguration() throws(WeftError) -> Coordinator.Configuration {
        var configuration = Coordinator.Configuration(
            listen: coordinatorListen ?? ClusterAddress.wildcardListen(for: coordinatorAddress)
        )
        if let strategy { configuration.defaultStrategy = strategy }
        if let heartbeatInterval { configuration.heartbeatInterval = heartbeatInterval }
        if let heartbeatTimeout { configuration.heartbeatTimeout = heartbeatTimeout }
        if let requestTimeout { configuration.requestTimeout = requestTimeout }
        if let stepTimeout { configuration.stepTimeout = stepTimeout }
        configuration.insecure = insecure
        if let security {
            configuration.security = try ProcessSecurity(cluster: security, own: security.coordinator)
        }
        return configuration
    }

    /// The settings of worker `job`/`task` from this file: it binds its `listen` address,
    /// advertises its `address`, and registers with the coordinator under that task; with keys,
    /// the task's secret key is read (and must be mode 0600).
    public func workerConfiguration(job: String, task index: Int) throws(WeftError) -> Worker.Configuration {
        let task = try task(job: job, index: index)
        var configuration = Worker.Configuration(
            listen: task.listen ?? ClusterAddress.wildcardListen(for: task.address),
            advertise: task.address,
            coordinator: coordinatorAddress,
            job: job,
            task: index
        )
        if let requestTimeout { configuration.requestTimeout = requestTimeout }
        configuration.insecure = insecure
        if let security {
            guard let own = security.tasks[DeviceName(job: job, task: index)] else {
                throw WeftError(.notFound, "the cluster file's security section has no keys for /job:\(job)/task:\(index)")
            }
            configuration.security = try ProcessSecurity(cluster: security, own: own)
        }
        return configuration
    }
}
