import WeftPlacement
import WeftRuntime

/// Which links between workers the coordinator measures, and when: a pure state machine fed
/// membership changes, placements' needs, requests and probe results with the time they
/// happened; it returns the probes to start and the requests now answered.
///
/// Links are measured per pair of hosts, not of processes: workers on one host share its
/// network path, so one probe stands for all of them (a host is the host part of a worker's
/// advertised address). Once registrations settle, each host is probed within itself and
/// towards the next host in a ring of the hosts: at most two probes per host, so never more
/// than O(workers) at start. Every other pair of hosts gets an estimate (its reverse direction
/// when measured, else the median of the measured links of its kind) until a placement needs it
/// or a client asks for every link; then it is measured. One stale pair is measured again every
/// `refreshInterval`, so figures follow a network that changes at a sampled, fixed cost.
///
/// Probes run in parallel when they share no host (so they do not share a network path), at
/// most `maximumInFlight` at once.
struct LinkProbeSchedule: Sendable {
    /// The fixed rules.
    struct Configuration: Sendable {
        /// How long registrations must pause before the first probes go out.
        var settle: Duration = .milliseconds(500)
        /// The most probes running at once.
        var maximumInFlight = 4
        /// How often the stalest measured pair is measured again; `nil` never.
        var refreshInterval: Duration? = .seconds(300)
        /// Round trips and payload of probes nobody asked for with sizes of their own.
        var roundTrips = 20
        var payloadBytes = 1 << 20
    }

    /// One direction between two hosts; `source == destination` for the link between two
    /// workers of one host.
    struct HostPair: Sendable, Hashable, Comparable, CustomStringConvertible {
        var source: String
        var destination: String

        static func < (lhs: HostPair, rhs: HostPair) -> Bool {
            (lhs.source, lhs.destination) < (rhs.source, rhs.destination)
        }

        var description: String { "\(source) -> \(destination)" }

        /// The other direction.
        var reversed: HostPair { HostPair(source: destination, destination: source) }
    }

    /// A worker a probe runs from or towards.
    struct Member: Sendable, Hashable {
        var device: DeviceName
        var address: String
    }

    /// A probe the shell runs: `source` measures its link to `destination`.
    struct Probe: Sendable, Equatable {
        var id: UInt64
        var pair: HostPair
        var source: Member
        var destination: Member
        var roundTrips: Int
        var payloadBytes: Int
    }

    /// What the shell must do.
    enum Directive: Sendable, Equatable {
        /// Run this probe and report it with `finished`.
        case probe(Probe)
        /// Every pair the request named was measured or failed (why, by pair): answer it.
        case answer(request: UInt64, failures: [HostPair: WeftError])
    }

    /// A measured link between two hosts, with the workers that measured it.
    struct Measured: Sendable, Equatable {
        var measurement: LinkMeasurement
        var at: ContinuousClock.Instant
    }

    private struct Waiting: Sendable {
        var pairs: Set<HostPair>
        var failures: [HostPair: WeftError] = [:]
    }

    let configuration: Configuration
    /// Workers by host, each host's sorted by device.
    private(set) var hosts: [String: [Member]] = [:]
    private var hostOf: [DeviceName: String] = [:]
    /// The last measurement of each pair of hosts.
    private(set) var measured: [HostPair: Measured] = [:]
    /// Pairs waiting to be probed, in order, with the sizes asked for.
    private var queue: [(pair: HostPair, roundTrips: Int, payloadBytes: Int)] = []
    /// The pairs of `queue`, for lookups in constant time.
    private var queued: Set<HostPair> = []
    private(set) var running: [UInt64: Probe] = [:]
    private var waiting: [UInt64: Waiting] = [:]
    /// Pairs the start-up ring has covered (measured, queued or tried).
    private var planned: Set<HostPair> = []
    private var settleDeadline: ContinuousClock.Instant?
    private var nextRefresh: ContinuousClock.Instant?
    private var nextProbe: UInt64 = 1
    /// Probes started since the machine was made, for tests and the benchmark.
    private(set) var probesStarted = 0

