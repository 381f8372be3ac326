import Foundation
import Synchronization
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

/// One step in flight: what it runs, the rules it follows and the answer its client awaits.
/// The coordinator's shell feeds `machine` and carries out what it returns.
final class StepRun: Sendable {
    /// What the step needs, read from its session when it started.
    let setup: ClusterState.StepSetup
    /// The tensors the client fed.
    let feeds: [Tensor]
    /// Whether workers time the step node by node.
    let collectStatistics: Bool
    let machine: Mutex<StepMachine>
    let outcome = Promise<Result<[DeviceName: WireMessage], WeftError>>()

    init(setup: ClusterState.StepSetup, feeds: [Tensor], collectStatistics: Bool, machine: StepMachine) {
        self.setup = setup
        self.feeds = feeds
        self.collectStatistics = collectStatistics
        self.machine = Mutex(machine)
    }
}

extension Coordinator {
    // MARK: Steps

    /// How long past the step's deadline the coordinator waits for a worker's own answer.
    static let stepGrace = Duration.seconds(1)

    /// Runs a step for `caller`; `sample` collects its statistics for the coordinator's own use too.
    func runStep(_ request: WireMessage, caller: CurveKey?, sample: Bool = false) async throws(WeftError) -> WireMessage {
        let receivedMicros = WallClock.nowMicros
        let envelope = request.envelope
        let body = envelope.runStep
        guard body.feeds.count == request.tensors.count else {
            throw WeftError(
                .invalidArgument,
                "the step names \(body.feeds.count) feeds but carries \(request.tensors.count) tensors"
            )
        }
        let signature = try RunSignature(feeds: body.feeds, fetches: body.fetches, targets: body.targets)
        let timeout =
            envelope.deadlineMs > 0 ? Duration(wireMilliseconds: envelope.deadlineMs) : configuration.stepTimeout
        let run = try startStep(
            envelope.session,
            signature: signature,
            caller: caller,
            client: envelope.client,
            clientStep: envelope.step,
            feeds: request.tensors,
            timeout: timeout,
            collectStatistics: body.collectStatistics || sample
        )
        let setup = run.setup
        let replies = try await run.outcome.value.get()
        var fetched = [Tensor?](repeating: nil, count: body.fetches.count)
        for (index, name) in body.feeds.enumerated() {
            for (fetch, fetchName) in body.fetches.enumerated() where fetchName == name {
                fetched[fetch] = request.tensors[index]
            }
        }
        for (device, partition) in setup.plan.partitions {
            guard let reply = replies[device], reply.tensors.count == partition.fetches.count else { continue }
            for (position, entry) in partition.fetches.enumerated() { fetched[entry.fetch] = reply.tensors[position] }
        }
        let tensors = try fetched.map { (tensor) throws(WeftError) -> Tensor in
            guard let tensor else { throw WeftError(.internal, "a worker's reply lacked a fetched tensor") }
            return tensor
        }
        return .reply(session: envelope.session, step: setup.step, tensors: tensors) { reply in
            reply.runStepReply.directRoutes = Self.directRoutes(setup, security: configuration.security)
            if let interval = configuration.statisticsSampleInterval {
                reply.runStepReply.sampleIntervalMs = UInt32(clamping: interval.millisecondsRoundedUp)
            }
            reply.runStepReply.receivedUnixMicros = receivedMicros
            guard run.collectStatistics else {
                reply.runStepReply.repliedUnixMicros = WallClock.nowMicros
                return
            }
            var statistics = Weft_StepStats()
            for part in replies.values.map(\.envelope.runPartitionReply.statistics) { statistics.merge(part) }
            reply.runStepReply.statistics = statistics
            reply.runStepReply.repliedUnixMicros = WallClock.nowMicros
        }
    }

    /// The routes of a step's partitions: the client may send later steps of its signature to
    /// those workers itself, and answer fetches of fed tensors on its own. None when a partition
    /// lacks its worker or its handle (nothing is sent then).
    private static func directRoutes(_ setup: ClusterState.StepSetup, security: ProcessSecurity?) -> [Weft_DirectRoute] {
        var routes: [Weft_DirectRoute] = []
        for (device, partition) in setup.plan.partitions.sorted(by: { $0.key.description < $1.key.description }) {
            guard let worker = setup.workers[device], let handle = setup.plan.handles[device] else { return [] }
            routes.append(
                .with {
                    $0.device = device.description
                    $0.address = worker.address
                    $0.handle = handle
                    $0.feedIndices = partition.feeds.map { UInt32($0.feed) }
                    $0.fetchIndices = partition.fetches.map { UInt32($0.fetch) }
                    $0.publicKey = security?.cluster.tasks[device]?.publicKey.z85 ?? ""
                }
            )
        }
        return routes
    }

