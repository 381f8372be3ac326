import Testing

@testable import WeftCluster

/// A worker's leases on its sessions, with an injected clock and no sockets.
@Suite struct SessionLeasesTests {
    let start = ContinuousClock.now

    @Test func renewal_extendsTheLeaseFromTheAnswer() {
        var leases = SessionLeases()
        leases.registered("s1", lease: .seconds(3), now: start)
        let inquiry = leases.inquiry()
        #expect(inquiry.handles == ["s1"])
        #expect(leases.answered(inquiry, renewed: ["s1"], now: start + .seconds(2)) == [])
        #expect(leases.expire(now: start + .seconds(4)) == [])
        #expect(leases.expiry(of: "s1") == start + .seconds(5))
        #expect(leases.expire(now: start + .seconds(5)) == [.expired("s1")])
        #expect(leases.handles == [])
    }

    @Test func leaseNobodyRenews_expires() {
        var leases = SessionLeases()
        leases.registered("s1", lease: .seconds(3), now: start)
        leases.registered("s2", lease: .seconds(10), now: start)
        #expect(leases.expire(now: start + .milliseconds(2999)) == [])
        #expect(leases.expire(now: start + .seconds(3)) == [.expired("s1")])
        #expect(leases.handles == ["s2"])
    }

    @Test func sessionTheAnswerLeavesOut_isFreedAtOnce() {
        var leases = SessionLeases()
        leases.registered("closed", lease: .seconds(30), now: start)
        leases.registered("kept", lease: .seconds(30), now: start)
        let inquiry = leases.inquiry()
        #expect(leases.answered(inquiry, renewed: ["kept"], now: start + .seconds(1)) == [.free("closed")])
        #expect(leases.handles == ["kept"])
    }

    @Test func sessionRegisteredWhileAnInquiryIsInFlight_isNotFreedEarly() {
        var leases = SessionLeases()
        leases.registered("old", lease: .seconds(3), now: start)
        let inquiry = leases.inquiry()
        // The coordinator registers a partition of a new session before it answers.
        leases.registered("new", lease: .seconds(3), now: start + .milliseconds(10))
        #expect(leases.answered(inquiry, renewed: ["old"], now: start + .milliseconds(20)) == [])
        #expect(leases.handles == ["new", "old"])
        #expect(leases.expire(now: start + .seconds(2)) == [])
    }

    @Test func sessionReleasedAndRegisteredAgainWhileInFlight_keepsItsNewRegistration() {
        var leases = SessionLeases()
        leases.registered("s1", lease: .seconds(3), now: start)
        let inquiry = leases.inquiry()
        leases.released("s1")
        leases.registered("s1", lease: .seconds(3), now: start + .milliseconds(5))
        // The answer speaks of the registration that was released: the new one stays.
        #expect(leases.answered(inquiry, renewed: [], now: start + .milliseconds(10)) == [])
        #expect(leases.handles == ["s1"])
    }

    @Test func releasedSession_isForgottenAndNeverExpires() {
        var leases = SessionLeases()
        leases.registered("s1", lease: .seconds(1), now: start)
        leases.released("s1")
        #expect(leases.expire(now: start + .seconds(5)) == [])
        #expect(leases.answered(leases.inquiry(), renewed: ["s1"], now: start) == [])
        #expect(leases.handles == [])
    }

    @Test func laterRegistration_neverShortensALease() {
        var leases = SessionLeases()
        leases.registered("s1", lease: .seconds(10), now: start)
        leases.registered("s1", lease: .seconds(1), now: start + .seconds(1))
        #expect(leases.expiry(of: "s1") == start + .seconds(10))
        // Renewals from then on use the newest duration.
        _ = leases.answered(leases.inquiry(), renewed: ["s1"], now: start + .seconds(20))
        #expect(leases.expiry(of: "s1") == start + .seconds(21))
    }

    @Test func restartedCoordinatorAdoptingSome_freesTheRest() {
        var leases = SessionLeases()
        for handle in ["a", "b", "c"] { leases.registered(handle, lease: .seconds(30), now: start) }
        // The registration with the new coordinator names all three; it adopts only "b".
        let inquiry = leases.inquiry()
        #expect(leases.answered(inquiry, renewed: ["b"], now: start + .seconds(1)) == [.free("a"), .free("c")])
        #expect(leases.handles == ["b"])
    }

    @Test func hugeLease_doesNotTrap() {
        var leases = SessionLeases()
        leases.registered("s1", lease: .milliseconds(Int64.max), now: start)
        #expect(leases.expire(now: start + .seconds(1_000_000)) == [])
    }
}
