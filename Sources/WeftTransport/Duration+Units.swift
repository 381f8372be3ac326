import Dispatch

/// The conversions of a `Duration` that the wire, `poll` and Dispatch need, each rounding one
/// stated way. Seconds as a `Double` need no helper: `duration / .seconds(1)`.
extension Duration {
    /// A duration of `milliseconds` as a message carries it; a count beyond `Int64.max`
    /// saturates instead of trapping, since the count comes from another process.
    public init(wireMilliseconds milliseconds: UInt64) {
        self = .milliseconds(Int64(clamping: milliseconds))
    }

    /// Whole milliseconds, rounded up, 0 for a duration that is not positive, saturating at
    /// `UInt64.max`. Rounding up keeps a positive deadline positive: on the wire 0 means "none".
    public var millisecondsRoundedUp: UInt64 {
        let (seconds, attoseconds) = components
        // Both components carry the sign; a negative fraction of a second has seconds == 0.
        guard seconds >= 0, attoseconds >= 0, seconds > 0 || attoseconds > 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1000)
        if overflow { return .max }
        let fraction = UInt64((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        let (total, carry) = whole.addingReportingOverflow(fraction)
        return carry ? .max : total
    }

    /// Whole microseconds, truncated toward zero, saturating at the bounds of `Int64`: the unit
    /// of step statistics on the wire.
    public var microsecondsTruncated: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, carry) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000)
        return carry ? (seconds < 0 ? .min : .max) : total
    }

    /// The duration as Dispatch takes it, in whole nanoseconds; `.never` beyond what fits.
    public var dispatchInterval: DispatchTimeInterval {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return .nanoseconds(0) }
        let (whole, overflow) = Int(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return .never }
        let (total, carry) = whole.addingReportingOverflow(Int(attoseconds / 1_000_000_000))
        return carry ? .never : .nanoseconds(total)
    }
}