    /// Starts the step in the cluster's state (which enters it among the steps in flight, so a
    /// worker's death reaches it from then on), keeps its run and starts its machine.
    private func startStep(
        _ handle: String,
        signature: RunSignature,
        caller: CurveKey?,
        client: String,
        clientStep: UInt64,
        feeds: [Tensor],
        timeout: Duration,
        collectStatistics: Bool
    ) throws(WeftError) -> StepRun {
        let run = try state.withLock { (state) throws(WeftError) -> StepRun in
            let setup = try state.cluster.startStep(
                handle,
                signature: signature,
                caller: caller,
                client: client,
                clientStep: clientStep,
                now: .now
            )
            let machine = StepMachine(
                participants: Set(setup.plan.partitions.keys),
                toRegister: setup.toRegister,
                // The transport's own timeout names the silent worker; the machine's is a backstop
                // for an answer that never comes, so it waits a grace longer.
                registrationTimeout: Self.registrationTimeout(
                    configuration.requestTimeout,
                    nodes: setup.plan.partitions.values.map(\.nodes.count).max() ?? 0
                ) + Self.stepGrace,
                stepTimeout: timeout,
                grace: Self.stepGrace
            )
            let run = StepRun(setup: setup, feeds: feeds, collectStatistics: collectStatistics, machine: machine)
            state.runs[setup.token] = run
            return run
        }
        perform(run.machine.withLock { $0.start(at: .now) }, for: run)
        return run
    }

    /// Feeds the step's machine one event and carries out what it returns.
    func drive(_ run: StepRun, _ event: StepMachine.Event) {
        perform(run.machine.withLock { $0.handle(event, at: .now) }, for: run)
    }

    private func perform(_ directives: [StepMachine.Directive], for run: StepRun) {
        for directive in directives {
            switch directive {
            case .registerPartition(let device): register(device, for: run)
            case .runPartitions(let registered): runPartitions(registered: registered, for: run)
            case .abortPartitions(let devices, let error): abort(run.setup, on: devices, error: error)
            case .reply(let result):
                state.withLock { state in
                    state.runs[run.setup.token] = nil
                    state.cluster.stepEnded(run.setup.token)
                }
                run.outcome.complete(result)
            }
        }
    }

    /// How long a worker may take to register a partition of `nodes` nodes: the request timeout,
    /// plus time to parse, fold and plan every node, so that a graph of 100,000 nodes is not
    /// refused for its size.
    static func registrationTimeout(_ requestTimeout: Duration, nodes: Int) -> Duration {
        requestTimeout + .microseconds(500) * nodes
    }

    /// Registers the step's partition on `device`. Which workers the session reaches is settled
    /// here, in order; the request is made and sent on `offload`.
    private func register(_ device: DeviceName, for run: StepRun) {
        let setup = run.setup
        guard let partition = setup.plan.partitions[device], let worker = setup.workers[device],
            let handle = setup.plan.handles[device]
        else { return }
        // A registration whose reply is lost may still leave state there to free.
        guard let contact = state.withLock({ $0.cluster.contacting(device, for: setup.session) }) else {
            let error = WeftError(.cancelled, "session \(setup.session) was closed while the step started")
            return drive(run, .partitionFailed(device, error))
        }
        let record = contact.record
        let timeout = Self.registrationTimeout(configuration.requestTimeout, nodes: partition.nodes.count)
        // A partition of 100,000 nodes is megabytes of GraphDef to serialize. Made one after
        // another here, on the serial executor that serves heartbeats too, the workers'
        // registrations kept heartbeats waiting past their timeout; on `offload` each has a task
        // of its own, and they run in parallel.
        Task(executorPreference: offload) {
            let message = Self.registration(of: partition, on: device, handle: handle, setup: setup, contact: contact)
            self.node.request(message, to: worker.address, timeout: timeout) { result in
                switch result {
                case .success:
                    if let record {
                        self.state.withLock { $0.cluster.recordDelivered(record.version, to: device, for: setup.session) }
                    }
                    self.drive(run, .partitionRegistered(device))
                case .failure(let error): self.drive(run, .partitionFailed(device, Self.describe(error, worker: worker)))
                }
            }
        }
    }

