import Synchronization
import WeftProto
import WeftRuntime

/// Which small tensors a worker pushes to another worker together, as Nagle's algorithm with
/// the acknowledgement as the clock: a push goes at once when nothing is in flight on its route
/// (its step and receiving worker); one made while a message is unacknowledged waits, and every
/// push that waited goes in one message when the acknowledgement comes. A partition that sends
/// fifty scalars to one worker sends a few messages rather than fifty, each costing both
/// processes thread wake-ups; a lone push, and any large tensor, goes without delay.
struct PushBatches<Push> {
    /// Where a push goes: pushes of one step to one worker share a message.
    struct Route: Hashable {
        var destination: String
        var step: UInt64
    }

    /// Tensors above this size go alone and at once: their transfer, not the message, is the cost.
    static var smallBytes: Int { 64 << 10 }
    /// The most bytes and pushes one message carries; more wait for the next acknowledgement.
    static var batchBytes: Int { 4 << 20 }
    static var batchCount: Int { 4096 }

    /// Pushes to send in one message; when `isClocked`, its acknowledgement is owed to
    /// `acknowledged(_:)`, which releases the pushes that waited for it.
    struct Batch {
        var pushes: [Push]
        var isClocked: Bool
    }

    /// For each route with a message in flight, the pushes waiting for its acknowledgement.
    private var waiting: [Route: [(push: Push, bytes: Int)]] = [:]

    /// Routes with a message in flight.
    var busyRoutes: Int { waiting.count }

    /// A push of a tensor of `bytes` bytes on `route`: what to send now (the push itself), or
    /// `nil` while it waits for the message in flight there.
    mutating func add(_ push: Push, bytes: Int, on route: Route) -> Batch? {
        guard bytes <= Self.smallBytes else { return Batch(pushes: [push], isClocked: false) }
        guard waiting[route] != nil else {
            waiting[route] = []
            return Batch(pushes: [push], isClocked: true)
        }
        waiting[route, default: []].append((push, bytes))
        return nil
    }

    /// The message in flight on `route` was acknowledged (or failed): the pushes that waited go
    /// next, in one message, up to its limits; none when nothing waited, and the route is idle.
    mutating func acknowledged(_ route: Route) -> Batch? {
        guard let queued = waiting[route], !queued.isEmpty else {
            waiting[route] = nil
            return nil
        }
        var (count, bytes) = (0, 0)
        while count < min(queued.count, Self.batchCount), count == 0 || bytes + queued[count].bytes <= Self.batchBytes {
            bytes += queued[count].bytes
            count += 1
        }
        waiting[route] = Array(queued[count...])
        return Batch(pushes: queued[..<count].map(\.push), isClocked: true)
    }
}

/// A session's pushes waiting for their route, shared by the threads that push.
final class PushOutbox: Sendable {
    /// A tensor on its way to another worker, and who waits to hear it arrived.
    struct Push: Sendable {
        let key: String
        /// `nil` when dead.
        let tensor: Tensor?
        let arrived: @Sendable (WeftError?) -> Void

        /// The push as a message names it.
        var entry: Weft_PushTensor {
            .with {
                $0.key = key
                $0.isDead = tensor == nil
            }
        }
    }

    typealias Route = PushBatches<Push>.Route
    typealias Batch = PushBatches<Push>.Batch

    private let batches = Mutex(PushBatches<Push>())

    /// What to send now for `push` on `route`, if anything (`PushBatches.add`).
    func add(_ push: Push, on route: Route) -> Batch? {
        batches.withLock { $0.add(push, bytes: push.tensor?.byteCount ?? 0, on: route) }
    }

    /// What to send next on `route` once its message in flight is answered.
    func acknowledged(_ route: Route) -> Batch? {
        batches.withLock { $0.acknowledged(route) }
    }
}

extension PushBatches.Batch: Sendable where Push: Sendable {}
