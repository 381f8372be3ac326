import WeftRuntime

/// What a strategy is given besides the problem: the cost model, a seed for its random choices,
/// per-device memory limits and the shapes of fed tensors.
public struct PlacementOptions: Sendable {
    /// Op and transfer costs.
    public var costModel: CostModel
    /// Seeds every random choice: the same seed gives the same placement.
    public var seed: UInt64
    /// Bytes of persistent state (variables and constants) each device may hold; `nil` for no limit.
    public var memoryLimit: Int?
    /// Limits for particular devices, overriding `memoryLimit`.
    public var memoryLimits: [DeviceName: Int]
    /// Shapes of tensors fed at run time, by tensor name (`x:0`) or node name, for dimensions the
    /// graph leaves open.
    public var feedShapes: [String: TensorShape]
    /// Whether strategies may put the nodes of a while loop or a cond on several devices, which
    /// then exchange tensors every iteration (`PlacementProblem`). By default each loop and
    /// cond stays on one device unless explicit device requests split it.
    public var splitControlFlow: Bool

    /// Makes options; the defaults plan with `CostModel.default`, seed 0, no memory limit, and
    /// loops and conds kept whole.
    public init(
        costModel: CostModel = .default,
        seed: UInt64 = 0,
        memoryLimit: Int? = nil,
        memoryLimits: [DeviceName: Int] = [:],
        feedShapes: [String: TensorShape] = [:],
        splitControlFlow: Bool = false
    ) {
        self.costModel = costModel
        self.seed = seed
        self.memoryLimit = memoryLimit
        self.memoryLimits = memoryLimits
        self.feedShapes = feedShapes
        self.splitControlFlow = splitControlFlow
    }

    /// Takes the shapes of fed tensors from the feeds themselves (keyed by tensor name).
    public mutating func useShapes(of feeds: [String: Tensor]) {
        for (name, tensor) in feeds { feedShapes[name] = tensor.shape }
    }

    /// The memory limit of `device`, if it has one.
    public func memoryLimit(of device: DeviceName) -> Int? { memoryLimits[device] ?? memoryLimit }
}