    /// The request that registers `partition` with the worker holding `device`.
    private static func registration(
        of partition: Partition,
        on device: DeviceName,
        handle: String,
        setup: ClusterState.StepSetup,
        contact: (leaseMs: UInt64, record: Weft_SessionRecord?)
    ) -> WireMessage {
        WireMessage.make(.registerPartition, session: setup.session) { envelope in
            envelope.client = setup.client
            envelope.registerPartition = .with {
                $0.handle = handle
                $0.graph.node = partition.nodes
                // Functional nodes run their functions on this worker: send the ones it calls.
                if let functions = setup.graph.functions { $0.graph.library = functions.needed(by: partition.nodes) }
                $0.feeds = partition.feeds.map(\.name.description)
                $0.fetches = partition.fetches.map(\.name.description)
                $0.targets = partition.targets
                $0.peers = setup.peers
                $0.device = device.description
                $0.owner = setup.owner?.z85 ?? ""
                $0.leaseMs = contact.leaseMs
                $0.sharedContainer = setup.sharedContainer ?? ""
                if let record = contact.record { $0.record = record }
            }
        }
    }

    private func runPartitions(registered: [DeviceName], for run: StepRun) {
        let setup = run.setup
        if !registered.isEmpty {
            state.withLock { $0.cluster.partitionsRegistered(setup, on: registered) }
        }
        let timeout = run.machine.withLock { $0.stepTimeout }
        for (device, partition) in Self.dispatchOrder(setup.plan.partitions, feeds: run.feeds) {
            guard let worker = setup.workers[device], let handle = setup.plan.handles[device] else { continue }
            let message = WireMessage.make(
                .runPartition,
                session: setup.session,
                step: setup.step,
                tensors: partition.feeds.map { run.feeds[$0.feed] }
            ) { envelope in
                envelope.client = setup.client
                envelope.deadlineMs = timeout.millisecondsRoundedUp
                envelope.runPartition = .with {
                    $0.handle = handle
                    $0.collectStatistics = run.collectStatistics
                }
            }
            // The worker ends the step at its deadline and says why; the machine waits its grace
            // longer for that answer, and the request longer still (two health checks, which
            // check deadlines), so a silent worker meets the step's deadline, not a bare timeout.
            let sentMicros = WallClock.nowMicros
            let requestTimeout = timeout + Self.stepGrace + configuration.heartbeatInterval * 2
            node.request(message, to: worker.address, timeout: requestTimeout) { result in
                switch result {
                case .success(let reply):
                    self.drive(run, .partitionReplied(device, self.aligned(reply, from: device, sentMicros: sentMicros)))
                case .failure(let error):
                    self.drive(run, .partitionFailed(device, Self.describe(error, worker: worker)))
                }
            }
        }
    }

    /// The partitions in the order their run requests go out: fewest fed bytes first. The
    /// coordinator's one I/O thread sends the requests in turn, so a partition without feeds
    /// (a parameter server, whose variables the others wait for) starts without waiting behind
    /// megabytes of another's feeds.
    static func dispatchOrder(_ partitions: [DeviceName: Partition], feeds: [Tensor]) -> [(DeviceName, Partition)] {
        partitions.map { ($0.key, $0.value) }.sorted { first, second in
            let bytes = { (partition: Partition) in
                partition.feeds.reduce(0) { $0 + feeds[$1.feed].byteCount }
            }
            let (a, b) = (bytes(first.1), bytes(second.1))
            return a != b ? a < b : first.0 < second.0
        }
    }

    /// A worker's partition reply with its device clocks put on the coordinator's clock, by the
    /// best recent measurement of that worker's offset, this request's included.
    private func aligned(_ reply: WireMessage, from device: DeviceName, sentMicros: Int64) -> WireMessage {
        var reply = reply
        let body = reply.envelope.runPartitionReply
        let measured = ClockOffset(
            sent: sentMicros,
            received: WallClock.nowMicros,
            peerReceived: body.receivedUnixMicros,
            peerReplied: body.repliedUnixMicros
        )
        if let offset = clockOffsets.update(device.description, with: measured) {
            reply.envelope.runPartitionReply.statistics.align(by: offset)
        }
        return reply
    }

    /// Wakes partitions still waiting for tensors of a failed step.
    private func abort(_ setup: ClusterState.StepSetup, on devices: [DeviceName], error: WeftError) {
        let message = WireMessage.make(.abortStep, session: setup.session, step: setup.step) { envelope in
            envelope.client = setup.client
            envelope.status = .with {
                $0.code = error.code.rawValue
                $0.message = error.message
            }
        }
        for device in devices {
            guard let worker = setup.workers[device] else { continue }
            node.request(message, to: worker.address, timeout: configuration.requestTimeout) { _ in }
        }
    }

    /// Transport failures name the worker; errors a worker reported pass unchanged.
    static func describe(_ error: WeftError, worker: Membership.Worker) -> WeftError {
        guard error.code == .unavailable || error.code == .deadlineExceeded else { return error }
        return WeftError(error.code, "worker \(worker.device) at \(worker.address): \(error.message)")
    }
}
