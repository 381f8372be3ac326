import WeftRuntime

/// The jobs of a cluster and how many tasks each has: `ps=1,worker=2`.
public struct JobCounts: Sendable, Hashable, CustomStringConvertible {
    /// Job names with their task counts, in the order given.
    public var jobs: [(name: String, tasks: Int)]

    /// Parses `ps=1,worker=2`.
    public init(parsing text: String) throws(WeftError) {
        var jobs: [(String, Int)] = []
        for part in text.split(separator: ",") {
            let pieces = part.split(separator: "=")
            guard pieces.count == 2, let count = Int(pieces[1]), count > 0, !pieces[0].isEmpty else {
                throw WeftError(
                    .invalidArgument,
                    "'\(part)' is not a job; write jobs as name=count, like ps=1,worker=2"
                )
            }
            guard !jobs.contains(where: { $0.0 == pieces[0] }) else {
                throw WeftError(.invalidArgument, "job '\(pieces[0])' is listed twice")
            }
            jobs.append((String(pieces[0]), count))
        }
        guard !jobs.isEmpty else { throw WeftError(.invalidArgument, "no jobs given; write jobs like ps=1,worker=2") }
        self.jobs = jobs
    }

    /// `ps=1,worker=2`.
    public var description: String { jobs.map { "\($0.name)=\($0.tasks)" }.joined(separator: ",") }

    /// Same jobs in the same order.
    public static func == (lhs: JobCounts, rhs: JobCounts) -> Bool { lhs.description == rhs.description }
    /// Hashes the text form.
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}
