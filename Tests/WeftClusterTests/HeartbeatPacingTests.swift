import Testing
import WeftPlacement
import WeftProto
import WeftRuntime

@testable import WeftCluster

/// The heartbeat pace slows as the cluster grows, so an idle cluster's heartbeats stay within
/// the coordinator's budget, and never speeds up again.
@Suite struct HeartbeatPacingTests {
    @Test func smallCluster_keepsTheConfiguredPace() {
        var pacing = HeartbeatPacing(interval: .milliseconds(250), timeout: .milliseconds(1500), budget: 100)
        let changed = pacing.cluster(of: 25)
        #expect(!changed)
        #expect(pacing.interval == .milliseconds(250))
        #expect(pacing.timeout == .milliseconds(1500))
    }

    @Test(arguments: [(100, 1_000), (250, 4_000), (1000, 16_000)])
    func growingCluster_staysWithinTheBudget(workers: Int, milliseconds: Int64) {
        var pacing = HeartbeatPacing(interval: .milliseconds(250), timeout: .milliseconds(1500), budget: 100)
        let changed = pacing.cluster(of: workers)
        #expect(changed)
        #expect(pacing.interval == .milliseconds(milliseconds))
        #expect(Double(workers) / (pacing.interval / .seconds(1)) <= 100)
        // As many heartbeats may be missed as configured: six.
        #expect(pacing.timeout == pacing.interval * 6)
    }

    @Test func shrinkingCluster_keepsTheSlowerPace() {
        var pacing = HeartbeatPacing(interval: .milliseconds(250), timeout: .milliseconds(1500), budget: 100)
        _ = pacing.cluster(of: 400)
        let slow = pacing.interval
        let changed = pacing.cluster(of: 3)
        #expect(!changed)
        #expect(pacing.interval == slow)
    }

    @Test func clusterState_slowsHeartbeatsAndTheirTimeout_asWorkersRegister() throws {
        var configuration = ClusterState.Configuration(heartbeatTimeout: .seconds(1), incarnation: 1)
        configuration.heartbeatInterval = .milliseconds(200)
        configuration.heartbeatBudget = 10
        var cluster = ClusterState(configuration)
        let start = ContinuousClock.now
        for task in 0..<5 {
            _ = try cluster.register(
                .with {
                    $0.job = "worker"
                    $0.task = Int32(task)
                    $0.address = "tcp://127.0.0.1:\(7100 + task)"
                    $0.incarnation = UInt64(task + 1)
                },
                task: task,
                now: start
            )
        }
        // Five workers at 200 ms send 25 a second; 800 ms brings them to 6.25.
        #expect(cluster.pacing.interval == .milliseconds(800))
        #expect(cluster.membership.heartbeatTimeout == .seconds(4))
        // Silent for longer than the configured timeout but not the paced one: still healthy.
        _ = cluster.tick(now: start + .seconds(3))
        #expect(cluster.membership.healthyDevices.count == 5)
        _ = cluster.tick(now: start + .seconds(5))
        #expect(cluster.membership.healthyDevices.isEmpty)
    }

    @Test func workerRegistration_takesTheIntervalAHeartbeatAnswerCarries() {
        var machine = WorkerRegistration()
        _ = machine.registered(
            as: DeviceName(job: "worker", task: 0),
            heartbeatInterval: .milliseconds(250),
            coordinatorIncarnation: 1
        )
        let paced = machine.heartbeatAnswered(nil, interval: .seconds(2))
        let kept = machine.heartbeatAnswered(nil)
        let unchanged = machine.heartbeatAnswered(nil, interval: .zero)
        #expect(paced == [.heartbeat(after: .seconds(2))])
        #expect(kept == [.heartbeat(after: .seconds(2))])
        #expect(unchanged == [.heartbeat(after: .seconds(2))])
    }
}
