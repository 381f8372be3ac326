import WeftRuntime

/// The shared variable containers a worker holds (see `SharedContainers` on the coordinator),
/// by their worker-side id, each with the sessions held here that use it. The coordinator
/// admits sessions to a container and says when it ended (its last session anywhere closed):
/// a session released by the coordinator leaves the container here for the others, which may
/// not have run a step here yet; one freed by its lease running out (the coordinator is gone)
/// frees the container with it when no other session held here uses it.
struct SharedResourceContainers: Sendable {
    private struct Entry {
        let container: ResourceContainer
        var sessions: Set<String> = []
        /// The coordinator said the container ended.
        var ended = false
    }
    private var held: [String: Entry] = [:]

    /// The container `id`, made on first use, now held by session `handle` too.
    mutating func acquire(_ id: String, for handle: String) -> ResourceContainer {
        let container = held[id]?.container ?? ResourceContainer()
        held[id, default: Entry(container: container)].sessions.insert(handle)
        return container
    }

    /// Session `handle` no longer holds container `id`. Returns the container when it is to be
    /// freed now, for the caller to free outside its lock: when no session holds it here and
    /// the coordinator ended it, or `keep` is false (the coordinator will not say).
    mutating func release(_ id: String, by handle: String, keep: Bool) -> ResourceContainer? {
        guard var entry = held[id] else { return nil }
        entry.sessions.remove(handle)
        guard entry.sessions.isEmpty, entry.ended || !keep else {
            held[id] = entry
            return nil
        }
        held[id] = nil
        return entry.container
    }

    /// The coordinator ended container `id`: returns it when no session holds it here, else
    /// it is freed with the last of them.
    mutating func end(_ id: String) -> ResourceContainer? {
        guard var entry = held[id] else { return nil }
        entry.ended = true
        guard entry.sessions.isEmpty else {
            held[id] = entry
            return nil
        }
        held[id] = nil
        return entry.container
    }

    /// Forgets every container, returning them to be freed.
    mutating func removeAll() -> [ResourceContainer] {
        defer { held.removeAll() }
        return held.values.map(\.container)
    }

    /// The payload bytes the containers' variables hold.
    var byteCount: Int { held.values.reduce(0) { $0 + $1.container.byteCount } }

    /// The number of containers held.
    var count: Int { held.count }
}
