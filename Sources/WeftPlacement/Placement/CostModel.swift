import WeftRuntime

/// What strategies and estimates believe an op and a transfer cost, in seconds.
///
/// An op costs a fixed launch overhead plus the slower of its arithmetic (`flops` at the device's
/// rate for the dtype) and its memory traffic (`bytes` at the device's memory bandwidth): a
/// roofline. A transfer between two devices costs the link's latency plus bytes over its
/// bandwidth, and nothing on one device. Measured per-node costs (from real steps) replace the
/// estimate for the nodes they name; that is what the `profile` strategy uses. A step adds a
/// fixed overhead and one per worker it runs on (`secondsPerStep`, `secondsPerMessage`), which
/// dominate small graphs.
public struct CostModel: Sendable {
    /// How fast one device computes.
    public struct Rates: Sendable, Hashable {
        /// float32 arithmetic per second; other dtypes scale from it.
        public var flopsPerSecond: Double
        /// Memory bytes read or written per second.
        public var bytesPerSecond: Double
        /// Seconds every op costs however small: scheduling and kernel launch.
        public var secondsPerOp: Double
        /// Cores of the device's host, which every device on that host shares; 0 when unknown,
        /// and then the device runs one node at a time on a host of its own.
        public var cores: Int

        /// Makes rates.
        public init(flopsPerSecond: Double, bytesPerSecond: Double, secondsPerOp: Double, cores: Int = 0) {
            self.flopsPerSecond = flopsPerSecond
            self.bytesPerSecond = bytesPerSecond
            self.secondsPerOp = secondsPerOp
            self.cores = cores
        }

        /// The seconds `work` takes at these rates.
        public func seconds(_ work: OpWork) -> Double {
            let arithmetic = work.flops / (flopsPerSecond * Self.speed(of: work.dtype))
            return secondsPerOp + max(arithmetic, work.bytes / bytesPerSecond)
        }

        /// Arithmetic speed of a dtype relative to float32 on a CPU: doubles take twice as long
        /// (half the SIMD lanes), halves are converted element by element.
        static func speed(of dtype: DType) -> Double {
            switch dtype {
            case .double, .int64, .uint64: 0.5
            case .half: 0.25
            default: 1
            }
        }
    }

    /// How fast data moves from one device to another.
    public struct Link: Sendable, Hashable {
        /// Seconds before the first byte arrives.
        public var latency: Double
        /// Bytes per second once data flows.
        public var bytesPerSecond: Double

        /// Makes a link.
        public init(latency: Double, bytesPerSecond: Double) {
            self.latency = latency
            self.bytesPerSecond = bytesPerSecond
        }

        /// `latency + bytes / bandwidth`.
        public func seconds(bytes: Int) -> Double { latency + Double(bytes) / bytesPerSecond }
    }

    private struct Pair: Hashable {
        var from: DeviceName
        var to: DeviceName
    }

    private struct NodeOnDevice: Hashable {
        var node: String
        var device: DeviceName
    }

    /// Seconds every distributed step costs besides its nodes and transfers: the client's
    /// request to the coordinator and the reply. Zero in `default`; `weft bench placement`
    /// measures it on the cluster it runs on.
    public var secondsPerStep: Double = 0
    /// Seconds each message of a step costs the coordinator: one request and reply per worker
    /// that runs a partition of the step. Zero in `default`; measured with `secondsPerStep`.
    public var secondsPerMessage: Double = 0
    /// Rates of devices without rates of their own.
    public var rates: Rates
    /// The link between devices without a link of their own.
    public var link: Link
    private var deviceRates: [DeviceName: Rates] = [:]
    private var links: [Pair: Link] = [:]
    /// Links by host, for devices without a link of their own (`CostModel+Hosts.swift`).
    public var hosts = HostLinks()
    private var measured: [String: Double] = [:]
    private var measuredOnDevice: [NodeOnDevice: Double] = [:]

    /// Makes a model with the same rates on every device and the same link between any two.
    public init(rates: Rates, link: Link) {
        self.rates = rates
        self.link = link
    }

    /// Fixed rates of a modest machine (20 GFLOP/s, 5 GB/s of memory, 5 µs per op) and a 1 GB/s
    /// link with 100 µs latency: for tests and planning without a cluster. Deterministic.
    public static let `default` = CostModel(
        rates: Rates(flopsPerSecond: 20e9, bytesPerSecond: 5e9, secondsPerOp: 5e-6),
        link: Link(latency: 100e-6, bytesPerSecond: 1e9)
    )

    // MARK: Devices and links

    /// The rates of `device`.
    public func rates(of device: DeviceName) -> Rates { deviceRates[device] ?? rates }

    /// Gives `device` rates of its own (from calibrating it).
    public mutating func setRates(_ rates: Rates, for device: DeviceName) { deviceRates[device] = rates }

    /// The link from `source` to `destination`.
    public func link(from source: DeviceName, to destination: DeviceName) -> Link {
        links[Pair(from: source, to: destination)] ?? hosts.link(from: source, to: destination) ?? link
    }

    /// The links between `devices` as `link(from:to:)` answers them, by class of device.
    struct LinkClasses {
        /// The class of every device.
        var classOfDevice: [Int]
        /// The number of classes.
        var count: Int
        /// Between classes `a` and `b` (distinct devices of one class included): `[a * count + b]`.
        var latency: [Double]
        var secondsPerByte: [Double]
    }

