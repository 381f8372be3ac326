import Synchronization
import WeftProto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        /// The thread that ran the kernel, as the operating system numbers it (0 when unknown).
        public var thread: UInt64
        /// Dtype and shape of each input, like `float32[2,3]`.
        public var inputShapes: [String]
        /// Dtype and shape of each output.
        public var outputShapes: [String]
        /// For `_Send` and `_Recv`, the rendezvous key (`src;dst;tensor`), the same on both ends
        /// of one edge; empty for other ops.
        public var rendezvousKey: String

        /// Makes a record.
        public init(
            node: String,
            op: String,
            device: String,
            start: Duration,
            duration: Duration,
            outputBytes: Int,
            thread: UInt64 = 0,
            inputShapes: [String] = [],
            outputShapes: [String] = [],
            rendezvousKey: String = ""
        ) {
            self.node = node
            self.op = op
            self.device = device
            self.start = start
            self.duration = duration
            self.outputBytes = outputBytes
            self.thread = thread
            self.inputShapes = inputShapes
            self.outputShapes = outputShapes
            self.rendezvousKey = rendezvousKey
        }
    }

    /// Where one device's step clock stands against the client's, so a timeline can put every
    /// device's nodes on one time axis.
    public struct DeviceClock: Sendable, Hashable {
        /// The device (`/job:worker/task:0`; empty in a local session).
        public var device: String
        /// The device's wall clock, in microseconds since 1970, when its step started: its
        /// nodes' `start` counts from here.
        public var originMicros: Int64
        /// The device's wall clock minus the client's, in microseconds, as measured over the
        /// step's own requests.
        public var offsetMicros: Int64
        /// The most `offsetMicros` can be off by: half the round trip the device did not spend.
        public var offsetErrorMicros: Int64

        /// Makes a record.
        public init(device: String, originMicros: Int64, offsetMicros: Int64 = 0, offsetErrorMicros: Int64 = 0) {
            self.device = device
            self.originMicros = originMicros
            self.offsetMicros = offsetMicros
            self.offsetErrorMicros = offsetErrorMicros
        }

        /// When the device's step started on the client's clock, in microseconds since 1970.
        public var alignedOriginMicros: Int64 { originMicros &- offsetMicros }
    }

    /// Every node that ran, in the order they finished on each device.
    public var nodes: [NodeRun] = []
    /// Tensors pushed from one worker to another (`_Send`); zero in a local session.
    public var tensorsSent = 0
    /// Bytes of those tensors.
    public var bytesSent = 0
    /// Each device's step clock: one entry per device that ran a part of the step.
    public var clocks: [DeviceClock] = []
    /// The graph each device ran, after pruning and the session's optimizations (folded
    /// constants, removed duplicates and identities): TensorFlow's `RunMetadata.partition_graphs`.
    public var partitionGraphs: [Tensorflow_GraphDef] = []

    /// Empty statistics.
    public init() {}
}

/// Gathers a step's statistics from the kernel threads of one process.
public final class StepStatisticsCollector: Sendable {
    private let origin = ContinuousClock.now
    private let device: String
    private let collected: Mutex<StepStatistics>

    /// Starts collecting for a step on `device`; the step's clock starts now.
    public init(device: String = "") {
        self.device = device
        var statistics = StepStatistics()
        statistics.clocks = [StepStatistics.DeviceClock(device: device, originMicros: WallClock.nowMicros)]
        collected = Mutex(statistics)
    }

    /// What was collected so far.
    public var statistics: StepStatistics { collected.withLock { $0 } }

    /// Records the graph the step ran on this device, after pruning and optimizations.
    public func record(partitionGraph: Tensorflow_GraphDef) {
        collected.withLock { $0.partitionGraphs.append(partitionGraph) }
    }

    /// Records one node's run. A `_Send` counts its input as a tensor pushed to a peer: the
    /// partitioner puts sends only on edges that cross workers.
    func record(
        node: String,
        op: String,
        started: ContinuousClock.Instant,
        inputs: [Value],
        outputs: [Value],
        rendezvousKey: String
    ) {
        let finished = ContinuousClock.now
        let sent = op == "_Send" ? inputs.reduce(0) { $0 + $1.byteCount } : 0
        let run = StepStatistics.NodeRun(
            node: node,
            op: op,
            device: device,
            start: started - origin,
            duration: finished - started,
            outputBytes: outputs.reduce(0) { $0 + $1.byteCount },
            thread: UInt64(pthread_self()),
            inputShapes: inputs.map(\.shapeDescription),
            outputShapes: outputs.map(\.shapeDescription),
            rendezvousKey: rendezvousKey
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

    /// Dtype and shape as a timeline shows them: `float32[2,3]`, `&float32[2]` for a variable reference.
    var shapeDescription: String {
        switch self {
        case .tensor(let tensor):
            return "\(tensor.dtype.name)[\(tensor.shape.dimensions.map(String.init).joined(separator: ","))]"
        case .ref(let variable):
            return "&\(variable.dtype.name)\(variable.shape)"
        }
    }
}

/// The system's wall clock, which timelines align devices by (a monotonic clock does not
/// compare across hosts).
public enum WallClock {
    /// Microseconds since 1970.
    public static var nowMicros: Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
    }
}
