/// The requests a node waits on: who was asked, until when, and whether the request left yet.
///
/// A pure state machine, driven by the I/O thread and tested without sockets: it never looks at
/// a clock, and every operation returns the entries the caller must complete. `Context` is what
/// the caller keeps per request (its completion).
struct PendingRequests<Context> {
    /// One request waiting for its reply.
    struct Entry {
        /// The request id, unique among pending requests.
        let id: UInt64
        /// The address the request is for.
        let address: String
        /// When the requester stops waiting.
        let deadline: ContinuousClock.Instant
        /// Whether libzmq took the request (it may still be in a socket queue, not on the network).
        var sent = false
        /// The caller's data.
        let context: Context
    }

    private var entries: [UInt64: Entry] = [:]
    /// Deadlines in a min-heap. Entries that were completed stay until they reach the top (or
    /// the heap is compacted), so completing is O(1).
    private var deadlines = DeadlineHeap()

    /// An empty table.
    init() {}

    /// The number of pending requests.
    var count: Int { entries.count }

    /// Whether nothing is pending.
    var isEmpty: Bool { entries.isEmpty }

    /// Whether a request with this id is pending.
    func contains(_ id: UInt64) -> Bool { entries[id] != nil }

    /// The entry for an id.
    subscript(id: UInt64) -> Entry? { entries[id] }

    /// Whether any request for `address` is pending.
    func hasRequests(for address: String) -> Bool { entries.values.contains { $0.address == address } }

    /// Adds a request; returns `false` (and changes nothing) when the id is already pending.
    mutating func insert(id: UInt64, address: String, deadline: ContinuousClock.Instant, context: Context) -> Bool {
        guard entries[id] == nil else { return false }
        entries[id] = Entry(id: id, address: address, deadline: deadline, context: context)
        deadlines.push(deadline, id)
        return true
    }

    /// Records that libzmq took the request.
    mutating func markSent(_ id: UInt64) {
        // Read and written back: `entries[id]?.sent = true` runs nested modify coroutines whose
        // frames are heap-allocated for an entry this size, eight allocations per request.
        guard var entry = entries[id] else { return }
        entry.sent = true
        entries[id] = entry
    }

    /// Removes and returns the request a reply answers, when it is pending and was sent to
    /// `address` (a reply arriving from another peer answers nothing of ours).
    mutating func complete(_ id: UInt64, from address: String? = nil) -> Entry? {
        guard let entry = entries[id], address == nil || entry.address == address else { return nil }
        entries[id] = nil
        compactIfSparse()
        return entry
    }

    /// Removes and returns the requests whose deadline is at or before `now`, earliest first.
    mutating func expire(now: ContinuousClock.Instant) -> [Entry] {
        var expired: [Entry] = []
        while let (deadline, id) = deadlines.top, deadline <= now {
            deadlines.pop()
            if let entry = entries[id], entry.deadline == deadline {
                entries[id] = nil
                expired.append(entry)
            }
        }
        return expired
    }

    /// The earliest deadline of a pending request.
    mutating func nextDeadline() -> ContinuousClock.Instant? {
        while let (deadline, id) = deadlines.top {
            if let entry = entries[id], entry.deadline == deadline { return deadline }
            deadlines.pop()  // completed earlier
        }
        return nil
    }

    /// Removes and returns the requests for `address`; with `sent`, only those that were (or were
    /// not) handed to libzmq. Sorted by id, so callers complete them in the order they were made.
    mutating func removeAll(for address: String, sent: Bool? = nil) -> [Entry] {
        let matching = entries.values.filter { $0.address == address && (sent == nil || $0.sent == sent) }
        for entry in matching { entries[entry.id] = nil }
        compactIfSparse()
        return matching.sorted { $0.id < $1.id }
    }

    /// Removes and returns every pending request, sorted by id.
    mutating func removeAll() -> [Entry] {
        let all = entries.values.sorted { $0.id < $1.id }
        entries.removeAll()
        deadlines = DeadlineHeap()
        return all
    }

    /// Rebuilds the heap when most of it is completed requests, so memory follows the number of
    /// pending requests rather than the request rate times the timeout.
    private mutating func compactIfSparse() {
        guard deadlines.count > 64 && deadlines.count > 4 * entries.count else { return }
        var heap = DeadlineHeap()
        for entry in entries.values { heap.push(entry.deadline, entry.id) }
        deadlines = heap
    }
}

/// A binary min-heap of (deadline, request id).
struct DeadlineHeap {
    private var items: [(deadline: ContinuousClock.Instant, id: UInt64)] = []

    var count: Int { items.count }

    var top: (ContinuousClock.Instant, UInt64)? { items.first.map { ($0.deadline, $0.id) } }

    mutating func push(_ deadline: ContinuousClock.Instant, _ id: UInt64) {
        items.append((deadline, id))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].deadline < items[parent].deadline else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count && items[left].deadline < items[smallest].deadline { smallest = left }
            if right < items.count && items[right].deadline < items[smallest].deadline { smallest = right }
            guard smallest != parent else { return }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
