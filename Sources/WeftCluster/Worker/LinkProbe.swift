import WeftProto
import WeftRuntime
import WeftTransport

/// Measures the link from this worker to a peer with real requests over the worker's own
/// messaging node: latency from empty round trips, bandwidth from one request carrying a
/// payload. Placement's cost model takes transfer costs from these figures.
struct LinkProbe {
    let node: any MessageTransport
    let timeout: Duration

    /// Measures towards `peer`; blocks the calling thread (never the I/O thread).
    func measure(
        from source: String,
        to peer: Weft_PeerAddress,
        roundTrips: Int,
        payloadBytes: Int
    ) throws(WeftError)
        -> Weft_LinkMeasurement
    {
        let ping = WireMessage.make(.ping)
        _ = try request(ping, to: peer)  // opens the connection outside the timing
        var samples: [Duration] = []
        samples.reserveCapacity(roundTrips)
        for _ in 0..<max(roundTrips, 1) {
            samples.append(try timed { () throws(WeftError) in _ = try request(ping, to: peer) })
        }
        let roundTrip = samples.sorted()[samples.count / 2]
        let payload = Tensor(uninitialized: .uint8, shape: [payloadBytes])
        payload.buffer.base.initializeMemory(as: UInt8.self, repeating: 0, count: payloadBytes)
        let loaded = try timed { () throws(WeftError) in _ = try request(.make(.ping, tensors: [payload]), to: peer) }
        let transfer = max((loaded - roundTrip) / .seconds(1), 1e-6)
        return .with {
            $0.source = source
            $0.destination = peer.device
            $0.latencySeconds = roundTrip / .seconds(1) / 2
            $0.bytesPerSecond = Double(payloadBytes) / transfer
        }
    }

    private func request(_ message: WireMessage, to peer: Weft_PeerAddress) throws(WeftError) -> WireMessage {
        do {
            return try node.requestAndWait(message, to: peer.address, timeout: timeout)
        } catch {
            throw WeftError(error.code, "measuring the link to \(peer.device) at \(peer.address): \(error.message)")
        }
    }

    private func timed(_ body: () throws(WeftError) -> Void) throws(WeftError) -> Duration {
        let start = ContinuousClock.now
        try body()
        return ContinuousClock.now - start
    }
}
