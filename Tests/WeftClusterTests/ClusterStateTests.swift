import Testing
import WeftPlacement
import WeftProto
import WeftRuntime
import WeftTransport

@testable import WeftCluster

/// The coordinator's cluster state, driven by events with an injected clock: no sockets, no
/// sleeps, no coordinator. Every rule of membership, sessions, leases and steps in flight.
@Suite struct ClusterStateTests {
    let start = ContinuousClock.now
    let task0 = DeviceName(job: "worker", task: 0)
    let task1 = DeviceName(job: "worker", task: 1)
    static let incarnation: UInt64 = 1000

    // MARK: Helpers

    func registration(
        _ task: Int,
        incarnation: UInt64,
        coordinator: UInt64 = ClusterStateTests.incarnation,
        holding held: [Weft_HeldSession] = []
    ) -> Weft_RegisterWorker {
        .with {
            $0.job = "worker"
            $0.task = Int32(task)
            $0.address = "tcp://127.0.0.1:\(7100 + task)"
            $0.incarnation = incarnation
            $0.coordinatorIncarnation = coordinator
            $0.sessions = held
        }
    }

    func heartbeat(
        _ task: Int,
        incarnation: UInt64,
        held: [String] = [],
        versions: [String: UInt64] = [:]
    )
        -> Weft_Heartbeat
    {
        .with {
            $0.job = "worker"
            $0.task = Int32(task)
            $0.incarnation = incarnation
            $0.held = held
            $0.recordVersions = versions
        }
    }

    func node(_ name: String, on device: DeviceName) -> Tensorflow_NodeDef {
        .with {
            $0.name = name
            $0.op = "NoOp"
            $0.device = device.description
        }
    }

    func session(
        _ handle: String,
        _ nodes: [Tensorflow_NodeDef],
        lease: Duration = .seconds(30)
    ) throws
        -> CoordinatorSession
    {
        let graph = try RuntimeGraph(nodes: nodes)
        let strategy = try PlacementStrategies.named("explicit")
        return CoordinatorSession(
            handle: handle,
            client: "client-1",
            owner: nil,
            strategy: strategy,
            options: PlacementOptions(),
            nodes: nodes,
            library: Tensorflow_FunctionDefLibrary(),
            graph: graph,
            placement: try PlacementStrategies.place(graph, on: [task0, task1], strategy: strategy),
            lease: lease,
            now: start
        )
    }

    /// Two workers (incarnations 10 and 11) and session `s1` with a node on each.
    func cluster(lease: Duration = .seconds(30)) throws -> ClusterState {
        var cluster = ClusterState(.init(heartbeatTimeout: .seconds(1), incarnation: Self.incarnation))
        _ = try cluster.register(registration(0, incarnation: 10), task: 0, now: start)
        _ = try cluster.register(registration(1, incarnation: 11), task: 1, now: start)
        #expect(cluster.open(try session("s1", [node("a", on: task0), node("b", on: task1)], lease: lease)))
        return cluster
    }

    func targets(_ names: String...) throws -> RunSignature {
        try RunSignature(feeds: [String](), fetches: [String](), targets: names)
    }

    func startStep(
        _ cluster: inout ClusterState,
        _ names: String...,
        at now: ContinuousClock.Instant? = nil
    ) throws
        -> ClusterState.StepSetup
    {
        try cluster.startStep(
            "s1",
            signature: try RunSignature(feeds: [String](), fetches: [String](), targets: names),
            caller: nil,
            client: "client-1",
            now: now ?? start
        )
    }

    /// The steps driven and the event, for each `driveSteps` directive.
    func driven(_ directives: [ClusterState.Directive]) -> [(steps: [UInt64], event: StepMachine.Event)] {
        directives.compactMap { directive in
            guard case .driveSteps(let steps, let event) = directive else { return nil }
            return (steps, event)
        }
    }

    func diedSteps(_ directives: [ClusterState.Directive]) -> [UInt64: WeftError] {
        var died: [UInt64: WeftError] = [:]
        for (steps, event) in driven(directives) {
            if case .workerDied(_, let error) = event { for step in steps { died[step] = error } }
        }
        return died
    }

