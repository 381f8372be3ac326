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
            secondsPerOp: message.secondsPerOp,
            cores: Int(min(message.cores, Self.mostCores))
        )
    }

    /// The wire form.
    var message: Weft_DeviceRates {
        .with {
            $0.flopsPerSecond = flopsPerSecond
            $0.bytesPerSecond = bytesPerSecond
            $0.secondsPerOp = secondsPerOp
            $0.cores = UInt32(clamping: cores)
        }
    }

    /// The most cores a worker's report is taken at; placement models at most a few lanes anyway.
    static let mostCores: UInt32 = 4096
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
                    latency: try Duration(measuredSeconds: link.latencySeconds, of: "the latency of a link"),
                    bytesPerSecond: link.bytesPerSecond
                )
            )
        }
        return links
    }
}

extension Duration {
    /// The longest measured duration a message may carry: about 31 years, so its nanoseconds fit `Int64`.
    private static let longestMeasurement = 1e9

    /// A duration measured by another process and sent as seconds, or `invalidArgument` naming
    /// `what` when it is not a finite number from zero up to about 31 years.
    init(measuredSeconds seconds: Double, of what: String) throws(WeftError) {
        guard seconds >= 0, seconds <= Self.longestMeasurement else {
            throw WeftError(.invalidArgument, "\(what) is \(seconds) seconds; a measured duration is 0 to 1e9 seconds")
        }
        self = .nanoseconds(Int64(seconds * 1e9))
    }
}
