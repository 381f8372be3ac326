import WeftRuntime

/// The shared variable containers a worker holds (see `SharedContainers` on the coordinator),
/// by their worker-side id, each with the sessions held here that use it. The coordinator
/// admits sessions to a container; the worker only counts who holds it, and drops it with the
/// last of them.
struct SharedResourceContainers: Sendable {
    private var held: [String: (container: ResourceContainer, sessions: Set<String>)] = [:]

    /// The container `id`, made on first use, now held by session `handle` too.
    mutating func acquire(_ id: String, for handle: String) -> ResourceContainer {
        let container = held[id]?.container ?? ResourceContainer()
        held[id, default: (container, [])].sessions.insert(handle)
        return container
    }

    /// Session `handle` no longer holds container `id`; returns the container when that was its
    /// last session, for the caller to free outside its lock.
    mutating func release(_ id: String, by handle: String) -> ResourceContainer? {
        guard var entry = held[id] else { return nil }
        entry.sessions.remove(handle)
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

    /// The number of containers held.
    var count: Int { held.count }
}
