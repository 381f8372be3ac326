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
                    $0.startMicros = node.start.microsecondsTruncated
                    $0.durationMicros = node.duration.microsecondsTruncated
                    $0.outputBytes = Int64(node.outputBytes)
                }
            }
            message.tensorsSent = Int64(tensorsSent)
            message.bytesSent = Int64(bytesSent)
        }
    }
}
