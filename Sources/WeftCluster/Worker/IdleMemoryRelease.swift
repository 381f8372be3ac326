/// When an idle worker gives its free memory back to the system: a pure state machine the
/// worker consults at each heartbeat.
///
/// glibc keeps freed heap pages, and once a large buffer has been freed it serves the next
/// ones from its heaps instead of fresh mappings, so the megabytes of a link measurement or of
/// a session's last steps stay resident in a worker that has nothing left to do. A worker
/// releases them once it has been quiet for `quietPeriod`: no request arrived and no partition
/// ran. Releasing again needs new activity, so an idle worker makes no calls at all, and a
/// worker stepping steadily keeps its heaps warm.
struct IdleMemoryRelease: Sendable {
    /// How long a worker must be quiet before it releases.
    static let quietPeriod: Duration = .seconds(1)

    /// The activity count seen at the last tick.
    private var seen = 0
    /// When activity was last seen, while a release is owed for it.
    private var lastActive: ContinuousClock.Instant?

    /// Takes the worker's activity count (anything that counts requests and finished work) and
    /// whether a partition is running now; says whether to release free memory now.
    mutating func tick(activity: Int, busy: Bool, now: ContinuousClock.Instant) -> Bool {
        if activity != seen || busy {
            seen = activity
            lastActive = now
            return false
        }
        guard let lastActive, now - lastActive >= Self.quietPeriod else { return false }
        self.lastActive = nil
        return true
    }
}
