import Dispatch
import Testing
import WeftTransport

/// The one set of `Duration` conversions: how each rounds, and that none traps.
@Suite struct DurationUnitsTests {
    @Test(arguments: [
        (Duration.zero, UInt64(0)),
        (.nanoseconds(1), 1),
        (.microseconds(1), 1),
        (.microseconds(500), 1),
        (.microseconds(1001), 2),
        (.milliseconds(1500), 1500),
        (.seconds(-3), 0),
        (.microseconds(-500), 0),
        (.seconds(Int64.max), .max),
    ])
    func millisecondsRoundedUp_keepAPositiveDeadlinePositive(duration: Duration, milliseconds: UInt64) {
        #expect(duration.millisecondsRoundedUp == milliseconds)
    }

    @Test func microsecondsTruncated_dropsTheFractionAndSaturates() {
        #expect(Duration.nanoseconds(1999).microsecondsTruncated == 1)
        #expect(Duration.seconds(2).microsecondsTruncated == 2_000_000)
        #expect(Duration.nanoseconds(-1999).microsecondsTruncated == -1)
        #expect(Duration.seconds(Int64.max).microsecondsTruncated == .max)
        #expect(Duration.seconds(Int64.min).microsecondsTruncated == .min)
    }

    @Test func dispatchInterval_isWholeNanosecondsOrNever() {
        #expect(Duration.milliseconds(250).dispatchInterval == .nanoseconds(250_000_000))
        #expect(Duration.seconds(-1).dispatchInterval == .nanoseconds(0))
        #expect(Duration.seconds(Int64.max).dispatchInterval == .never)
    }

    @Test func wireMilliseconds_saturateInsteadOfTrapping() {
        #expect(Duration(wireMilliseconds: 1500) == .milliseconds(1500))
        #expect(Duration(wireMilliseconds: .max) == .milliseconds(Int64.max))
    }
}
