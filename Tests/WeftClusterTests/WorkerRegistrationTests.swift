import Testing
import WeftPlacement
import WeftRuntime

@testable import WeftCluster

/// A worker's registration and heartbeats, without sockets or timers.
@Suite struct WorkerRegistrationTests {
    let device = DeviceName(job: "worker", task: 3)

    @Test func registration_isRetriedUntilAnswered_andTheSameFailureIsToldOnce() {
        var machine = WorkerRegistration()
        #expect(machine.start() == [.register(after: .zero)])
        let refused = WeftError(.permissionDenied, "not yours")
        #expect(
            machine.registrationFailed(refused)
                == [.registrationFailed(refused, isNew: true), .register(after: WorkerRegistration.retryPause)]
        )
        #expect(machine.registrationFailed(refused).first == .registrationFailed(refused, isNew: false))
        #expect(machine.lastError == refused)
        #expect(
            machine.registered(as: device, heartbeatInterval: .milliseconds(250), coordinatorIncarnation: 5)
                == [.registered(device, first: true, coordinatorRestarted: false), .heartbeat(after: .milliseconds(250))]
        )
        #expect(machine.lastError == nil)
        #expect(machine.device == device)
    }

    @Test func heartbeats_followAtTheInterval_andNotFoundRegistersAgain() {
        var machine = WorkerRegistration()
        _ = machine.start()
        _ = machine.registered(as: device, heartbeatInterval: .milliseconds(100), coordinatorIncarnation: 5)
        #expect(machine.heartbeatAnswered(nil) == [.heartbeat(after: .milliseconds(100))])
        // A silent coordinator: the next heartbeat in its time; the coordinator decides who is dead.
        #expect(machine.heartbeatAnswered(WeftError(.unavailable, "gone")) == [.heartbeat(after: .milliseconds(100))])
        #expect(machine.heartbeatAnswered(WeftError(.notFound, "who?")) == [.forgotten, .register(after: .zero)])
    }

    @Test func restartedCoordinator_isToldApartByItsIncarnation() {
        var machine = WorkerRegistration()
        _ = machine.registered(as: device, heartbeatInterval: .milliseconds(100), coordinatorIncarnation: 5)
        #expect(
            machine.registered(as: device, heartbeatInterval: .milliseconds(100), coordinatorIncarnation: 5).first
                == .registered(device, first: false, coordinatorRestarted: false)
        )
        #expect(
            machine.registered(as: device, heartbeatInterval: .milliseconds(100), coordinatorIncarnation: 6).first
                == .registered(device, first: false, coordinatorRestarted: true)
        )
        #expect(machine.coordinatorIncarnation == 6)
    }

    @Test func tinyInterval_isRaisedToTheShortest() {
        var machine = WorkerRegistration()
        #expect(
            machine.registered(as: device, heartbeatInterval: .zero, coordinatorIncarnation: 1).last
                == .heartbeat(after: WorkerRegistration.shortestInterval)
        )
    }

    @Test func stoppedMachine_sendsNothingMore() {
        var machine = WorkerRegistration()
        _ = machine.registered(as: device, heartbeatInterval: .milliseconds(100), coordinatorIncarnation: 1)
        machine.stop()
        #expect(machine.heartbeatAnswered(nil) == [])
        #expect(machine.heartbeatAnswered(WeftError(.notFound, "who?")) == [])
        #expect(machine.registrationFailed(WeftError(.unavailable, "gone")) == [])
        #expect(machine.start() == [])
    }
}
