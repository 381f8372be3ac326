/// The step ids a client gives the steps it sends straight to a worker (its direct routes):
/// the top bit set, so they never meet the coordinator's ids in a worker's rendezvous, and a
/// worker can tell such a step from one of the coordinator's.
enum DirectStepID {
    /// The bit set in every direct step's id.
    static let bit: UInt64 = 1 << 63

    /// The id of a client's `count`th direct step.
    static func make(_ count: UInt64) -> UInt64 { bit | count }

    /// Whether `step` came straight from a client rather than from the coordinator.
    static func isDirect(_ step: UInt64) -> Bool { step & bit != 0 }
}
