import Testing
import WeftProto
import WeftRuntime
import WeftTransport

@testable import WeftCluster
@testable import WeftPlacement

/// The rules of one step, driven by events with an injected clock: no sockets, no sleeps.
@Suite struct StepMachineTests {
    let start = ContinuousClock.now
    let a = DeviceName(job: "worker", task: 0)
    let b = DeviceName(job: "worker", task: 1)
    let c = DeviceName(job: "worker", task: 2)

    func machine(toRegister: [DeviceName] = [], stepTimeout: Duration = .seconds(10)) -> StepMachine {
        StepMachine(
            participants: [a, b],
            toRegister: toRegister,
            registrationTimeout: .seconds(2),
            stepTimeout: stepTimeout,
            grace: .seconds(1)
        )
    }

    func reply(_ value: Float) -> WireMessage {
        WireMessage.reply(tensors: [Tensor(value)])
    }

    /// The error the client got, if the directives answer it with one.
    func failure(_ directives: [StepMachine.Directive]) -> WeftError? {
        for case .reply(.failure(let error)) in directives { return error }
        return nil
    }

    func replies(_ directives: [StepMachine.Directive]) -> [DeviceName: WireMessage]? {
        for case .reply(.success(let replies)) in directives { return replies }
        return nil
    }

    func aborted(_ directives: [StepMachine.Directive]) -> [DeviceName]? {
        for case .abortPartitions(let devices, _) in directives { return devices }
        return nil
    }

    @Test func registeredPartitions_runAtOnce_andAllRepliesAnswerTheClient() {
        var step = machine()
        let started = step.start(at: start)
        guard case .runPartitions(let registered) = started.first else {
            Issue.record("expected the partitions to run, got \(started)")
            return
        }
        #expect(registered.isEmpty)
        #expect(step.handle(.partitionReplied(a, reply(1)), at: start).isEmpty)
        let done = step.handle(.partitionReplied(b, reply(2)), at: start)
        #expect(replies(done)?.keys.sorted() == [a, b])
        #expect(step.phase == .done)
    }

    @Test func missingPartitions_registerFirst_thenRun() {
        var step = machine(toRegister: [b])
        let started = step.start(at: start)
        guard case .registerPartition(let device) = started.first, started.count == 1 else {
            Issue.record("expected one registration, got \(started)")
            return
        }
        #expect(device == b)
        // A run reply cannot arrive before the run: ignored.
        #expect(step.handle(.partitionReplied(b, reply(1)), at: start).isEmpty)
        let running = step.handle(.partitionRegistered(b), at: start)
        guard case .runPartitions(let registered) = running.first else {
            Issue.record("expected the run, got \(running)")
            return
        }
        #expect(registered == [b])
        #expect(step.phase == .running)
    }

    @Test func failedRegistration_failsTheStep_withoutAborting() {
        var step = machine(toRegister: [a, b])
        _ = step.start(at: start)
        let error = WeftError(.invalidArgument, "bad partition")
        let failed = step.handle(.partitionFailed(a, error), at: start)
        #expect(failure(failed) == error)
        #expect(aborted(failed) == nil)  // nothing ran yet
        #expect(step.handle(.partitionRegistered(b), at: start).isEmpty)
    }

    @Test func deadWorker_failsTheStepInFlight_andAbortsItsPartitions() {
        var step = machine()
        _ = step.start(at: start)
        _ = step.handle(.partitionReplied(a, reply(1)), at: start)
        let error = WeftError(.unavailable, "worker /job:worker/task:1 is unavailable")
        let failed = step.handle(.workerDied(b, error), at: start + .seconds(1))
        #expect(failure(failed) == error)
        #expect(aborted(failed) == [a, b])
        #expect(step.phase == .failed(error))
    }

    @Test func deadWorkerOutsideTheStep_changesNothing() {
        var step = machine()
        _ = step.start(at: start)
        #expect(step.handle(.workerDied(c, WeftError(.unavailable, "gone")), at: start).isEmpty)
        #expect(step.phase == .running)
    }

    @Test func lateReplyAfterAFailure_isIgnored() {
        var step = machine()
        _ = step.start(at: start)
        let error = WeftError(.unavailable, "worker gone")
        _ = step.handle(.workerDied(a, error), at: start)
        #expect(step.handle(.partitionReplied(a, reply(1)), at: start).isEmpty)
        #expect(step.handle(.partitionReplied(b, reply(2)), at: start).isEmpty)
        #expect(step.handle(.partitionFailed(b, WeftError(.internal, "late")), at: start).isEmpty)
        #expect(step.phase == .failed(error))
    }

    @Test func duplicateReply_isIgnored() {
        var step = machine()
        _ = step.start(at: start)
        #expect(step.handle(.partitionReplied(a, reply(1)), at: start).isEmpty)
        #expect(step.handle(.partitionReplied(a, reply(5)), at: start).isEmpty)
        let done = step.handle(.partitionReplied(b, reply(2)), at: start)
        #expect(replies(done)?[a]?.tensors.first?.scalar(as: Float.self) == 1)
        // After the answer, a copy of a reply changes nothing either.
        #expect(step.handle(.partitionReplied(b, reply(3)), at: start).isEmpty)
    }

    @Test func deadline_failsTheStepWithDeadlineExceeded_onlyOnceGraceHasPassed() {
        var step = machine(stepTimeout: .seconds(3))
        _ = step.start(at: start)
        _ = step.handle(.partitionReplied(a, reply(1)), at: start)
        // The worker's own answer may still come during the grace second.
        #expect(step.handle(.deadline, at: start + .seconds(3)).isEmpty)
        let failed = step.handle(.deadline, at: start + .seconds(4))
        #expect(failure(failed)?.code == .deadlineExceeded)
        #expect(failure(failed)?.message.contains("\(b)") == true)
        #expect(failure(failed)?.message.contains("\(a)") == false)
        #expect(aborted(failed) == [a, b])
    }

