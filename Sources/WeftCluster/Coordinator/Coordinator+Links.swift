import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// Links between workers: measured per pair of hosts as `LinkProbeSchedule` directs (a few
/// probes once registrations settle, the rest when placement or a client needs them).
extension Coordinator {
    /// The round trips and payload of a client's request that names none.
    static let defaultProbeSizes = (roundTrips: 20, payloadBytes: 1 << 20)

    /// Measures every pair of hosts now, each from one worker of its source host towards one
    /// of its destination host (probes sharing no host run in parallel), and answers with one
    /// measurement per pair of hosts.
    func measureLinks(_ body: Weft_MeasureLinks) async throws(WeftError) -> WireMessage {
        let sizes = try body.checkedSizes()  // refused here, before any worker is asked
        let measured = try await linkProbes.measureAll(
            roundTrips: sizes.roundTrips == 0 ? Self.defaultProbeSizes.roundTrips : sizes.roundTrips,
            payloadBytes: sizes.payloadBytes == 0 ? Self.defaultProbeSizes.payloadBytes : sizes.payloadBytes
        )
        return .reply() { envelope in
            envelope.measureLinksReply = .with { reply in
                reply.links = measured.map { pair, link in
                    .with {
                        $0.source = link.source.description
                        $0.destination = link.destination.description
                        $0.latencySeconds = link.latency / .seconds(1)
                        $0.bytesPerSecond = link.bytesPerSecond
                        $0.sourceHost = pair.source
                        $0.destinationHost = pair.destination
                    }
                }
            }
        }
    }

    /// Connects the link prober to this coordinator's membership and cost model.
    func startLinkProbes() {
        linkProbes.start(
            healthy: { [weak self] in
                self?.state.withLock { state in
                    state.cluster.membership.healthyDevices.compactMap { device in
                        state.cluster.membership[device].map { (device, $0.address) }
                    }
                } ?? []
            },
            publish: { [weak self] links, hosts in
                self?.state.withLock { $0.cluster.linksMeasured(links, hosts: hosts) }
            }
        )
    }
}
