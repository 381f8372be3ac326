import Synchronization

/// What one step did, node by node: TensorFlow's `RunMetadata.step_stats`, gathered only when
/// a caller asks for it, so ordinary steps pay nothing.
public struct StepStatistics: Sendable, Hashable {
    /// One node's run.
    public struct NodeRun: Sendable, Hashable {
        /// The node's name.
        public var node: String
        /// Its op (`MatMul`).
        public var op: String
        /// Where it ran (`/job:worker/task:0`); empty in a local session.
        public var device: String
        /// When it started, from the start of the step on its device.
        public var start: Duration
        /// How long its kernel took, until its outputs were ready.
        public var duration: Duration
        /// Bytes of the tensors it produced (variable references count as zero).
        public var outputBytes: Int

        /// Makes a record.
        public init(node: String, op: String, device: String, start: Duration, duration: Duration, outputBytes: Int) {
            self.node = node
            self.op = op
            self.device = device
            self.start = start
            self.duration = duration
            self.outputBytes = outputBytes
        }
    }

    /// Every node that ran, in the order they finished on each device.
    public var nodes: [NodeRun] = []
    /// Tensors pushed from one worker to another (`_Send`); zero in a local session.
    public var tensorsSent = 0
    /// Bytes of those tensors.
    public var bytesSent = 0

    /// Empty statistics.
    public init() {}
}

/// Gathers a step's statistics from the kernel threads of one process.
public final class StepStatisticsCollector: Sendable {
    private let origin = ContinuousClock.now
    private let device: String
    private let collected = Mutex(StepStatistics())

    /// Starts collecting for a step on `device`; the step's clock starts now.
    public init(device: String = "") {
        self.device = device
    }

    /// What was collected so far.
    public var statistics: StepStatistics { collected.withLock { $0 } }

    /// Records one node's run. A `_Send` counts its input as a tensor pushed to a peer: the
    /// partitioner puts sends only on edges that cross workers.
    func record(
        node: String,
        op: String,
        started: ContinuousClock.Instant,
        inputs: [Value],
        outputs: [Value]
    ) {
        let finished = ContinuousClock.now
        let sent = op == "_Send" ? inputs.reduce(0) { $0 + $1.byteCount } : 0
        let run = StepStatistics.NodeRun(
            node: node,
            op: op,
            device: device,
            start: started - origin,
            duration: finished - started,
            outputBytes: outputs.reduce(0) { $0 + $1.byteCount }
        )
        collected.withLock { statistics in
            statistics.nodes.append(run)
            if op == "_Send" {
                statistics.tensorsSent += 1
                statistics.bytesSent += sent
            }
        }
    }
}

extension Value {
    /// The bytes of a tensor value; a variable reference owns none of its own.
    var byteCount: Int {
        if case .tensor(let tensor) = self { return tensor.byteCount }
        return 0
    }
}