    func cancelledSteps(_ directives: [ClusterState.Directive]) -> [UInt64: WeftError] {
        var cancelled: [UInt64: WeftError] = [:]
        for (steps, event) in driven(directives) {
            if case .cancelled(let error) = event { for step in steps { cancelled[step] = error } }
        }
        return cancelled
    }

    func released(_ directives: [ClusterState.Directive]) -> [String: [String]] {
        var released: [String: [String]] = [:]
        for case .release(let session, _, let addresses) in directives { released[session] = addresses }
        return released
    }

    // MARK: Workers

    @Test func restartedWorker_breaksItsSessions_andFailsTheStepsOnIt() throws {
        var cluster = try cluster()
        let running = try startStep(&cluster, "a", "b")
        cluster.partitionsRegistered(running, on: [task0, task1])
        let (registration, _, directives) = try cluster.register(registration(0, incarnation: 99), task: 0, now: start)
        #expect(registration == .restarted(task0))
        #expect(diedSteps(directives)[running.token]?.code == .aborted)
        guard
            case .sessionsBroken(let broken, let device)? = directives.first(where: {
                if case .sessionsBroken = $0 { return true } else { return false }
            })
        else {
            Issue.record("expected the session to break, got \(directives)")
            return
        }
        #expect(broken == ["s1"] && device == task0)
        // The session stays broken: every step and extension now gets `aborted`.
        #expect(throws: WeftError.self) { try startStep(&cluster, "a") }
        #expect((try? cluster.session("s1", caller: nil, client: "client-1")) == nil)
        #expect(cluster.sessions["s1"]?.broken?.code == .aborted)
    }

    @Test func sameProcessRejoining_breaksNothing() throws {
        var cluster = try cluster()
        let running = try startStep(&cluster, "a", "b")
        cluster.partitionsRegistered(running, on: [task0, task1])
        let (registration, _, directives) = try cluster.register(registration(0, incarnation: 10), task: 0, now: start)
        #expect(registration == .rejoined(task0))
        #expect(directives.isEmpty)
        #expect(cluster.sessions["s1"]?.broken == nil)
    }

    @Test func silentWorker_isDeclaredDead_andFailsOnlyTheStepsThatNeedIt() throws {
        var cluster = try cluster()
        let both = try startStep(&cluster, "a", "b")
        let onlyTask1 = try startStep(&cluster, "b")
        // task1 keeps sending heartbeats, task0 falls silent.
        _ = cluster.heartbeat(heartbeat(1, incarnation: 11), now: start + .milliseconds(900))
        #expect(diedSteps(cluster.tick(now: start + .milliseconds(900))).isEmpty)
        let directives = cluster.tick(now: start + .milliseconds(1500))
        let died = diedSteps(directives)
        #expect(died.keys.sorted() == [both.token])
        #expect(died[both.token]?.code == .unavailable)
        #expect(died[both.token]?.message.contains("no heartbeat") == true)
        #expect(directives.contains { if case .workerDeclaredDead(let w) = $0 { w.device == task0 } else { false } })
        #expect(cluster.membership.healthyDevices == [task1])
        // Each tick lets every step check its deadline.
        #expect(driven(directives).contains { $0.steps == [both.token, onlyTask1.token] })
        // A new step that needs the dead worker is refused at once.
        #expect(throws: WeftError.self) { try startStep(&cluster, "a") }
    }

    @Test func workerThatLeaves_failsItsStepsAtOnce_butAnOlderProcessCannotSayItLeft() throws {
        var cluster = try cluster()
        let running = try startStep(&cluster, "b")
        let (stale, nothing) = cluster.leave(task1, incarnation: 3)
        #expect(stale == nil && nothing.isEmpty)
        let (worker, directives) = cluster.leave(task1, incarnation: 11)
        #expect(worker?.device == task1)
        #expect(diedSteps(directives)[running.token]?.message.contains("left the cluster") == true)
        #expect(cluster.membership.healthyDevices == [task0])
    }

