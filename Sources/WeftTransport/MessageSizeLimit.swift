import Synchronization
import WeftRuntime

/// The largest frame a peer may send this process (libzmq's `ZMQ_MAXMSGSIZE`, set on every
/// socket a `MessagingNode` opens). libzmq allocates a frame's whole size as soon as its header
/// announces it, so without a cap any peer could make the process reserve 2^63 bytes, or 2 GiB
/// per connection under the old fixed cap; a peer that passes the cap is disconnected.
///
/// The cap is per frame, not per message: the envelope and each tensor travel as frames of
/// their own, and a message has at most `Socket.maxFrames` of them. By default it is this
/// process's memory budget (`TensorMemory.limit`, which `weft worker --memory-limit` sets):
/// a tensor larger than the budget could never be held, and any tensor within it (a 3 GiB
/// tensor on a worker with the default 80% of a 24 GiB machine) can still cross. `weft
/// coordinator` and `weft worker` set it with `--max-message-size`.
public enum MessageSizeLimit {
    /// 0: derived from the memory budget.
    private static let configured = Atomic<Int>(0)
    /// The smallest cap: room for the envelope of any control message.
    public static let minimum = 64 << 10

    /// The cap new nodes apply: the configured one, else the memory budget.
    public static var bytes: Int {
        let configured = configured.load(ordering: .relaxed)
        return configured > 0 ? configured : Swift.max(TensorMemory.limit, minimum)
    }

    /// Sets the cap of this process's nodes, at start-up; `nil` goes back to the memory budget.
    /// Caps below `minimum` are raised to it.
    public static func set(_ bytes: Int?) {
        configured.store(bytes.map { Swift.max($0, minimum) } ?? 0, ordering: .relaxed)
    }
}
