import Synchronization
import WeftProto
import WeftRuntime

/// Which small tensors a worker pushes to another worker together, as Nagle's algorithm with
/// acknowledgements as the clock: pushes made together (the `_Send`s one executor thread ran in
/// a row) go at once, in one message, while fewer than `window` messages are in flight on
/// their route (their step and receiving worker); pushes made when `window` are
/// unacknowledged wait, and every push that waited goes in one message when an
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

    /// Messages of more bytes than this go at once: their transfer, not the message, is the cost.
    static var smallBytes: Int { 64 << 10 }
    /// The most bytes and pushes one message carries (a larger tensor goes alone).
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

        /// Sends `pushes` now, together, when the window has room; otherwise they wait.
        mutating func add(_ pushes: ArraySlice<(push: Push, bytes: Int)>) -> Batch? {
            guard inFlight < PushBatches.window else {
                waiting.append(contentsOf: pushes)
                return nil
            }
            inFlight += 1
            return Batch(pushes: pushes.map(\.push), isClocked: true)
        }

        /// One message was answered: what waited goes next, up to a message's limits.
        mutating func acknowledged() -> Batch? {
            inFlight -= 1
            guard !waiting.isEmpty else { return nil }
            let count = PushBatches.messageEnd(waiting[...])
            defer { waiting.removeFirst(count) }
            inFlight += 1
            return Batch(pushes: waiting[..<count].map(\.push), isClocked: true)
        }
    }

    private var routes: [Route: Traffic] = [:]

    /// Routes with a message in flight.
    var busyRoutes: Int { routes.count }

    /// Pushes made together on `route`, with their tensors' bytes: the messages to send now,
    /// in order, each as many of them as its limits allow. A message of more than `smallBytes`
    /// goes at once, unclocked; smaller ones wait while `window` messages are in flight there.
    mutating func add(_ pushes: [(push: Push, bytes: Int)], on route: Route) -> [Batch] {
        var batches: [Batch] = []
        var rest = pushes[...]
        while !rest.isEmpty {
            let message = rest.prefix(Self.messageEnd(rest))
            rest = rest.dropFirst(message.count)
            if message.reduce(0, { $0 + $1.bytes }) > Self.smallBytes {
                batches.append(Batch(pushes: message.map(\.push), isClocked: false))
            } else if let batch = routes[route, default: Traffic()].add(message) {
                batches.append(batch)
            }
        }
        return batches
    }

    /// A message in flight on `route` was acknowledged (or failed): the pushes that waited go
    /// next, in one message, up to its limits; none when nothing waited.
    mutating func acknowledged(_ route: Route) -> Batch? {
        guard var traffic = routes.removeValue(forKey: route) else { return nil }
        let next = traffic.acknowledged()
        if traffic.inFlight > 0 { routes[route] = traffic }
        return next
    }

    /// How many of `pushes`, from the first, one message carries: at least one, and then as
    /// many as keep it within `batchCount` pushes and `batchBytes` bytes.
    private static func messageEnd(_ pushes: ArraySlice<(push: Push, bytes: Int)>) -> Int {
        var (count, bytes) = (0, 0)
        for pushed in pushes {
            guard count < batchCount, count == 0 || bytes + pushed.bytes <= batchBytes else { break }
            bytes += pushed.bytes
            count += 1
        }
        return count
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

    /// The messages to send now for `pushes`, made together on `route` (`PushBatches.add`).
    func add(_ pushes: [Push], on route: Route) -> [Batch] {
        let sized = pushes.map { ($0, $0.tensor?.byteCount ?? 0) }
        return batches.withLock { $0.add(sized, on: route) }
    }

    /// What to send next on `route` once its message in flight is answered.
    func acknowledged(_ route: Route) -> Batch? {
        batches.withLock { $0.acknowledged(route) }
    }
}

extension PushBatches.Batch: Sendable where Push: Sendable {}