    /// An empty schedule.
    init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The host of an advertised address (`tcp://HOST:PORT`): the part workers on one machine share.
    static func host(of address: String) -> String {
        var rest = Substring(address)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        guard let colon = rest.lastIndex(of: ":") else { return String(rest) }
        return String(rest[..<colon])
    }

    /// When the shell must call `tick` next; `nil` when nothing waits for time.
    var nextDeadline: ContinuousClock.Instant? {
        [settleDeadline, nextRefresh].compactMap { $0 }.min()
    }

    // MARK: Events

    /// A worker registered (again, possibly from another address).
    mutating func joined(_ device: DeviceName, address: String, now: ContinuousClock.Instant) {
        remove(device)
        let host = Self.host(of: address)
        hostOf[device] = host
        var members = hosts[host, default: []]
        let index = members.firstIndex { $0.device > device } ?? members.count
        members.insert(Member(device: device, address: address), at: index)
        hosts[host] = members
        settleDeadline = now + configuration.settle
    }

    /// A worker left or was declared dead: it measures nothing more, and a host without
    /// workers loses its links.
    mutating func left(_ device: DeviceName, now: ContinuousClock.Instant) -> [Directive] {
        remove(device)
        return dispatch(now: now)
    }

    /// Time passed: after registrations settle, the ring's pairs not covered yet are queued;
    /// when a refresh is due, the stalest pair is.
    mutating func tick(now: ContinuousClock.Instant) -> [Directive] {
        if let deadline = settleDeadline, deadline <= now {
            settleDeadline = nil
            planRing()
            if nextRefresh == nil, let interval = configuration.refreshInterval { nextRefresh = now + interval }
        }
        if let refresh = nextRefresh, refresh <= now, let interval = configuration.refreshInterval {
            nextRefresh = now + interval
            if queue.isEmpty, let stalest = measured.min(by: { ($0.value.at, $0.key) < ($1.value.at, $1.key) }) {
                enqueue(stalest.key, roundTrips: configuration.roundTrips, payloadBytes: configuration.payloadBytes)
            }
        }
        return dispatch(now: now)
    }

    /// A placement puts tensors between these workers: the ring of their hosts (within each,
    /// and each to the next) is measured first where it was only estimated, at most two probes
    /// per host it uses, whatever the placement's size.
    mutating func needed(_ devices: Set<DeviceName>, now: ContinuousClock.Instant) -> [Directive] {
        let inFlight = Set(running.values.map(\.pair))
        let pairs = Self.ring(Set(devices.compactMap { hostOf[$0] }).sorted()).filter { pair in
            measured[pair] == nil && measured[pair.reversed] == nil && probeable(pair) && !queued.contains(pair)
                && !inFlight.contains(pair)
        }
        enqueueFirst(pairs, roundTrips: configuration.roundTrips, payloadBytes: configuration.payloadBytes)
        return dispatch(now: now)
    }

    /// A client asks for every link measured now: every pair of hosts is queued with its sizes,
    /// and `request` is answered once each has been measured or has failed.
    mutating func measureAll(
        request: UInt64,
        roundTrips: Int,
        payloadBytes: Int,
        now: ContinuousClock.Instant
    ) -> [Directive] {
        var pairs: [HostPair] = []
        let names = hosts.keys.sorted()
        for source in names {
            for destination in names where probeable(HostPair(source: source, destination: destination)) {
                pairs.append(HostPair(source: source, destination: destination))
            }
        }
        enqueueFirst(pairs, roundTrips: roundTrips, payloadBytes: payloadBytes)
        waiting[request] = Waiting(pairs: Set(pairs))
        return dispatch(now: now)
    }

