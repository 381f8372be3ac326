import WeftPlacement
import WeftProto
import WeftRuntime

/// The coordinator's bookkeeping at scale, without processes or sockets: `workers` simulated
/// workers register with the cluster's state machine (`ClusterState`) and the link schedule,
/// send heartbeats and get sessions placed over all of them, as the coordinator's shell would
/// feed them, with an injected clock. `weft bench scale` prints what each event costs.
public enum ClusterSimulation {
    /// What one cluster size cost, in seconds of this thread per event.
    public struct Figures: Sendable {
        /// Workers simulated.
        public var workers: Int
        /// Hosts they are spread over (`workersPerHost` each).
        public var hosts: Int
        /// One registration, averaged over all of them.
        public var registerSeconds: Double
        /// One heartbeat, averaged over `heartbeatRounds` rounds of every worker.
        public var heartbeatSeconds: Double
        /// One health check of the whole cluster (the coordinator's periodic tick).
        public var tickSeconds: Double
        /// Opening one session whose graph spans every worker: placement, the cost model it
        /// uses and the state's bookkeeping, the fastest of the sessions opened.
        public var sessionSeconds: Double
        /// Of which placement alone.
        public var placementSeconds: Double
        /// Nodes of the session's graph.
        public var graphNodes: Int
        /// Link probes the schedule starts once registrations settle.
        public var probesAtStart: Int
        /// The heartbeat interval the cluster's pace gives its workers.
        public var heartbeatInterval: Duration
    }

    /// Simulates a cluster of `workers` workers, `workersPerHost` to a host, placing a graph of
    /// `nodesPerWorker` nodes per worker with `strategy` (`sessions` times; the fastest counts).
    public static func run(
        workers: Int,
        workersPerHost: Int = 8,
        heartbeatRounds: Int = 5,
        nodesPerWorker: Int = 4,
        sessions: Int = 3,
        strategy: String = "load-balance"
    ) throws(WeftError) -> Figures {
        guard workers >= 1, workersPerHost >= 1, heartbeatRounds >= 1, nodesPerWorker >= 2, sessions >= 1 else {
            throw WeftError(.invalidArgument, "a simulation needs at least one worker, round and session")
        }
        let clock = ContinuousClock()
        var now = clock.now
        var cluster = ClusterState(.init(heartbeatTimeout: .milliseconds(1500), incarnation: 1))
        var links = LinkProbeSchedule()
        let hosts = (workers + workersPerHost - 1) / workersPerHost

        let registering = clock.now
        for task in 0..<workers {
            let address = "tcp://10.0.\(task / workersPerHost / 256).\(task / workersPerHost % 256):\(7000 + task % 1000)"
            _ = try cluster.register(
                .with {
                    $0.job = "worker"
                    $0.task = Int32(task)
                    $0.address = address
                    $0.incarnation = UInt64(task + 1)
                    $0.coordinatorIncarnation = 1
                },
                task: task,
                now: now
            )
            links.joined(DeviceName(job: "worker", task: task), address: address, now: now)
        }
        let registerSeconds = seconds(since: registering, clock) / Double(workers)

        // The links probed once registrations settle, all answered with one figure.
        now += .seconds(1)
        var probes = 0
        var started = links.tick(now: now)
        while let directive = started.popLast() {
            guard case .probe(let probe) = directive else { continue }
            probes += 1
            let link = LinkMeasurement(
                source: probe.source.device,
                destination: probe.destination.device,
                latency: .microseconds(probe.pair.source == probe.pair.destination ? 20 : 60),
                bytesPerSecond: 1e9
            )
            started += links.finished(probe.id, .success(link), now: now)
        }
        cluster.linksMeasured(links.measurements.map(\.link), hosts: links.costLinks)

        let rates = Weft_DeviceRates.with {
            $0.flopsPerSecond = 20e9
            $0.bytesPerSecond = 5e9
            $0.secondsPerOp = 5e-6
        }
        let beats = (0..<workers).map { task in
            Weft_Heartbeat.with {
                $0.job = "worker"
                $0.task = Int32(task)
                $0.incarnation = UInt64(task + 1)
                $0.rates = rates
            }
        }
        let beating = clock.now
        for _ in 0..<heartbeatRounds {
            now += cluster.pacing.interval
            for beat in beats { _ = cluster.heartbeat(beat, now: now) }
        }
        let heartbeatSeconds = seconds(since: beating, clock) / Double(workers * heartbeatRounds)

        let ticking = clock.now
        for _ in 0..<heartbeatRounds { _ = cluster.tick(now: now) }
        let tickSeconds = seconds(since: ticking, clock) / Double(heartbeatRounds)

        let nodes = graph(workers: workers, nodesPerWorker: nodesPerWorker)
        let runtimeGraph = try RuntimeGraph(nodes: nodes)
        let chosen = try PlacementStrategies.named(strategy)
        var sessionSeconds = Double.infinity
        var placementSeconds = Double.infinity
        for index in 0..<sessions {
            let opening = clock.now
            let devices = cluster.membership.healthyDevices
            let options = PlacementOptions(costModel: cluster.costModel, seed: UInt64(index))
            let placing = clock.now
            let placement = try PlacementStrategies.place(runtimeGraph, on: devices, strategy: chosen, options: options)
            placementSeconds = min(placementSeconds, seconds(since: placing, clock))
            _ = links.needed(Set(placement.values), now: now)
            let session = CoordinatorSession(
                handle: "simulated-\(index)",
                client: "bench",
                owner: nil,
                strategy: chosen,
                options: options,
                nodes: nodes,
                library: Tensorflow_FunctionDefLibrary(),
                graph: runtimeGraph,
                placement: placement,
                lease: .seconds(60),
                now: now
            )
            guard cluster.open(session) else { throw WeftError(.internal, "simulated session handle taken") }
            sessionSeconds = min(sessionSeconds, seconds(since: opening, clock))
        }
        return Figures(
            workers: workers,
            hosts: hosts,
            registerSeconds: registerSeconds,
            heartbeatSeconds: heartbeatSeconds,
            tickSeconds: tickSeconds,
            sessionSeconds: sessionSeconds,
            placementSeconds: placementSeconds,
            graphNodes: nodes.count,
            probesAtStart: probes,
            heartbeatInterval: cluster.pacing.interval
        )
    }

