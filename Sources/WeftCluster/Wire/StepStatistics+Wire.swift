import WeftProto
import WeftRuntime
import WeftTransport

/// A step's statistics in and out of their wire form.
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
                outputBytes: Int(node.outputBytes),
                thread: UInt64(bitPattern: node.thread),
                inputShapes: node.inputShapes,
                outputShapes: node.outputShapes,
                rendezvousKey: node.rendezvousKey
            )
        }
        tensorsSent = Int(message.tensorsSent)
        bytesSent = Int(message.bytesSent)
        clocks = message.clocks.map { clock in
            DeviceClock(
                device: clock.device,
                originMicros: clock.originUnixMicros,
                offsetMicros: clock.offsetMicros,
                offsetErrorMicros: clock.offsetErrorMicros
            )
        }
        partitionGraphs = message.partitionGraphs
    }

    /// The wire form.
    var message: Weft_StepStats {
        .with { message in
            message.nodes = nodes.map { node in
                .with {
                    $0.node = node.node
                    $0.op = node.op
                    $0.device = node.device
                    $0.startMicros = node.start.microsecondsTruncated
                    $0.durationMicros = node.duration.microsecondsTruncated
                    $0.outputBytes = Int64(node.outputBytes)
                    $0.thread = Int64(bitPattern: node.thread)
                    $0.inputShapes = node.inputShapes
                    $0.outputShapes = node.outputShapes
                    $0.rendezvousKey = node.rendezvousKey
                }
            }
            message.tensorsSent = Int64(tensorsSent)
            message.bytesSent = Int64(bytesSent)
            message.clocks = clocks.map { clock in
                .with {
                    $0.device = clock.device
                    $0.originUnixMicros = clock.originMicros
                    $0.offsetMicros = clock.offsetMicros
                    $0.offsetErrorMicros = clock.offsetErrorMicros
                }
            }
            message.partitionGraphs = partitionGraphs
        }
    }
}

extension Weft_StepStats {
    /// Adds one partition's statistics to the step's; counts from workers' replies saturate
    /// rather than trap on absurd ones.
    mutating func merge(_ part: Weft_StepStats) {
        nodes += part.nodes
        partitionGraphs += part.partitionGraphs
        clocks += part.clocks
        tensorsSent = tensorsSent.addingSaturating(part.tensorsSent)
        bytesSent = bytesSent.addingSaturating(part.bytesSent)
    }
}
