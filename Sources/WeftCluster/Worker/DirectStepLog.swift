import WeftProto

/// The steps clients ran on this worker's partitions through direct routes since the last
/// heartbeat, which carries them to the coordinator: a direct step never passes through it, so
/// without them its count of a session's steps and its list of recent steps would stop at a
/// session's first step.
///
/// Only the worker whose partition `counts_step` logs a step, so a step over several workers is
/// logged once. Every step is counted; only the newest `kept` are kept whole, as many as the
/// coordinator lists, so a worker stepping fast between heartbeats holds a bounded log.
struct DirectStepLog: Sendable {
    /// One logged step.
    struct Entry: Sendable {
        var session: String
        var step: UInt64
        var startedMicros: Int64
        var seconds: Double
        var error: String?
    }

    /// The most steps kept whole between two heartbeats.
    static let kept = 50

    private var counts: [String: UInt64] = [:]
    /// The newest steps, up to twice `kept` between trims, so trimming is amortised.
    private var entries: [Entry] = []

    /// Logs a step that ended.
    mutating func log(_ entry: Entry) {
        counts[entry.session, default: 0] &+= 1
        if entries.count == 2 * Self.kept { entries.removeFirst(Self.kept) }
        entries.append(entry)
    }

    /// Everything logged since the last call, as a heartbeat carries it; the log is empty afterwards.
    mutating func drain() -> (counts: [String: UInt64], steps: [Weft_DirectStep]) {
        defer {
            counts = [:]
            entries = []
        }
        let steps = entries.suffix(Self.kept).map { entry in
            Weft_DirectStep.with {
                $0.session = entry.session
                $0.step = entry.step
                $0.startedUnixMicros = entry.startedMicros
                $0.seconds = entry.seconds
                $0.error = entry.error ?? ""
            }
        }
        return (counts, steps)
    }
}
