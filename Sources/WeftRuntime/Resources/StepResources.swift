import Synchronization

/// The resources that live for one step only: TensorArrays and stacks, which TensorFlow keeps
/// in a per-step container. They belong to the step's `StepContext` and are freed with it
/// when the step ends, however it ends; another step (or session) never sees them.
public final class StepResources: Sendable {
    private let resources = Mutex<[ResourceContainer.ResourceKey: any AnyObject & Sendable]>([:])
    private let created = Atomic<Int>(0)

    /// Makes an empty container.
    public init() {}

    /// A name no other resource of this step has: `base_N`, as TensorFlow names TensorArrays
    /// and stacks so that every run of the creating op makes a new one.
    public func uniqueName(_ base: String) -> String {
        "\(base)_\(created.add(1, ordering: .relaxed).oldValue)"
    }

    /// Stores `resource` at `key`, replacing any there.
    public func insert(_ resource: any AnyObject & Sendable, at key: ResourceContainer.ResourceKey) {
        resources.withLock { $0[key] = resource }
    }

    /// The resource at `key` when there is one of type `Resource`.
    public func lookup<Resource: AnyObject & Sendable>(
        _ key: ResourceContainer.ResourceKey,
        as type: Resource.Type
    ) -> Resource? {
        resources.withLock { $0[key] } as? Resource
    }

    /// The resource at `key`, made by `make` and stored when there is none; an existing one of
    /// another type is returned as `nil`.
    public func lookup<Resource: AnyObject & Sendable>(
        _ key: ResourceContainer.ResourceKey,
        creatingWith make: () throws(WeftError) -> Resource
    ) throws(WeftError) -> Resource? {
        try resources.withLock {
            (table: inout [ResourceContainer.ResourceKey: any AnyObject & Sendable]) throws(WeftError) -> Resource? in
            if let existing = table[key] { return existing as? Resource }
            let made = try make()
            table[key] = made
            return made
        }
    }

    /// The number of resources the step holds.
    public var count: Int { resources.withLock { $0.count } }
}