    /// Devices of one known host share a class, and so do devices of no known host, unless links
    /// were set per pair of devices: then every device is a class of its own. Resolved once per
    /// pair of hosts, not of devices: a thousand workers on a hundred hosts cost ten thousand
    /// entries, not a million.
    func linkClasses(_ devices: [DeviceName]) -> LinkClasses {
        let (hostOfDevice, hostNames) = hosts.hosts(of: devices)
        let count = hostNames.count + 1
        var classes = LinkClasses(
            classOfDevice: hostOfDevice.map { $0 ?? hostNames.count },
            count: count,
            latency: [Double](repeating: link.latency, count: count * count),
            secondsPerByte: [Double](repeating: 1 / link.bytesPerSecond, count: count * count)
        )
        for (a, from) in hostNames.enumerated() {
            for (b, to) in hostNames.enumerated() {
                let hostLink = hosts.link(fromHost: from, toHost: to) ?? link
                classes.latency[a * count + b] = hostLink.latency
                classes.secondsPerByte[a * count + b] = 1 / hostLink.bytesPerSecond
            }
        }
        guard !links.isEmpty else { return classes }
        return withDeviceLinks(devices, hostClasses: classes)
    }

    /// One class per device: the host classes' links, then the links set per pair of devices.
    private func withDeviceLinks(_ devices: [DeviceName], hostClasses: LinkClasses) -> LinkClasses {
        let count = devices.count
        var classes = LinkClasses(
            classOfDevice: Array(0..<count),
            count: count,
            latency: [Double](repeating: 0, count: count * count),
            secondsPerByte: [Double](repeating: 0, count: count * count)
        )
        let hostClass = hostClasses.classOfDevice
        for p in 0..<count {
            for q in 0..<count where p != q {
                let pair = hostClass[p] * hostClasses.count + hostClass[q]
                classes.latency[p * count + q] = hostClasses.latency[pair]
                classes.secondsPerByte[p * count + q] = hostClasses.secondsPerByte[pair]
            }
        }
        var index: [DeviceName: Int] = [:]
        for (position, device) in devices.enumerated() { index[device] = position }
        for (pair, link) in links {
            guard let p = index[pair.from], let q = index[pair.to], p != q else { continue }
            classes.latency[p * count + q] = link.latency
            classes.secondsPerByte[p * count + q] = 1 / link.bytesPerSecond
        }
        return classes
    }

    /// Sets the link from `source` to `destination` only.
    public mutating func setLink(_ link: Link, from source: DeviceName, to destination: DeviceName) {
        links[Pair(from: source, to: destination)] = link
    }

    /// Uses links measured between workers (`ClusterClient.measureLinks`), each for its direction.
    public mutating func useLinks(_ measurements: [LinkMeasurement]) {
        for measured in measurements {
            setLink(
                Link(latency: measured.latency / .seconds(1), bytesPerSecond: measured.bytesPerSecond),
                from: measured.source,
                to: measured.destination
            )
        }
    }

    /// Sets the link between two devices, both ways.
    public mutating func setLink(_ link: Link, between a: DeviceName, and b: DeviceName) {
        links[Pair(from: a, to: b)] = link
        links[Pair(from: b, to: a)] = link
    }

    /// Seconds to move `bytes` from `source` to `destination`; zero on one device.
    public func transferSeconds(bytes: Int, from source: DeviceName, to destination: DeviceName) -> Double {
        source == destination ? 0 : link(from: source, to: destination).seconds(bytes: bytes)
    }

    // MARK: Compute

    /// Seconds node `node` takes on `device`: a measured cost if there is one, else the estimate from `work`.
    public func computeSeconds(_ work: OpWork, node: String, on device: DeviceName) -> Double {
        if hasMeasurements, let seconds = measuredOnDevice[NodeOnDevice(node: node, device: device)] ?? measured[node] {
            return seconds
        }
        return rates(of: device).seconds(work)
    }

    /// The measured cost of `node` on `device`, if one was set.
    func measuredSeconds(node: String, on device: DeviceName) -> Double? {
        measuredOnDevice[NodeOnDevice(node: node, device: device)] ?? measured[node]
    }

    /// Whether any measured cost is set.
    public var hasMeasurements: Bool { !measured.isEmpty || !measuredOnDevice.isEmpty }

    /// Whether a measured cost is set for one device only: devices of equal rates may then differ.
    var hasMeasurementsPerDevice: Bool { !measuredOnDevice.isEmpty }

    /// Replaces the estimate of `node` by a measured cost, on `device` only or on every device.
    public mutating func setMeasuredCost(_ cost: Duration, node: String, device: DeviceName? = nil) {
        let measuredSeconds = cost / .seconds(1)
        if let device {
            measuredOnDevice[NodeOnDevice(node: node, device: device)] = measuredSeconds
        } else {
            measured[node] = measuredSeconds
        }
    }

    /// Replaces the estimates of every node named in `costs` (by node name).
    public mutating func useMeasuredCosts(_ costs: [String: Duration]) {
        for (node, cost) in costs { measured[node] = cost / .seconds(1) }
    }

    /// Uses the node times of real steps (`RunMetadata.stepStatistics`): each node's median
    /// duration over the steps, on whichever worker it ran (workers are taken to be alike).
    /// Nodes the partitioner added (`_Send`, `_Recv`, `_weft/…`) are not the graph's and are skipped.
    public mutating func useMeasuredCosts(from steps: [StepStatistics]) {
        useMeasuredCosts(Self.medianDurations(of: steps))
    }

    /// Each graph node's median duration over `steps`, by node name; nodes the partitioner
    /// added (`_Send`, `_Recv`, `_weft/…`) are left out.
    public static func medianDurations(of steps: [StepStatistics]) -> [String: Duration] {
        var durations: [String: [Duration]] = [:]
        for step in steps {
            for run in step.nodes where !run.node.hasPrefix("_weft/") && !run.op.hasPrefix("_") {
                durations[run.node, default: []].append(run.duration)
            }
        }
        return durations.mapValues { samples in samples.sorted()[samples.count / 2] }
    }
}