    @Test func registrationDeadline_isTheRequestTimeout() {
        var step = machine(toRegister: [a])
        _ = step.start(at: start)
        #expect(step.handle(.deadline, at: start + .seconds(1)).isEmpty)
        let failed = step.handle(.deadline, at: start + .seconds(2))
        #expect(failure(failed)?.code == .deadlineExceeded)
        #expect(aborted(failed) == nil)
    }

    @Test func runDeadline_countsFromTheRun_notFromRegistration() {
        var step = machine(toRegister: [a], stepTimeout: .seconds(3))
        _ = step.start(at: start)
        _ = step.handle(.partitionRegistered(a), at: start + .milliseconds(1900))
        // 1.9 s of registration, then 3 s and the grace second of running.
        #expect(step.handle(.deadline, at: start + .milliseconds(5800)).isEmpty)
        #expect(failure(step.handle(.deadline, at: start + .milliseconds(5900)))?.code == .deadlineExceeded)
    }

    @Test func cancel_failsTheStepWithTheGivenError() {
        var step = machine()
        _ = step.start(at: start)
        let error = WeftError(.cancelled, "session closed")
        let failed = step.handle(.cancelled(error), at: start)
        #expect(failure(failed) == error)
        #expect(aborted(failed) == [a, b])
        #expect(step.handle(.cancelled(error), at: start).isEmpty)
    }

    @Test func stepWithoutPartitions_answersAtOnce() {
        var step = StepMachine(
            participants: [],
            toRegister: [],
            registrationTimeout: .seconds(1),
            stepTimeout: .seconds(1),
            grace: .seconds(1)
        )
        #expect(replies(step.start(at: start))?.isEmpty == true)
        #expect(step.phase == .done)
    }
}

/// The session-side rules steps depend on: a restart breaks a session once, and an extension
/// leaves the plans of steps already running untouched.
@Suite struct CoordinatorSessionTests {
    let device = DeviceName(job: "worker", task: 0)

    func node(_ name: String, op: String = "NoOp") -> Tensorflow_NodeDef {
        .with {
            $0.name = name
            $0.op = op
            $0.device = "/job:worker/task:0"
        }
    }

    func session(_ nodes: [Tensorflow_NodeDef]) throws -> CoordinatorSession {
        try ClusterStateTests().session("s1", nodes)
    }

    @Test func restartedHost_breaksTheSession_otherIncarnationsDoNot() throws {
        var session = try session([node("a")])
        #expect(session.breakIfRestarted(device, incarnation: 7) == nil)  // holds nothing there yet
        session.hosts[device] = 7
        #expect(session.breakIfRestarted(device, incarnation: 7) == nil)
        let broken = session.breakIfRestarted(device, incarnation: 8)
        #expect(broken?.code == .aborted)
        // Broken for good: the state is gone even if the old incarnation were seen again.
        #expect(session.breakIfRestarted(device, incarnation: 7) == broken)
    }

    @Test func extensionWhileAStepRuns_leavesItsPlan_andTheNextStepSeesTheNewNodes() throws {
        var session = try session([node("a")])
        let signature = try RunSignature(feeds: [String](), fetches: [String](), targets: ["a"])
        let running = try session.plan(for: signature)
        var step = StepMachine(
            participants: Set(running.partitions.keys),
            toRegister: [],
            registrationTimeout: .seconds(1),
            stepTimeout: .seconds(5),
            grace: .seconds(1)
        )
        _ = step.start(at: .now)
        let change = try CoordinatorSession.extend(
            session.base,
            with: [node("b")],
            library: Tensorflow_FunctionDefLibrary(),
            devices: [device],
            costModel: .default
        )
        let applied = session.apply(change)
        #expect(applied)
        // Placed from a graph that is no longer the session's: refused, nothing changes.
        let again = session.apply(change)
        #expect(!again)
        // The running step keeps its partitions and finishes with them.
        #expect(running.partitions[device]?.nodes.map(\.name).contains("a") == true)
        let done = step.handle(.partitionReplied(device, .ok), at: .now)
        #expect(step.phase == .done)
        #expect(done.count == 1)
        // The next step is planned again, on the extended graph.
        let next = try session.plan(for: try RunSignature(feeds: [String](), fetches: [String](), targets: ["b"]))
        #expect(next.id != running.id)
        #expect(next.partitions[device]?.nodes.map(\.name).contains("b") == true)
        #expect(session.placement["b"] == device)
    }

    @Test func runRequests_goOutFewestFedBytesFirst() throws {
        let (a, b, c) = (
            DeviceName(job: "ps", task: 0), DeviceName(job: "worker", task: 0), DeviceName(job: "worker", task: 1)
        )
        let feeds = [Tensor([Float](repeating: 1, count: 1000)), Tensor([Float](repeating: 1, count: 10))]
        let partitions: [DeviceName: Partition] = [
            a: Partition(device: a, feeds: [(TensorName(node: "big", index: 0), 0)]),
            b: Partition(device: b),
            c: Partition(device: c, feeds: [(TensorName(node: "small", index: 0), 1)]),
        ]
        let order = Coordinator.dispatchOrder(partitions, feeds: feeds).map(\.0)
        #expect(order == [b, c, a], "the partition without feeds first, then by bytes")
    }
}
