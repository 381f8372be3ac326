import Dispatch
import Synchronization
import WeftProto
import WeftRuntime
import WeftTransport

/// Small helpers for building and reading wire messages.
extension WireMessage {
    /// A message of `kind` with `body` set by `configure`.
    static func make(
        _ kind: Weft_Kind,
        session: String = "",
        step: UInt64 = 0,
        tensors: [Tensor] = [],
        _ configure: (inout Weft_Envelope) -> Void = { _ in }
    ) -> WireMessage {
        var envelope = Weft_Envelope()
        envelope.kind = kind
        envelope.session = session
        envelope.step = step
        configure(&envelope)
        return WireMessage(envelope: envelope, tensors: tensors)
    }

    /// An empty successful reply.
    static let ok = WireMessage.make(.reply)

    /// A reply carrying `error`.
    static func failure(_ error: WeftError) -> WireMessage {
        make(.reply) {
            $0.status = .with {
                $0.code = error.code.rawValue
                $0.message = error.message
            }
        }
    }
}

extension DeviceName {
    /// Parses a full device name, `/job:worker/task:0`.
    init(parsing text: String) throws(WeftError) {
        let request = try DeviceRequest(parsing: text)
        guard let job = request.job, let task = request.task else {
            throw WeftError(.invalidArgument, "'\(text)' does not name one task; write /job:NAME/task:N")
        }
        self.init(job: job, task: task)
    }
}

/// Milliseconds in a duration, for the wire.
func milliseconds(_ duration: Duration) -> UInt64 {
    UInt64(max(0, duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000))
}

extension StepStatistics {
    /// Statistics as they crossed the wire.
    init(_ message: Weft_StepStats) {
        self.init()
        nodes = message.nodes.map { node in
            NodeRun(
                node: node.node,
                op: node.op,
                device: node.device,
                start: .microseconds(node.startMicros),
                duration: .microseconds(node.durationMicros),
                outputBytes: Int(node.outputBytes)
            )
        }
        tensorsSent = Int(message.tensorsSent)
        bytesSent = Int(message.bytesSent)
    }

    /// The wire form.
    var message: Weft_StepStats {
        .with { message in
            message.nodes = nodes.map { node in
                .with {
                    $0.node = node.node
                    $0.op = node.op
                    $0.device = node.device
                    $0.startMicros = microseconds(node.start)
                    $0.durationMicros = microseconds(node.duration)
                    $0.outputBytes = Int64(node.outputBytes)
                }
            }
            message.tensorsSent = Int64(tensorsSent)
            message.bytesSent = Int64(bytesSent)
        }
    }
}

extension CostModel.Rates {
    /// Rates as they crossed the wire.
    init(_ message: Weft_DeviceRates) {
        self.init(
            flopsPerSecond: message.flopsPerSecond,
            bytesPerSecond: message.bytesPerSecond,
            secondsPerOp: message.secondsPerOp
        )
    }

    /// The wire form.
    var message: Weft_DeviceRates {
        .with {
            $0.flopsPerSecond = flopsPerSecond
            $0.bytesPerSecond = bytesPerSecond
            $0.secondsPerOp = secondsPerOp
        }
    }
}

extension LinkMeasurement {
    /// The links of a reply.
    static func list(_ reply: Weft_MeasureLinksReply) throws(WeftError) -> [LinkMeasurement] {
        var links: [LinkMeasurement] = []
        for link in reply.links {
            links.append(
                LinkMeasurement(
                    source: try DeviceName(parsing: link.source),
                    destination: try DeviceName(parsing: link.destination),
                    latency: .nanoseconds(Int64(link.latencySeconds * 1e9)),
                    bytesPerSecond: link.bytesPerSecond
                )
            )
        }
        return links
    }
}

/// Seconds in a duration.
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Whole microseconds in a duration.
func microseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
}

/// A duration as Dispatch takes it.
func dispatchInterval(_ duration: Duration) -> DispatchTimeInterval {
    .nanoseconds(
        Int(duration.components.seconds) * 1_000_000_000 + Int(duration.components.attoseconds / 1_000_000_000)
    )
}

/// A value that arrives once, from any thread, and can be awaited: the first `complete` wins.
final class Promise<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiters: [CheckedContinuation<Value, Never>] = []
    }

    private let state = Mutex(State())

    /// Sets the value unless one was set; returns whether this call set it.
    @discardableResult
    func complete(_ value: Value) -> Bool {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, Never>]? in
            guard state.value == nil else { return nil }
            state.value = value
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume(returning: value) }
        return true
    }

    /// Waits for the value.
    var value: Value {
        get async {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Value? in
                    if let value = state.value { return value }
                    state.waiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}

/// Runs a process's request handlers on their own threads instead of Swift's cooperative pool.
///
/// Callers often block in `Session.run` from async code; with a coordinator in the same
/// process (`LocalCluster`), handlers on the cooperative pool would wait behind those blocked
/// threads forever. A private concurrent queue gets a new thread whenever its threads block.
final class HandlerExecutor: TaskExecutor {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label, attributes: .concurrent)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
