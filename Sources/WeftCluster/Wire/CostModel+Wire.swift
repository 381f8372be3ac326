import WeftPlacement
import WeftProto
import WeftRuntime

/// A worker's measured rates in and out of their wire form.
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

/// Measured links out of their wire form.
extension LinkMeasurement {
    /// The links of a reply; a device name that names no one task is refused.
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