    /// One chain per worker (`nodesPerWorker` nodes: a constant, then squares), all summed
    /// at the end: work a strategy spreads over every worker, with tensors to move.
    private static func graph(workers: Int, nodesPerWorker: Int) -> [Tensorflow_NodeDef] {
        var nodes: [Tensorflow_NodeDef] = []
        nodes.reserveCapacity(workers * nodesPerWorker + 1)
        var ends: [String] = []
        for chain in 0..<workers {
            var previous = "c\(chain)"
            nodes.append(constant(previous))
            for link in 1..<nodesPerWorker {
                let name = "c\(chain)/square\(link)"
                nodes.append(node(name, op: "Square", inputs: [previous]))
                previous = name
            }
            ends.append(previous)
        }
        var sum = node("sum", op: "AddN", inputs: ends)
        sum.attr["N"] = .with { $0.i = Int64(ends.count) }
        nodes.append(sum)
        return nodes
    }

    private static func node(_ name: String, op: String, inputs: [String]) -> Tensorflow_NodeDef {
        .with {
            $0.name = name
            $0.op = op
            $0.input = inputs
            $0.attr["T"] = .with { $0.type = .dtFloat }
        }
    }

    private static func constant(_ name: String) -> Tensorflow_NodeDef {
        .with {
            $0.name = name
            $0.op = "Const"
            $0.attr["dtype"] = .with { $0.type = .dtFloat }
            $0.attr["value"] = .with {
                $0.tensor = .with {
                    $0.dtype = .dtFloat
                    $0.tensorShape = .with { $0.dim = [.with { $0.size = 256 }] }
                    $0.floatVal = [1]
                }
            }
        }
    }

    private static func seconds(since start: ContinuousClock.Instant, _ clock: ContinuousClock) -> Double {
        (clock.now - start) / .seconds(1)
    }
}
