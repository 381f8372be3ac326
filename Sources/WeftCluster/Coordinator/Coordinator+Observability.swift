import Synchronization
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// What the coordinator shows of itself: metrics for each step, a record of recent steps, and
/// snapshots of the cluster for the dashboard.
extension Coordinator {
    /// Runs a step and records it: metrics, and an entry in `recentSteps` with its timeline
    /// when the client asked for statistics or the step was sampled.
    func observedStep(_ request: WireMessage, caller: CurveKey?) async throws(WeftError) -> WireMessage {
        let started = ContinuousClock.now
        let startedMicros = WallClock.nowMicros
        let asked = request.envelope.runStep.collectStatistics
        let sample = !asked && recentSteps.takeSample(at: started, every: configuration.statisticsSampleInterval)
        var record = StepRecord(session: request.envelope.session, startedMicros: startedMicros)
        do throws(WeftError) {
            var reply = try await runStep(request, caller: caller, sample: sample)
            record.step = reply.envelope.step
            record.seconds = (ContinuousClock.now - started).inSeconds
            ClusterMetrics.stepFinished(duration: .now - started, error: nil)
            if asked || sample { record.statistics = StepStatistics(reply.envelope.runStepReply.statistics) }
            // The client did not ask: its reply stays as small as ever.
            if sample { reply.envelope.runStepReply.clearStatistics() }
            recentSteps.append(record)
            return reply
        } catch {
            record.seconds = (ContinuousClock.now - started).inSeconds
            record.error = "\(error)"
            ClusterMetrics.stepFinished(duration: .now - started, error: error)
            recentSteps.append(record)
            throw error
        }
    }

    /// The cluster as the coordinator sees it now: workers, sessions, links and recent steps.
    public func snapshot() -> ClusterSnapshot {
        let now = ContinuousClock.now
        var snapshot = state.withLock { state in
            ClusterSnapshot(
                workers: state.cluster.membership.workers.values.sorted { $0.device < $1.device }.map { worker in
                    ClusterSnapshot.Worker(
                        device: worker.device.description,
                        address: worker.address,
                        healthy: worker.healthy,
                        sessions: Int(worker.sessions),
                        variableBytes: worker.residentBytes,
                        tensorBytes: worker.memory.tensorBytes,
                        memoryLimitBytes: worker.memory.limitBytes,
                        lastSeenSeconds: (now - worker.lastSeen).inSeconds
                    )
                },
                sessions: state.cluster.sessions.values.sorted { $0.handle < $1.handle }.map { session in
                    ClusterSnapshot.Session(
                        handle: session.handle,
                        client: session.client,
                        strategy: session.strategy.name,
                        nodes: session.nodes.count,
                        steps: session.steps,
                        workers: Set(session.placement.values).map(\.description).sorted()
                    )
                },
                links: state.cluster.links.map { link in
                    ClusterSnapshot.Link(
                        source: link.source.description,
                        destination: link.destination.description,
                        latencySeconds: link.latency.inSeconds,
                        bytesPerSecond: link.bytesPerSecond
                    )
                }
            )
        }
        snapshot.recentSteps = recentSteps.all
        return snapshot
    }

    /// A session's graph with the worker of every node; `nil` for an unknown session.
    public func placement(ofSession handle: String) -> SessionPlacement? {
        state.withLock { state in
            guard let session = state.cluster.sessions[handle] else { return nil }
            return SessionPlacement(
                session: handle,
                nodes: session.nodes.map { node in
                    SessionPlacement.Node(
                        name: node.name,
                        op: node.op,
                        device: session.placement[node.name]?.description ?? "",
                        inputs: node.input
                    )
                }
            )
        }
    }
}

/// One step the coordinator ran.
public struct StepRecord: Sendable {
    /// Numbers the coordinator's steps in the order they ended, from 1.
    public var id: UInt64 = 0
    /// The session's handle.
    public var session: String
    /// The step's number in its session (0 when it failed before it had one).
    public var step: UInt64 = 0
    /// When it started, on the coordinator's wall clock, in microseconds since 1970.
    public var startedMicros: Int64
    /// How long it took, in seconds.
    public var seconds: Double = 0
    /// Why it failed; `nil` when it succeeded.
    public var error: String?
    /// Its node-by-node statistics, when it was sampled or its client asked for them.
    public var statistics: StepStatistics?
    /// Whether the client sent it straight to its workers (a direct route), which reported it;
    /// its `step` is then the client's count, and `startedMicros` on the counting worker's clock.
    public var direct = false
}

extension StepRecord {
    /// The most characters of a reported step's error the coordinator keeps.
    static let longestError = 1_000