    @Test func stepThatEnded_isNotFailedAgain_soALateFailureChangesNothing() throws {
        var cluster = try cluster()
        let setup = try startStep(&cluster, "a")
        var step = StepMachine(
            participants: Set(setup.plan.partitions.keys),
            toRegister: setup.toRegister,
            registrationTimeout: .seconds(1),
            stepTimeout: .seconds(5),
            grace: .seconds(1)
        )
        _ = step.start(at: start)
        _ = step.handle(.partitionRegistered(task0), at: start)
        // The worker dies: the step fails and answers its client.
        let died = diedSteps(cluster.tick(now: start + .seconds(2)))
        let failed = step.handle(.workerDied(task0, try #require(died[setup.token])), at: start + .seconds(2))
        #expect(failed.contains { if case .reply(.failure) = $0 { true } else { false } })
        cluster.stepEnded(setup.token)
        // Its reply arrives late: the step's machine ignores it, the cluster no longer knows it.
        #expect(step.handle(.partitionReplied(task0, .ok), at: start + .seconds(3)).isEmpty)
        #expect(cluster.inFlight.isEmpty)
        _ = try cluster.register(registration(0, incarnation: 10), task: 0, now: start + .seconds(3))
        #expect(diedSteps(cluster.leave(task0, incarnation: 10).1).isEmpty)
    }

    @Test func heartbeatFromAnUnknownProcess_asksItToRegister() throws {
        var cluster = try cluster()
        #expect(!cluster.heartbeat(heartbeat(0, incarnation: 12345), now: start).known)
        #expect(!cluster.heartbeat(heartbeat(5, incarnation: 10), now: start).known)
        #expect(
            cluster.heartbeat(heartbeat(0, incarnation: 10), now: start + .milliseconds(300)).silence
                == .milliseconds(300)
        )
    }

    @Test func withKeys_aWorkerCannotClaimAnotherTasksAddress() throws {
        var cluster = ClusterState(.init(heartbeatTimeout: .seconds(1), incarnation: Self.incarnation, secured: true))
        _ = try cluster.register(registration(0, incarnation: 10), task: 0, now: start)
        var impostor = registration(1, incarnation: 11)
        impostor.address = registration(0, incarnation: 10).address
        #expect(throws: WeftError.self) { try cluster.register(impostor, task: 1, now: start) }
    }

    // MARK: Sessions and leases

    @Test func expiredLease_closesTheSession_cancelsItsSteps_andFreesItOnWorkers() throws {
        var cluster = try cluster(lease: .seconds(5))
        let running = try startStep(&cluster, "a", "b", at: start + .seconds(1))
        cluster.partitionsRegistered(running, on: [task0, task1])
        _ = cluster.heartbeat(heartbeat(0, incarnation: 10), now: start + .seconds(5))
        _ = cluster.heartbeat(heartbeat(1, incarnation: 11), now: start + .seconds(5))
        // The step renewed the lease: still open at 5.5 s.
        #expect(
            cluster.tick(now: start + .milliseconds(5500)).allSatisfy {
                if case .leaseExpired = $0 { false } else { true }
            }
        )
        _ = cluster.heartbeat(heartbeat(0, incarnation: 10), now: start + .seconds(6))
        _ = cluster.heartbeat(heartbeat(1, incarnation: 11), now: start + .seconds(6))
        let directives = cluster.tick(now: start + .milliseconds(6500))
        #expect(directives.contains { if case .leaseExpired("s1") = $0 { true } else { false } })
        #expect(cancelledSteps(directives)[running.token]?.code == .cancelled)
        #expect(released(directives)["s1"]?.count == 2)
        #expect(cluster.sessions["s1"] == nil)
        #expect(
            !cluster.heartbeat(heartbeat(0, incarnation: 10, held: ["s1"]), now: start + .seconds(7)).renewed.contains(
                "s1"
            )
        )
    }

    @Test func directSteps_countOnlyForSessionsTheReportingWorkerHolds() throws {
        var cluster = try cluster()
        let running = try startStep(&cluster, "a")
        cluster.partitionsRegistered(running, on: [task0])
        let before = try #require(cluster.sessions["s1"]?.steps)
        var report = heartbeat(0, incarnation: 10)
        report.directStepCounts = ["s1": 3, "unknown": 5]
        report.directSteps = [
            .with {
                $0.session = "s1"
                $0.step = DirectStepID.make(7)
            },
            .with { $0.session = "unknown" },
        ]
        let answer = cluster.heartbeat(report, now: start)
        #expect(cluster.sessions["s1"]?.steps == before + 3)
        #expect(answer.directSteps.map(\.session) == ["s1"])
        // Task 1 holds none of s1's partitions: its report changes nothing.
        var other = heartbeat(1, incarnation: 11)
        other.directStepCounts = ["s1": 4]
        other.directSteps = [.with { $0.session = "s1" }]
        #expect(cluster.heartbeat(other, now: start).directSteps.isEmpty)
        #expect(cluster.sessions["s1"]?.steps == before + 3)
        // A count from a peer saturates rather than traps, and its list is cut to what is kept.
        report.directStepCounts = ["s1": .max]
        report.directSteps = Array(repeating: .with { $0.session = "s1" }, count: 10 * RecentSteps.capacity)
        #expect(cluster.heartbeat(report, now: start).directSteps.count == RecentSteps.capacity)
        #expect(cluster.sessions["s1"]?.steps == .max)
    }

    @Test func keepAlive_renewsOnlyTheClientsOwnSessions() throws {
        var cluster = try cluster(lease: .seconds(5))
        cluster.keepAlive(client: "someone-else", caller: nil, now: start + .seconds(4))
        #expect(cluster.sessions["s1"]?.leaseExpiry == start + .seconds(5))
        cluster.keepAlive(client: "client-1", caller: nil, now: start + .seconds(4))
        #expect(cluster.sessions["s1"]?.leaseExpiry == start + .seconds(9))
    }

    @Test func close_cancelsTheStepsInFlight_andOnlyTheOwnerMayClose() throws {
        var cluster = try cluster()
        let running = try startStep(&cluster, "a")
        #expect(throws: WeftError.self) { try cluster.close("s1", caller: nil, client: "intruder", now: start) }
        let directives = try cluster.close("s1", caller: nil, client: "client-1", now: start)
        #expect(cancelledSteps(directives)[running.token]?.message.contains("closed") == true)
        #expect(released(directives)["s1"] == nil)  // nothing was registered yet: no worker to ask
        #expect(cluster.sessions["s1"] == nil)
        // The step's registrations, if it had not failed yet, are not sent.
        #expect(cluster.contacting(task0, for: "s1") == nil)
        #expect(throws: WeftError.self) { try cluster.close("s1", caller: nil, client: "client-1", now: start) }
    }

    @Test func closedSession_cannotComeBack_fromAWorkerThatWasAway() throws {
        var cluster = try cluster()
        let running = try startStep(&cluster, "a", "b")
        _ = cluster.contacting(task0, for: "s1")
        cluster.partitionsRegistered(running, on: [task0, task1])
        let record = try #require(cluster.sessions["s1"]?.record)
        _ = try cluster.close("s1", caller: nil, client: "client-1", now: start)
        // A worker that last registered with an earlier coordinator brings the closed session.
        let held = Weft_HeldSession.with {
            $0.handle = "s1"
            $0.lastStep = 1
            $0.record = record
        }
        let (_, renewed, _) = try cluster.register(
            registration(1, incarnation: 11, coordinator: 7, holding: [held]),
            task: 1,
            now: start + .seconds(1)
        )
        #expect(renewed.isEmpty)
        #expect(cluster.sessions["s1"] == nil)
        // Nor may a new session take its handle while a worker may still hold its state.
        let reopened = cluster.open(try session("s1", [node("a", on: task0)]))
        #expect(!reopened)
        // Once every worker's own lease on it has run out, nothing is left to bring it back.
        _ = cluster.tick(now: start + .seconds(29))
        #expect(cluster.closed["s1"] != nil)
        _ = cluster.tick(now: start + .seconds(31))
        #expect(cluster.closed["s1"] == nil)
    }

    @Test func clientsCancel_endsOnlyTheStepItNumbered_andOnlyItsOwnerMayCancel() throws {
        var cluster = try cluster()
        let numbered = try cluster.startStep(
            "s1",
            signature: try targets("a"),
            caller: nil,
            client: "client-1",
            clientStep: 7,
            now: start
        )
        _ = try startStep(&cluster, "b")
        #expect(throws: WeftError.self) { try cluster.cancelStep(7, of: "s1", caller: nil, client: "intruder") }
        #expect(cancelledSteps(try cluster.cancelStep(7, of: "s1", caller: nil, client: "client-1")).keys.sorted() == [
            numbered.token
        ])
        // Unnumbered, or a step that already ended: nothing to cancel.
        #expect(try cluster.cancelStep(0, of: "s1", caller: nil, client: "client-1").isEmpty)
        cluster.stepEnded(numbered.token)
        #expect(try cluster.cancelStep(7, of: "s1", caller: nil, client: "client-1").isEmpty)
    }

    @Test func drainingCoordinator_refusesNewSteps() throws {
        var cluster = try cluster()
        cluster.beginDrain()
        #expect(throws: WeftError.self) { try startStep(&cluster, "a") }
    }

    // MARK: Extensions

    @Test func extensionWhileAStepRuns_leavesTheStep_andReachesWorkersWithTheirNextHeartbeat() throws {
        var cluster = try cluster()
        let running = try startStep(&cluster, "a", "b")
        let contact = cluster.contacting(task0, for: "s1")
        let first = try #require(contact)
        #expect(first.leaseMs == 30_000)
        cluster.recordDelivered(try #require(first.record).version, to: task0, for: "s1")
        #expect(cluster.contacting(task0, for: "s1")?.record == nil)  // it has this version already
        // An extension is placed outside the state and applied while the step runs.
        let (base, devices, costModel) = try cluster.extensionBase("s1", caller: nil, client: "client-1")
        let change = try CoordinatorSession.extend(
            base,
            with: [node("c", on: task1)],
            library: Tensorflow_FunctionDefLibrary(),
            devices: devices,
            costModel: costModel
        )
        let placement = try cluster.applyExtension(change, to: "s1", caller: nil, client: "client-1")
        #expect(placement?["c"] == task1)
        // Placed from a graph that is no longer the session's: not applied.
        #expect(try cluster.applyExtension(change, to: "s1", caller: nil, client: "client-1") == nil)
        // The running step keeps its plan; registering it does not mark the new plan registered.
        cluster.partitionsRegistered(running, on: [task0, task1])
        #expect(running.plan.partitions[task1]?.nodes.map(\.name).contains("c") == false)
        #expect(cluster.inFlight[running.token] != nil)
        // The same signature is planned again on the extended graph and registered anew.
        let again = try startStep(&cluster, "a", "b")
        #expect(again.plan.id != running.plan.id)
        #expect(again.toRegister == [task0, task1])
        let next = try startStep(&cluster, "c")
        #expect(next.plan.partitions[task1]?.nodes.map(\.name).contains("c") == true)
        // Both holders get the new record with their next heartbeat's answer, until they hold it.
        let answer = cluster.heartbeat(heartbeat(0, incarnation: 10, held: ["s1"], versions: ["s1": 1]), now: start)
        #expect(answer.renewed == ["s1"])
        #expect(answer.records["s1"]?.version == 2)
        #expect(answer.records["s1"]?.placement.contains { $0.node == "c" } == true)
        let caughtUp = cluster.heartbeat(heartbeat(0, incarnation: 10, held: ["s1"], versions: ["s1": 2]), now: start)
        #expect(caughtUp.records.isEmpty)
        #expect(cluster.contacting(task0, for: "s1")?.record == nil)
        #expect(
            cluster.heartbeat(heartbeat(1, incarnation: 11, held: ["s1"], versions: ["s1": 1]), now: start)
                .records["s1"]?.version == 2
        )
    }
}
