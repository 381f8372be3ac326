import Testing
import WeftPlacement
import WeftRuntime

@testable import WeftCluster

/// Registration, heartbeats and expiry, with an injected clock.
@Suite struct MembershipTests {
    let start = ContinuousClock.now

    @Test func registrationAndHeartbeats_trackHealth() throws {
        var membership = Membership(heartbeatTimeout: .seconds(2))
        let device = DeviceName(job: "worker", task: 0)
        #expect(
            try membership.register(job: "worker", task: 0, address: "tcp://a:1", incarnation: 1, now: start)
                == .joined(device)
        )
        let beat = membership.heartbeat(
            device: device,
            incarnation: 1,
            sessions: 0,
            residentBytes: 0,
            now: start + .seconds(1)
        )
        #expect(beat)
        #expect(membership.expire(now: start + .seconds(2)) == [])
        #expect(membership.expire(now: start + .seconds(4)) == [device])
        #expect(membership.healthyDevices == [])
        #expect(
            try membership.register(
                job: "worker",
                task: 0,
                address: "tcp://a:1",
                incarnation: 1,
                now: start + .seconds(5)
            ) == .rejoined(device)
        )
        #expect(
            try membership.register(
                job: "worker",
                task: 0,
                address: "tcp://a:1",
                incarnation: 2,
                now: start + .seconds(6)
            ) == .restarted(device)
        )
        let staleBeat = membership.heartbeat(
            device: device,
            incarnation: 1,
            sessions: 0,
            residentBytes: 0,
            now: start + .seconds(6)
        )
        #expect(!staleBeat, "a heartbeat from an old incarnation is refused")
    }

    @Test func taskIds_areAssignedAndConflictsRefused() throws {
        var membership = Membership(heartbeatTimeout: .seconds(2))
        #expect(
            try membership.register(job: "worker", task: nil, address: "tcp://a:1", incarnation: 1, now: start)
                == .joined(DeviceName(job: "worker", task: 0))
        )
        #expect(
            try membership.register(job: "worker", task: nil, address: "tcp://b:1", incarnation: 2, now: start)
                == .joined(DeviceName(job: "worker", task: 1))
        )
        let error = try #require(throws: WeftError.self) {
            try membership.register(job: "worker", task: 0, address: "tcp://c:1", incarnation: 3, now: start)
        }
        #expect(error.code == .alreadyExists)
    }
}
