import Synchronization
import WeftProto
import WeftRuntime

/// Which small tensors a worker pushes to another worker together, as Nagle's algorithm with
/// acknowledgements as the clock: a push goes at once while fewer than `window` messages are in
/// flight on its route (its step and receiving worker); one made when `window` are
/// unacknowledged waits, and every push that waited goes in one message when an
/// acknowledgement comes. A partition that sends fifty scalars to one worker at once sends a
/// few messages rather than fifty, each costing both processes thread wake-ups; a few pushes
/// spread over a step (a tower's small gradients, sent between large ones whose transfer holds
/// the receiver's acknowledgements back) and any large tensor go without delay.
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
    /// Messages of small pushes a route may have unacknowledged before pushes wait.
    static var window: Int { 4 }

    /// Pushes to send in one message; when `isClocked`, its acknowledgement is owed to
    /// `acknowledged(_:)`, which releases the pushes that waited for it.
    struct Batch {
        var pushes: [Push]
        var isClocked: Bool
    }

    /// A route with messages in flight: how many, and the pushes waiting for an acknowledgement.
    private struct Traffic {
        var inFlight = 0
        var waiting: [(push: Push, bytes: Int)] = []

        /// Sends `push` now when the window has room; otherwise it waits.
        mutating func add(_ push: Push, bytes: Int) -> Batch? {
            guard inFlight < PushBatches.window else {
                waiting.append((push, bytes))
                return nil
            }
            inFlight += 1
            return Batch(pushes: [push], isClocked: true)
        }

        /// One message was answered: what waited goes next, up to a message's limits.
        mutating func acknowledged() -> Batch? {
            inFlight -= 1
            guard !waiting.isEmpty else { return nil }
            var (count, bytes) = (0, 0)
            while count < min(waiting.count, PushBatches.batchCount),
                count == 0 || bytes + waiting[count].bytes <= PushBatches.batchBytes
            {
                bytes += waiting[count].bytes
                count += 1
            }
            defer { waiting.removeFirst(count) }
            inFlight += 1
            return Batch(pushes: waiting[..<count].map(\.push), isClocked: true)
        }
    }

    private var routes: [Route: Traffic] = [:]

    /// Routes with a message in flight.
    var busyRoutes: Int { routes.count }

    /// A push of a tensor of `bytes` bytes on `route`: what to send now (the push itself), or
    /// `nil` while it waits for a message in flight there.
    mutating func add(_ push: Push, bytes: Int, on route: Route) -> Batch? {
        guard bytes <= Self.smallBytes else { return Batch(pushes: [push], isClocked: false) }
        return routes[route, default: Traffic()].add(push, bytes: bytes)
    }

    /// A message in flight on `route` was acknowledged (or failed): the pushes that waited go
    /// next, in one message, up to its limits; none when nothing waited.
    mutating func acknowledged(_ route: Route) -> Batch? {
        guard var traffic = routes.removeValue(forKey: route) else { return nil }
        let next = traffic.acknowledged()
        if traffic.inFlight > 0 { routes[route] = traffic }
        return next
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
