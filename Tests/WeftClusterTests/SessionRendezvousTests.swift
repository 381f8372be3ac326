import Synchronization
import Testing
import WeftRuntime

@testable import WeftCluster

/// The worker's rendezvous as a state machine: local hand-over, and pushes whose arrival (or
/// failure) decides when and how a partition reports its step.
@Suite struct SessionRendezvousTests {
    let key = "/job:worker/task:0;/job:worker/task:1;x:0"

    @Test func failedPush_failsTheStepWhenItsPartitionFinishes() {
        let rendezvous = SessionRendezvous(device: "/job:worker/task:0") { _, _, _, destination, arrived in
            arrived(WeftError(.unavailable, "\(destination) is unreachable"))
        }
        #expect(throws: Never.self) { try rendezvous.send(key: key, step: 7, tensor: Tensor(Float(1))) }
        let outcome = Mutex<WeftError??>(nil)
        rendezvous.afterPushes(step: 7) { error in outcome.withLock { $0 = .some(error) } }
        let reported = outcome.withLock { $0 }
        #expect(reported??.code == .unavailable)
        #expect(reported??.message.contains("/job:worker/task:1") == true)
    }

    @Test func partitionWaitsForPushesInFlight() {
        let pending = Mutex<[@Sendable (WeftError?) -> Void]>([])
        let rendezvous = SessionRendezvous(device: "/job:worker/task:0") { _, _, _, _, arrived in
            pending.withLock { $0.append(arrived) }
        }
        #expect(throws: Never.self) {
            try rendezvous.send(key: key, step: 3, tensor: Tensor(Float(1)))
            try rendezvous.send(key: key + "b", step: 3, tensor: Tensor(Float(2)))
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
        let rendezvous = SessionRendezvous(device: "/job:worker/task:1") { _, _, _, _, arrived in
            arrived(WeftError(.internal, "a local tensor must not be pushed"))
        }
        #expect(throws: Never.self) { try rendezvous.send(key: key, step: 1, tensor: Tensor(Float(5))) }
        let received = Mutex<Tensor?>(nil)
        rendezvous.receive(key: key, step: 1) { result in received.withLock { $0 = try? result.get() } }
        #expect(received.withLock { $0 } == Tensor(Float(5)))
        let settled = Mutex<Bool>(false)
        rendezvous.afterPushes(step: 1) { error in settled.withLock { $0 = error == nil } }
        #expect(settled.withLock { $0 })
    }
}
