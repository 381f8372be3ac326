/// One direction of the link between two workers, as measured from its source: what the cost
/// model prices a transfer with (`CostModel.useLinks`).
public struct LinkMeasurement: Sendable, Hashable {
    /// The worker that measured.
    public var source: DeviceName
    /// The worker it measured towards.
    public var destination: DeviceName
    /// Half the median round trip of an empty request.
    public var latency: Duration
    /// Throughput of one large message, beyond the latency.
    public var bytesPerSecond: Double

    /// A link measured from `source` towards `destination`.
    public init(source: DeviceName, destination: DeviceName, latency: Duration, bytesPerSecond: Double) {
        self.source = source
        self.destination = destination
        self.latency = latency
        self.bytesPerSecond = bytesPerSecond
    }
}