    /// The record of a direct step a worker reported.
    init(direct step: Weft_DirectStep) {
        self.init(session: step.session, startedMicros: step.startedUnixMicros)
        self.step = step.step & ~DirectStepID.bit
        // A worker's figure, which the dashboard prints: a finite, non-negative one.
        seconds = step.seconds.isFinite ? max(0, step.seconds) : 0
        error = step.error.isEmpty ? nil : String(step.error.prefix(Self.longestError))
        direct = true
    }
}

/// The last steps the coordinator ran or workers reported, and when it last sampled one.
final class RecentSteps: Sendable {
    /// How many steps are kept, besides the newest with a timeline.
    static let capacity = 50

    private struct State {
        var steps: [StepRecord] = []
        /// The newest step with statistics, kept when newer steps push it out of `steps`: direct
        /// steps arrive by the dozen with each heartbeat, faster than the coordinator samples.
        var lastTimed: StepRecord?
        var lastSample: ContinuousClock.Instant?
        var nextID: UInt64 = 1
    }

    private let state = Mutex(State())

    /// Whether a step starting at `now` should be sampled: once per `interval`, never without one.
    func takeSample(at now: ContinuousClock.Instant, every interval: Duration?) -> Bool {
        guard let interval else { return false }
        return state.withLock { state in
            if let last = state.lastSample, now - last < interval { return false }
            state.lastSample = now
            return true
        }
    }

    func append(_ record: StepRecord) {
        var record = record
        state.withLock { state in
            record.id = state.nextID
            state.nextID += 1
            state.steps.append(record)
            if record.statistics != nil { state.lastTimed = record }
            if state.steps.count > Self.capacity { state.steps.removeFirst(state.steps.count - Self.capacity) }
        }
    }

    /// The kept steps, oldest first.
    var all: [StepRecord] {
        state.withLock { state in
            guard let timed = state.lastTimed, let first = state.steps.first, timed.id < first.id else {
                return state.steps
            }
            return [timed] + state.steps
        }
    }
}

/// The cluster at one moment, as the dashboard shows it.
public struct ClusterSnapshot: Sendable {
    /// One registered worker.
    public struct Worker: Sendable, Encodable {
        /// `/job:worker/task:0`.
        public var device: String
        /// Where its socket listens.
        public var address: String
        /// Whether its heartbeats arrive in time.
        public var healthy: Bool
        /// Sessions it hosts.
        public var sessions: Int
        /// Bytes of the variables and constants its sessions hold.
        public var variableBytes: UInt64
        /// Bytes all its tensor buffers hold.
        public var tensorBytes: UInt64
        /// The most bytes its tensor buffers may hold (`weft worker --memory-limit`).
        public var memoryLimitBytes: UInt64
        /// Seconds since its last heartbeat.
        public var lastSeenSeconds: Double
    }

    /// One open session.
    public struct Session: Sendable, Encodable {
        /// The coordinator's handle.
        public var handle: String
        /// The client that opened it.
        public var client: String
        /// The placement strategy.
        public var strategy: String
        /// Nodes in its graph.
        public var nodes: Int
        /// Steps it ran.
        public var steps: UInt64
        /// The workers its nodes are placed on.
        public var workers: [String]
    }

    /// A measured link between two workers.
    public struct Link: Sendable, Encodable {
        /// The worker that measured.
        public var source: String
        /// The worker it measured towards.
        public var destination: String
        /// Half the median round trip of an empty request.
        public var latencySeconds: Double
        /// Throughput of a large message.
        public var bytesPerSecond: Double
    }

    /// Every registered worker, by device.
    public var workers: [Worker]
    /// Every open session, by handle.
    public var sessions: [Session]
    /// The links as last measured.
    public var links: [Link]
    /// The last steps, oldest first.
    public var recentSteps: [StepRecord] = []
}

/// A session's graph and where each node runs.
public struct SessionPlacement: Sendable, Encodable {
    /// One node.
    public struct Node: Sendable, Encodable {
        /// Its name, with name scopes (`layer1/MatMul`).
        public var name: String
        /// Its op.
        public var op: String
        /// The worker it is placed on.
        public var device: String
        /// Its inputs as the GraphDef names them (`x:0`, `^init`).
        public var inputs: [String]

        /// Makes a record.
        public init(name: String, op: String, device: String, inputs: [String]) {
            self.name = name
            self.op = op
            self.device = device
            self.inputs = inputs
        }
    }

    /// The session's handle.
    public var session: String
    /// Every node of the session's graph.
    public var nodes: [Node]

    /// Makes a record.
    public init(session: String, nodes: [Node]) {
        self.session = session
        self.nodes = nodes
    }
}

extension Duration {
    /// The duration in seconds, with fractions.
    var inSeconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}
