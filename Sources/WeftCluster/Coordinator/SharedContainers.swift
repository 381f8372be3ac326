import WeftPlacement
import WeftRuntime

/// The shared variable containers of a cluster, as the coordinator keeps them: between-graph
/// replication, where several clients, each with its own session and graph, train the same
/// variables. A session's variables are its own unless it names a container; the first session
/// to name it creates it and is given its capability, a 128-bit random token, which the
/// creator hands to the clients it trusts. Any other session joins only by presenting the
/// name with that token. A container lives while a session using it is open.
///
/// A pure value owned by `ClusterState`: the shell draws tokens and ids, so tests need no
/// randomness.
struct SharedContainers: Sendable {
    /// What a new session asks for.
    struct Request: Sendable, Equatable {
        /// The container's name, as the client chose it.
        var name: String
        /// The token presented to join; `nil` to create the container.
        var token: String?
        /// A fresh token and worker-side id, drawn by the shell, used if the container is created.
        var freshToken: String
        var freshID: String
    }

    /// What a session was admitted to.
    struct Admission: Sendable, Equatable {
        /// The worker-side id of the container, which partitions' registrations carry.
        var id: String
        /// The capability, when this session created the container.
        var createdToken: String?
    }

    /// A session's use of a container, as its record keeps it for a restarted coordinator.
    struct Grant: Sendable, Equatable {
        var name: String
        var token: String
        var id: String
    }

    private struct Container: Sendable {
        let token: String
        let id: String
        var members: Set<String>
        /// Workers any member was registered on: they may hold the container.
        var hosts: Set<DeviceName> = []
    }

    /// A container that ended with its last session: the workers that may hold it free it.
    struct Ended: Sendable, Equatable {
        var id: String
        var hosts: Set<DeviceName>
    }

    /// The longest container name accepted.
    static let maximumNameLength = 256

    private var containers: [String: Container] = [:]
    /// The container name of each member session.
    private var membership: [String: String] = [:]

    /// Admits session `handle` to the container `request` names, creating it when no token is
    /// presented. A container that exists without a token, or a token that is not the
    /// container's (or names no container), is `permissionDenied` with one message, so a
    /// client without the token learns nothing beyond that it was refused.
    mutating func admit(_ handle: String, _ request: Request) throws(WeftError) -> Admission {
        guard !request.name.isEmpty, request.name.utf8.count <= Self.maximumNameLength else {
            throw WeftError(
                .invalidArgument,
                "a shared container's name must have 1 to \(Self.maximumNameLength) bytes"
            )
        }
        guard let token = request.token else {
            guard containers[request.name] == nil else {
                throw WeftError(
                    .permissionDenied,
                    "shared container '\(request.name)' exists; join it with the token its creator was given"
                )
            }
            containers[request.name] = Container(token: request.freshToken, id: request.freshID, members: [handle])
            membership[handle] = request.name
            return Admission(id: request.freshID, createdToken: request.freshToken)
        }
        guard var container = containers[request.name], Self.constantTimeEqual(container.token, token) else {
            throw WeftError(
                .permissionDenied,
                "the token presented is not the one of shared container '\(request.name)'"
            )
        }
        container.members.insert(handle)
        containers[request.name] = container
        membership[handle] = request.name
        return Admission(id: container.id, createdToken: nil)
    }

    /// The grant of member session `handle`; `nil` for a session whose variables are its own.
    func grant(of handle: String) -> Grant? {
        guard let name = membership[handle], let container = containers[name] else { return nil }
        return Grant(name: name, token: container.token, id: container.id)
    }

    /// A restarted coordinator adopts session `handle` with the grant its record keeps: the
    /// container is rebuilt, or joined when another adopted session rebuilt it. A container of
    /// that name made since with another id keeps its own; the session stays out of it.
    mutating func adopt(_ handle: String, _ grant: Grant) {
        if let container = containers[grant.name], container.id != grant.id { return }
        containers[grant.name, default: Container(token: grant.token, id: grant.id, members: [])].members.insert(handle)
        membership[handle] = grant.name
    }

    /// Session `handle` ended: the container it used ends with its last member, and is returned
    /// then, with the workers to free it on.
    mutating func leave(_ handle: String) -> Ended? {
        guard let name = membership.removeValue(forKey: handle), var container = containers[name] else { return nil }
        container.members.remove(handle)
        guard container.members.isEmpty else {
            containers[name] = container
            return nil
        }
        containers[name] = nil
        return Ended(id: container.id, hosts: container.hosts)
    }

    /// Session `handle` is registered on `device`: the container it uses may live there now.
    mutating func hosted(_ handle: String, on device: DeviceName) {
        guard let name = membership[handle] else { return }
        containers[name]?.hosts.insert(device)
    }

    /// The number of sessions using the container `name`; 0 when there is none.
    func memberCount(_ name: String) -> Int { containers[name]?.members.count ?? 0 }

    /// Compares without stopping at the first difference, so timing tells nothing of a token.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for (p, q) in zip(x, y) { difference |= p ^ q }
        return difference == 0
    }
}
