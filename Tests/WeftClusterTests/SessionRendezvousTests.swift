import Synchronization
import Testing
import WeftRuntime

@testable import WeftCluster

/// The worker's rendezvous as a state machine: local hand-over, and pushes whose arrival (or
/// failure) decides when and how a partition reports its step.
@Suite struct SessionRendezvousTests {
    let key = "/job:worker/task:0;/job:worker/task:1;x:0"

    @Test func failedPush_failsTheStepWhenItsPartitionFinishes() {
        let rendezvous = SessionRendezvous(device: "/job:worker/task:0") { pushes, _, destination in
            for push in pushes { push.arrived(WeftError(.unavailable, "\(destination) is unreachable")) }
        }
        #expect(throws: Never.self) { try rendezvous.send([RendezvousSend(key: key, tensor: Tensor(Float(1)))], step: 7) }
        let outcome = Mutex<WeftError??>(nil)
        rendezvous.afterPushes(step: 7) { error in outcome.withLock { $0 = .some(error) } }
        let reported = outcome.withLock { $0 }
        #expect(reported??.code == .unavailable)
        #expect(reported??.message.contains("/job:worker/task:1") == true)
    }

    @Test func partitionWaitsForPushesInFlight() {
        let pending = Mutex<[@Sendable (WeftError?) -> Void]>([])
        let rendezvous = SessionRendezvous(device: "/job:worker/task:0") { pushes, _, _ in
            pending.withLock { $0.append(contentsOf: pushes.map(\.arrived)) }
        }
        #expect(throws: Never.self) {
            try rendezvous.send([RendezvousSend(key: key, tensor: Tensor(Float(1)))], step: 3)
            try rendezvous.send([RendezvousSend(key: key + "b", tensor: Tensor(Float(2)))], step: 3)
        }
        let settled = Mutex<[WeftError?]>([])
        rendezvous.afterPushes(step: 3) { error in settled.withLock { $0.append(error) } }
        #expect(settled.withLock { $0.isEmpty }, "two pushes are still in flight")
        let arrivals = pending.withLock { $0 }
        arrivals[0](nil)
        #expect(settled.withLock { $0.isEmpty }, "one push is still in flight")
        arrivals[1](nil)
        #expect(settled.withLock { $0.count == 1 && $0[0] == nil })
    }

    @Test func localHandOver_needsNoPush() {
        let rendezvous = SessionRendezvous(device: "/job:worker/task:1") { pushes, _, _ in
            for push in pushes { push.arrived(WeftError(.internal, "a local tensor must not be pushed")) }
        }
        #expect(throws: Never.self) { try rendezvous.send([RendezvousSend(key: key, tensor: Tensor(Float(5)))], step: 1) }
        let received = Mutex<Tensor?>(nil)
        rendezvous.receive(key: key, step: 1) { result in received.withLock { $0 = try? result.get() } }
        #expect(received.withLock { $0 } == Tensor(Float(5)))
        let settled = Mutex<Bool>(false)
        rendezvous.afterPushes(step: 1) { error in settled.withLock { $0 = error == nil } }
        #expect(settled.withLock { $0 })
    }

    @Test func sendsMadeTogether_goInOnePushPerDestination_andLocalOnesStay() {
        let pushed = Mutex<[(destination: String, keys: [String])]>([])
        let rendezvous = SessionRendezvous(device: "/job:worker/task:0") { pushes, _, destination in
            pushed.withLock { $0.append((destination, pushes.map(\.key))) }
        }
        let toTask1 = "/job:worker/task:0;/job:worker/task:1;"
        let toTask2 = "/job:worker/task:0;/job:worker/task:2;"
        let local = "/job:worker/task:0;/job:worker/task:0;z:0"
        let sends = [toTask1 + "a:0", toTask2 + "b:0", local, toTask1 + "c:0"].map {
            RendezvousSend(key: $0, tensor: Tensor(Float(1)))
        }
        #expect(throws: Never.self) { try rendezvous.send(sends, step: 4) }
        let groups = pushed.withLock { $0 }
        #expect(groups.map(\.destination) == ["/job:worker/task:1", "/job:worker/task:2"])
        #expect(groups.map(\.keys) == [[toTask1 + "a:0", toTask1 + "c:0"], [toTask2 + "b:0"]])
        let received = Mutex<Tensor?>(nil)
        rendezvous.receive(key: local, step: 4) { result in received.withLock { $0 = try? result.get() } }
        #expect(received.withLock { $0 } == Tensor(Float(1)))
    }
}