    /// A probe ended.
    mutating func finished(
        _ id: UInt64,
        _ result: Result<LinkMeasurement, WeftError>,
        now: ContinuousClock.Instant
    ) -> [Directive] {
        guard let probe = running.removeValue(forKey: id) else { return dispatch(now: now) }
        switch result {
        case .success(let measurement):
            // A host that lost its workers meanwhile keeps no link.
            if hosts[probe.pair.source] != nil, hosts[probe.pair.destination] != nil {
                measured[probe.pair] = Measured(measurement: measurement, at: now)
            }
        case .failure(let error):
            for request in waiting.keys where waiting[request]?.pairs.contains(probe.pair) == true {
                waiting[request]?.failures[probe.pair] = error
            }
        }
        for request in waiting.keys { waiting[request]?.pairs.remove(probe.pair) }
        return dispatch(now: now)
    }

    // MARK: What placement sees

    /// The link from `source`'s host to `destination`'s: measured, or estimated from the
    /// reverse direction or the median of measured links of its kind (within a host, or
    /// between hosts); `nil` when nothing of its kind was measured.
    func link(from source: String, to destination: String) -> CostModel.Link? {
        if let link = measured[HostPair(source: source, destination: destination)] { return Self.costLink(link) }
        if let reverse = measured[HostPair(source: destination, destination: source)] { return Self.costLink(reverse) }
        return source == destination ? sameHostEstimate : otherHostEstimate
    }

    /// The median of the links measured within hosts.
    var sameHostEstimate: CostModel.Link? { Self.median(measured.filter { $0.key.source == $0.key.destination }) }

    /// The median of the links measured between hosts.
    var otherHostEstimate: CostModel.Link? { Self.median(measured.filter { $0.key.source != $0.key.destination }) }

    /// What placement prices links by: every worker's host, the measured pairs (each standing
    /// for its reverse too, until that is measured) and the estimates for the rest.
    var costLinks: CostModel.HostLinks {
        var links = CostModel.HostLinks()
        for (device, host) in hostOf { links.place(device, on: host) }
        for (pair, link) in measured where measured[HostPair(source: pair.destination, destination: pair.source)] == nil {
            links.setLink(Self.costLink(link), from: pair.destination, to: pair.source)
        }
        for (pair, link) in measured { links.setLink(Self.costLink(link), from: pair.source, to: pair.destination) }
        links.sameHost = sameHostEstimate
        links.otherHosts = otherHostEstimate
        return links
    }

    /// The measurements, one per pair of hosts, in order of the pairs.
    var measurements: [(pair: HostPair, link: LinkMeasurement)] {
        measured.sorted { $0.key < $1.key }.map { ($0.key, $0.value.measurement) }
    }

    // MARK: Rules

    private mutating func remove(_ device: DeviceName) {
        guard let host = hostOf.removeValue(forKey: device) else { return }
        hosts[host]?.removeAll { $0.device == device }
        guard hosts[host]?.isEmpty == true else { return }
        hosts[host] = nil
        measured = measured.filter { $0.key.source != host && $0.key.destination != host }
        planned = planned.filter { $0.source != host && $0.destination != host }
        queue.removeAll { $0.pair.source == host || $0.pair.destination == host }
        queued = Set(queue.map(\.pair))
    }

    /// Whether the pair has workers to probe it: two on one host, or one on each.
    private func probeable(_ pair: HostPair) -> Bool {
        guard let sources = hosts[pair.source], let destinations = hosts[pair.destination] else { return false }
        return pair.source == pair.destination ? sources.count >= 2 : !sources.isEmpty && !destinations.isEmpty
    }

    /// Within each host, and from each host to the next in the ring of hosts (both ways when
    /// there are two): the start-up probes, at most two per host.
    private mutating func planRing() {
        for pair in Self.ring(hosts.keys.sorted()) where !planned.contains(pair) && measured[pair] == nil && probeable(pair) {
            planned.insert(pair)
            enqueue(pair, roundTrips: configuration.roundTrips, payloadBytes: configuration.payloadBytes)
        }
    }

