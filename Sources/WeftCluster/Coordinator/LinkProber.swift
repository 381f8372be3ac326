import Logging
import Synchronization
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// The coordinator's shell around `LinkProbeSchedule`: feeds it registrations, placements and
/// clients' requests, runs the probes it directs (a MEASURE_LINKS request to the probing
/// worker naming one peer) and publishes what they measure to the cluster's cost model.
///
/// Time reaches the schedule through one timer on the coordinator's executor, sleeping until
/// the next deadline (registrations settling, the next sampled refresh); nothing polls.
final class LinkProber: Sendable {
    /// Where measurements go: every measured pair, and what placement prices links by.
    typealias Publish = @Sendable ([LinkMeasurement], CostModel.HostLinks) -> Void
    /// The workers healthy now, with their addresses.
    typealias Healthy = @Sendable () -> [(DeviceName, String)]

    private struct State {
        var schedule: LinkProbeSchedule
        var nextRequest: UInt64 = 1
        var requests: [UInt64: CheckedContinuation<[LinkProbeSchedule.HostPair: WeftError], Never>] = [:]
        /// The deadline a sleeping task will tick at.
        var wakeUp: ContinuousClock.Instant?
        var stopped = false
        var healthy: Healthy = { [] }
        var publish: Publish = { _, _ in }
    }

    private let state: Mutex<State>
    private let node: any MessageTransport
    private let executor: RoleExecutor
    private let requestTimeout: Duration
    private let logger: Logger

    init(
        _ configuration: LinkProbeSchedule.Configuration = .init(),
        node: any MessageTransport,
        executor: RoleExecutor,
        requestTimeout: Duration,
        logger: Logger
    ) {
        self.state = Mutex(State(schedule: LinkProbeSchedule(configuration)))
        self.node = node
        self.executor = executor
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    /// Connects the prober to its coordinator: who is healthy, and where measurements go.
    func start(healthy: @escaping Healthy, publish: @escaping Publish) {
        state.withLock { state in
            state.healthy = healthy
            state.publish = publish
        }
    }

    /// A worker registered: the first probes go out once registrations pause.
    func joined(_ device: DeviceName, address: String) {
        state.withLock { $0.schedule.joined(device, address: address, now: .now) }
        armTimer()
    }

    /// A placement moves tensors between these workers: their hosts' links are measured now if
    /// they were only estimated.
    func needed(_ devices: Set<DeviceName>) {
        perform(state.withLock { $0.schedule.needed(devices, now: .now) })
    }

    /// Measures every pair of hosts now with these sizes; returns every pair's measurement
    /// (one per pair of hosts), or the first failure.
    func measureAll(
        roundTrips: Int,
        payloadBytes: Int
    ) async throws(WeftError) -> [(pair: LinkProbeSchedule.HostPair, link: LinkMeasurement)] {
        forgetDeparted()
        let failures = await withCheckedContinuation { continuation in
            let directives = state.withLock { state in
                let request = state.nextRequest
                state.nextRequest += 1
                state.requests[request] = continuation
                return state.schedule.measureAll(
                    request: request,
                    roundTrips: roundTrips,
                    payloadBytes: payloadBytes,
                    now: .now
                )
            }
            perform(directives)
        }
        if let failure = failures.min(by: { $0.key < $1.key }) {
            throw WeftError(failure.value.code, "measuring the link \(failure.key): \(failure.value.message)")
        }
        return state.withLock { $0.schedule.measurements }
    }

    /// How many probes ran since the coordinator started.
    var probesStarted: Int { state.withLock { $0.schedule.probesStarted } }

    /// Stops probing; requests waiting are answered with what was measured.
    func stop() {
        let waiting = state.withLock { state in
            state.stopped = true
            defer { state.requests.removeAll() }
            return Array(state.requests.values)
        }
        for continuation in waiting { continuation.resume(returning: [:]) }
    }

    // MARK: Shell

    private func tick() {
        forgetDeparted()
        perform(state.withLock { state in
            state.wakeUp = nil
            return state.stopped ? [] : state.schedule.tick(now: .now)
        })
        armTimer()
    }

    /// Workers no longer healthy probe nothing.
    private func forgetDeparted() {
        let alive = Set(state.withLock { $0.healthy }().map(\.0))
        perform(state.withLock { state in
            let gone = state.schedule.hosts.values.joined().map(\.device).filter { !alive.contains($0) }
            return gone.flatMap { state.schedule.left($0, now: .now) }
        })
    }

    /// Starts a sleeping task for the schedule's next deadline unless one waits for it already.
    private func armTimer() {
        let deadline = state.withLock { state -> ContinuousClock.Instant? in
            guard !state.stopped, let next = state.schedule.nextDeadline else { return nil }
            if let armed = state.wakeUp, armed <= next { return nil }
            state.wakeUp = next
            return next
        }
        guard let deadline else { return }
        executor.after(ContinuousClock.now.duration(to: deadline)) { [weak self] in self?.tick() }
    }

    private func perform(_ directives: [LinkProbeSchedule.Directive]) {
        for directive in directives {
            switch directive {
            case .probe(let probe): run(probe)
            case .answer(let request, let failures):
                state.withLock { $0.requests.removeValue(forKey: request) }?.resume(returning: failures)
            }
        }
    }

    private func run(_ probe: LinkProbeSchedule.Probe) {
        let request = WireMessage.make(.measureLinks) { envelope in
            envelope.measureLinks = .with {
                $0.peers = [
                    .with {
                        $0.device = probe.destination.device.description
                        $0.address = probe.destination.address
                    }
                ]
                $0.roundTrips = UInt32(clamping: probe.roundTrips)
                $0.payloadBytes = UInt64(clamping: probe.payloadBytes)
            }
        }
        // Room for every round trip and the payload, each within a request's timeout.
        let timeout = requestTimeout * (probe.roundTrips + 2)
        node.request(request, to: probe.source.address, timeout: timeout) { [weak self] result in
            guard let self else { return }
            let measured = Self.measurement(result, probe: probe)
            if case .failure(let error) = measured {
                logger.info("link not measured", metadata: ["link": "\(probe.pair)", "error": "\(error)"])
            }
            let (directives, links, hosts, publish) = state.withLock { state in
                let directives = state.schedule.finished(probe.id, measured, now: .now)
                return (directives, state.schedule.measurements, state.schedule.costLinks, state.publish)
            }
            if case .success = measured { publish(links.map(\.link), hosts) }
            perform(directives)
            armTimer()
        }
    }

    private static func measurement(
        _ result: Result<WireMessage, WeftError>,
        probe: LinkProbeSchedule.Probe
    ) -> Result<LinkMeasurement, WeftError> {
        do throws(WeftError) {
            let reply = try result.get()
            guard let link = try LinkMeasurement.list(reply.envelope.measureLinksReply).first else {
                throw WeftError(.internal, "\(probe.source.device) measured no link to \(probe.destination.device)")
            }
            return .success(link)
        } catch {
            return .failure(
                WeftError(
                    error.code,
                    "\(probe.source.device) measuring its link to \(probe.destination.device): \(error.message)"
                )
            )
        }
    }
}
