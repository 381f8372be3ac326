import Testing

@testable import WeftCluster

/// NTP's offset from one exchange, and the filter that keeps the best recent one.
@Suite struct ClockOffsetTests {
    @Test func symmetricExchange_findsThePeersOffset() throws {
        // The peer runs 500 µs ahead; 100 µs each way; it held the request 50 µs.
        let offset = try #require(ClockOffset(sent: 1_000, received: 1_250, peerReceived: 1_600, peerReplied: 1_650))
        #expect(offset.micros == 500)
        #expect(offset.errorMicros == 100)
    }

    @Test func lopsidedExchange_isOffByNoMoreThanItsBound() throws {
        // Same peer, but the reply took 900 µs and the request 100 µs.
        let offset = try #require(ClockOffset(sent: 1_000, received: 2_050, peerReceived: 1_600, peerReplied: 1_650))
        #expect(abs(offset.micros - 500) <= offset.errorMicros)
        #expect(offset.errorMicros == 500)
    }

    @Test func missingOrAbsurdTimes_giveNoOffset() {
        #expect(ClockOffset(sent: 1_000, received: 1_250, peerReceived: 0, peerReplied: 0) == nil)
        #expect(ClockOffset(sent: 1_000, received: 1_250, peerReceived: 1_700, peerReplied: 1_600) == nil)
        #expect(ClockOffset(sent: .min, received: 0, peerReceived: .max, peerReplied: .max) == nil)
    }

    @Test func filter_keepsTheTightestRecentMeasurement() throws {
        let filter = ClockOffsetFilter()
        let start = ContinuousClock.now
        let tight = try #require(ClockOffset(sent: 0, received: 200, peerReceived: 600, peerReplied: 650))
        let loose = try #require(ClockOffset(sent: 0, received: 4_000, peerReceived: 300, peerReplied: 350))
        #expect(filter.update("w", with: tight, at: start) == tight)
        #expect(filter.update("w", with: loose, at: start + .seconds(1))?.micros == tight.micros)
        #expect(filter.update("w", with: nil, at: start + .seconds(2))?.errorMicros == tight.errorMicros + 200)
        // A minute on, the old one is gone: the loose one is all there is.
        #expect(filter.update("w", with: loose, at: start + .seconds(61)) == loose)
        #expect(filter.update("other", with: nil) == nil)
    }
}