    /// Each host within itself, and each to the next (the last to the first).
    private static func ring(_ names: [String]) -> [HostPair] {
        var pairs = names.map { HostPair(source: $0, destination: $0) }
        if names.count > 1 {
            for (index, source) in names.enumerated() {
                pairs.append(HostPair(source: source, destination: names[(index + 1) % names.count]))
            }
        }
        return pairs
    }

    /// Queues a pair last, unless it waits already.
    private mutating func enqueue(_ pair: HostPair, roundTrips: Int, payloadBytes: Int) {
        guard queued.insert(pair).inserted else { return }
        queue.append((pair: pair, roundTrips: roundTrips, payloadBytes: payloadBytes))
    }

    /// Queues pairs first, in their order, with these sizes (those waiting already move up).
    private mutating func enqueueFirst(_ pairs: [HostPair], roundTrips: Int, payloadBytes: Int) {
        guard !pairs.isEmpty else { return }
        let moving = Set(pairs)
        queue = pairs.map { (pair: $0, roundTrips: roundTrips, payloadBytes: payloadBytes) }
            + queue.filter { !moving.contains($0.pair) }
        queued.formUnion(moving)
    }

    /// Starts queued probes whose hosts no running probe uses, up to the limit; answers the
    /// requests with nothing left to wait for.
    private mutating func dispatch(now: ContinuousClock.Instant) -> [Directive] {
        var directives: [Directive] = []
        var busy = Set(running.values.flatMap { [$0.pair.source, $0.pair.destination] })
        var index = 0
        while index < queue.count, running.count < configuration.maximumInFlight {
            let entry = queue[index]
            guard !busy.contains(entry.pair.source), !busy.contains(entry.pair.destination) else {
                index += 1
                continue
            }
            queue.remove(at: index)
            queued.remove(entry.pair)
            guard let members = members(for: entry.pair) else { continue }
            let probe = Probe(
                id: nextProbe,
                pair: entry.pair,
                source: members.source,
                destination: members.destination,
                roundTrips: entry.roundTrips,
                payloadBytes: entry.payloadBytes
            )
            nextProbe += 1
            probesStarted += 1
            running[probe.id] = probe
            busy.formUnion([entry.pair.source, entry.pair.destination])
            directives.append(.probe(probe))
        }
        // A request whose pairs all ended, or whose hosts all left, is answered.
        let inFlight = Set(running.values.map(\.pair))
        for (request, state) in waiting.sorted(by: { $0.key < $1.key }) {
            let left = state.pairs.filter { queued.contains($0) || inFlight.contains($0) }
            waiting[request]?.pairs = left
            guard left.isEmpty else { continue }
            waiting[request] = nil
            directives.append(.answer(request: request, failures: state.failures))
        }
        return directives
    }

    /// The workers that probe a pair: the first of the source host, and the first other one
    /// of the destination host.
    private func members(for pair: HostPair) -> (source: Member, destination: Member)? {
        guard let source = hosts[pair.source]?.first,
            let destination = hosts[pair.destination]?.first(where: { $0.device != source.device })
        else { return nil }
        return (source, destination)
    }

    private static func costLink(_ measured: Measured) -> CostModel.Link {
        CostModel.Link(
            latency: measured.measurement.latency / .seconds(1),
            bytesPerSecond: measured.measurement.bytesPerSecond
        )
    }

    private static func median(_ links: [HostPair: Measured]) -> CostModel.Link? {
        guard !links.isEmpty else { return nil }
        let latencies = links.values.map { $0.measurement.latency / .seconds(1) }.sorted()
        let rates = links.values.map(\.measurement.bytesPerSecond).sorted()
        return CostModel.Link(latency: latencies[latencies.count / 2], bytesPerSecond: rates[rates.count / 2])
    }
}
