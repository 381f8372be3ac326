import WeftRuntime

/// What one `Session.run` asks for: the tensors it feeds, the tensors it fetches and the nodes
/// it runs for their effects, in the caller's order. Each distinct signature is pruned and
/// partitioned once and cached under it, by the coordinator and by a client's direct routes.
public struct RunSignature: Sendable, Hashable {
    /// The fed tensors, in the order their values come.
    public var feeds: [TensorName]
    /// The fetched tensors, in the order their values are returned.
    public var fetches: [TensorName]
    /// The nodes run for their effects only.
    public var targets: [String]

    /// A signature of the given feeds, fetches and targets.
    public init(feeds: [TensorName], fetches: [TensorName], targets: [String]) {
        self.feeds = feeds
        self.fetches = fetches
        self.targets = targets
    }

    /// A signature whose tensor names are written out (`x:0`), as a message carries them;
    /// a name that does not parse is `invalidArgument`.
    public init(feeds: [String], fetches: [String], targets: [String]) throws(WeftError) {
        self.init(
            feeds: try feeds.map { (name) throws(WeftError) in try TensorName(parsing: name) },
            fetches: try fetches.map { (name) throws(WeftError) in try TensorName(parsing: name) },
            targets: targets
        )
    }
}
