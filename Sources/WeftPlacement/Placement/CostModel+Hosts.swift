/// Links measured per pair of hosts rather than of devices: devices on one host share its
/// network path, so a cluster of many workers on few hosts is priced from few measurements,
/// and the model stays linear in the number of devices.
extension CostModel {
    /// Which host each device is on, and the links between hosts.
    public struct HostLinks: Sendable {
        private struct Pair: Hashable {
            var from: String
            var to: String
        }

        private var hostOf: [DeviceName: String] = [:]
        private var links: [Pair: Link] = [:]
        /// The link between two devices of one host whose host has no link of its own.
        public var sameHost: Link?
        /// The link between devices of two hosts that have no link of their own.
        public var otherHosts: Link?

        /// No hosts known: every lookup falls through to the model's own figures.
        public init() {}

        /// The link from `source` to `destination` by their hosts; `nil` when either host is unknown
        /// and nothing stands in for it.
        func link(from source: DeviceName, to destination: DeviceName) -> Link? {
            guard let from = hostOf[source], let to = hostOf[destination] else { return nil }
            return link(fromHost: from, toHost: to)
        }

        /// The link from host `from` to host `to`, or `nil` when nothing stands for it.
        func link(fromHost from: String, toHost to: String) -> Link? {
            links[Pair(from: from, to: to)] ?? (from == to ? sameHost : otherHosts)
        }

        /// The host of each device, as an index into the returned hosts, or `nil` when unknown.
        func hosts(of devices: [DeviceName]) -> (hostOfDevice: [Int?], hosts: [String]) {
            var index: [String: Int] = [:]
            var hosts: [String] = []
            let hostOfDevice = devices.map { device -> Int? in
                guard let host = hostOf[device] else { return nil }
                if let known = index[host] { return known }
                index[host] = hosts.count
                hosts.append(host)
                return hosts.count - 1
            }
            return (hostOfDevice, hosts)
        }

        /// The host of `device`, if known.
        public func host(of device: DeviceName) -> String? { hostOf[device] }

        /// Places `device` on `host`.
        public mutating func place(_ device: DeviceName, on host: String) { hostOf[device] = host }

        /// Sets the link from `source` host to `destination` host (one host for both: between its devices).
        public mutating func setLink(_ link: Link, from source: String, to destination: String) {
            links[Pair(from: source, to: destination)] = link
        }
    }
}
