import Testing
import WeftRuntime

@testable import WeftCluster

/// A client's session and lease, driven with instants made up by the test: no sockets, no sleeps.
@Suite struct ClientSessionMachineTests {
    typealias Machine = ClientSessionMachine
    let t0 = ContinuousClock.now
    let unavailable = WeftError(.unavailable, "no answer")

    func machine(lease: Duration = .seconds(30), closeTimeout: Duration = .seconds(5)) -> Machine {
        Machine(handle: "s1", coordinator: "tcp://c:1", lease: lease, closeTimeout: closeTimeout, openedAt: t0)
    }

    @Test func openSession_renewsItsLeaseEveryThirdOfIt() {
        var machine = machine()
        #expect(machine.isOpen)
        #expect(machine.start == [.wakeForRenewal(at: t0 + .seconds(10))])
        #expect(
            machine.renewalDue(at: t0 + .seconds(10))
                == [.sendKeepAlive(timeout: .seconds(10)), .wakeForRenewal(at: t0 + .seconds(20))]
        )
        // A wake-up that comes early only waits again.
        #expect(machine.renewalDue(at: t0 + .seconds(15)) == [.wakeForRenewal(at: t0 + .seconds(20))])
    }

    @Test func replyFromTheCoordinator_postponesTheRenewal() {
        var machine = machine()
        #expect(machine.replied(at: t0 + .seconds(7)) == [])
        // The coordinator renewed the lease at 7 s: no keep-alive at 10 s, the next at 17 s.
        #expect(machine.renewalDue(at: t0 + .seconds(10)) == [.wakeForRenewal(at: t0 + .seconds(17))])
        #expect(machine.renewalDue(at: t0 + .seconds(17)).first == .sendKeepAlive(timeout: .seconds(10)))
        // An older reply that arrives late never brings the renewal forward.
        #expect(machine.replied(at: t0 + .seconds(1)) == [])
        #expect(machine.phase == .open(renewal: t0 + .seconds(27)))
    }

    @Test func close_isSentOnce_andAcknowledgedClosesTheSession() {
        var machine = machine()
        #expect(machine.closeAsked(at: t0) == [.sendClose(timeout: Machine.closeAttemptTimeout)])
        #expect(!machine.isOpen)
        #expect(machine.closeAsked(at: t0 + .milliseconds(1)) == [])  // closing twice does nothing
        #expect(machine.closeReplied(nil, at: t0 + .milliseconds(3)) == [.closed])
        #expect(machine.phase == .closed)
        #expect(machine.closeAsked(at: t0 + .seconds(1)) == [])
    }

    @Test func failedClose_isRetriedWithDoublingPausesUpToOneSecond() {
        var machine = machine(closeTimeout: .seconds(60))
        _ = machine.closeAsked(at: t0)
        var now = t0
        var pauses: [Duration] = []
        for _ in 0..<8 {
            now += .milliseconds(10)
            guard case .wakeForCloseRetry(let retry)? = machine.closeReplied(unavailable, at: now).first else {
                Issue.record("no retry after a failed attempt")
                return
            }
            pauses.append(retry - now)
            now = retry
            #expect(machine.closeRetryDue(at: now) == [.sendClose(timeout: Machine.closeAttemptTimeout)])
        }
        #expect(pauses.map { $0 / .milliseconds(1) } == [50, 100, 200, 400, 800, 1000, 1000, 1000])
        guard case .closing(let attempt, _, _, let lastError, nil) = machine.phase else {
            Issue.record("not closing: \(machine.phase)")
            return
        }
        #expect(attempt == 9)
        #expect(lastError == unavailable)
    }

    @Test func closeNeverAcknowledged_givesUpAtTheTimeoutWithDeadlineExceeded() {
        var machine = machine(closeTimeout: .seconds(5))
        _ = machine.closeAsked(at: t0)
        var now = t0
        var attempts = 1
        var outcome: [Machine.Directive] = []
        while outcome.isEmpty {
            now += .seconds(1)  // each attempt times out after a while
            let directives = machine.closeReplied(WeftError(.deadlineExceeded, "timed out"), at: now)
            guard case .wakeForCloseRetry(let retry)? = directives.first else {
                outcome = directives
                break
            }
            #expect(retry <= t0 + .seconds(5))
            now = retry
            let next = machine.closeRetryDue(at: now)
            guard case .sendClose(let timeout)? = next.first else {
                outcome = next
                break
            }
            #expect(timeout <= t0 + .seconds(5) - now)  // no attempt outlives the timeout
            attempts += 1
        }
        guard case .closeFailed(let error)? = outcome.first else {
            Issue.record("closing did not fail: \(outcome)")
            return
        }
        #expect(error.code == .deadlineExceeded)
        #expect(error.message.contains("session s1") && error.message.contains("timed out"))
        #expect(attempts >= 3)
        #expect(machine.phase == .failed(error))
        #expect(machine.closeReplied(nil, at: now + .seconds(1)) == [])  // an answer after giving up
    }

    @Test func lastAttempt_waitsOnlyForWhatIsLeft() {
        var machine = machine(closeTimeout: .seconds(5))
        _ = machine.closeAsked(at: t0)
        _ = machine.closeReplied(unavailable, at: t0 + .milliseconds(4_700))
        #expect(machine.closeRetryDue(at: t0 + .milliseconds(4_750)) == [.sendClose(timeout: .milliseconds(250))])
        // A retry wake-up that fires past the deadline gives up rather than asking again.
        _ = machine.closeReplied(unavailable, at: t0 + .milliseconds(4_800))
        guard case .closeFailed(let error)? = machine.closeRetryDue(at: t0 + .seconds(6)).first else {
            Issue.record("closing did not give up: \(machine.phase)")
            return
        }
        #expect(error.code == .deadlineExceeded)
    }

    @Test func earlyRetryWakeUp_waitsForItsTime() {
        var machine = machine()
        _ = machine.closeAsked(at: t0)
        #expect(machine.closeReplied(unavailable, at: t0) == [.wakeForCloseRetry(at: t0 + .milliseconds(50))])
        #expect(machine.closeRetryDue(at: t0 + .milliseconds(20)) == [.wakeForCloseRetry(at: t0 + .milliseconds(50))])
        #expect(machine.closeRetryDue(at: t0 + .milliseconds(50)).first == .sendClose(timeout: Machine.closeAttemptTimeout))
    }

    @Test func notFound_countsAsClosed() {
        var machine = machine()
        _ = machine.closeAsked(at: t0)
        _ = machine.closeReplied(unavailable, at: t0 + .milliseconds(100))
        _ = machine.closeRetryDue(at: t0 + .milliseconds(150))
        // The first attempt closed it but its answer was lost; the second finds nothing.
        #expect(machine.closeReplied(WeftError(.notFound, "no such session"), at: t0 + .milliseconds(160)) == [.closed])
        #expect(machine.phase == .closed)
    }

    @Test func refusedClose_failsWithTheCoordinatorsError() {
        var machine = machine()
        _ = machine.closeAsked(at: t0)
        let refused = WeftError(.permissionDenied, "session s1 belongs to another client")
        #expect(machine.closeReplied(refused, at: t0 + .milliseconds(5)) == [.closeFailed(refused)])
    }

    @Test func lateRepliesAfterClose_changeNothing() {
        var machine = machine()
        _ = machine.closeAsked(at: t0)
        // A step's or keep-alive's reply, and a renewal wake-up, while closing or after.
        #expect(machine.replied(at: t0 + .seconds(1)) == [])
        #expect(machine.renewalDue(at: t0 + .seconds(10)) == [])
        #expect(machine.closeRetryDue(at: t0 + .seconds(1)) == [])  // no retry while an attempt is in flight
        #expect(machine.closeReplied(nil, at: t0 + .seconds(2)) == [.closed])
        #expect(machine.replied(at: t0 + .seconds(3)) == [])
        #expect(machine.closeReplied(unavailable, at: t0 + .seconds(3)) == [])
        #expect(machine.closeRetryDue(at: t0 + .seconds(3)) == [])
        #expect(machine.renewalDue(at: t0 + .seconds(20)) == [])
        #expect(machine.phase == .closed)
        #expect(!machine.isOpen)
    }
}
