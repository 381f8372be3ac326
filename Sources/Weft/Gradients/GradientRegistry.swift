import Synchronization
import WeftRuntime

/// Builds the gradients of an op's inputs from the gradients of its outputs: TensorFlow's
/// `@tf.RegisterGradient` functions. It returns one entry per data input, `nil` where an input
/// gets no gradient (an index, a shape). It adds nodes with the op builders; `gradients(of:with:)`
/// calls it inside the op's `gradients/NAME_grad` name scope with the graph as the default.
public typealias GradientFunction = @Sendable (GradientContext) throws(WeftError) -> [Gradient?]

/// The gradient functions by op type. `standard` holds one for every differentiable op Weft
/// implements; users add their own for their ops (`GradientRegistry.standard.register(…)`).
public final class GradientRegistry: Sendable {
    /// What is known about an op type.
    enum Entry: Sendable {
        case function(GradientFunction)
        /// TensorFlow's `ops.NotDifferentiable`: no input gets a gradient.
        case notDifferentiable
    }

    private let entries: Mutex<[String: Entry]>

    /// An empty registry.
    public init() { entries = Mutex([:]) }

    /// The registry `gradients(of:with:)` uses unless given another, with Weft's gradients.
    public static let standard: GradientRegistry = {
        let registry = GradientRegistry()
        registry.registerStandardGradients()
        return registry
    }()

    /// Registers (or replaces) the gradient function of `opType`.
    public func register(_ opType: String, _ function: @escaping GradientFunction) {
        entries.withLock { $0[opType] = .function(function) }
    }

    /// Declares that ops of these types pass no gradient to their inputs (shapes, comparisons,
    /// indices): a path through one simply ends there instead of failing.
    public func registerNotDifferentiable(_ opTypes: String...) {
        registerNotDifferentiable(opTypes)
    }

    /// Declares that ops of these types pass no gradient to their inputs.
    public func registerNotDifferentiable(_ opTypes: [String]) {
        entries.withLock { entries in
            for type in opTypes { entries[type] = .notDifferentiable }
        }
    }

    /// Whether the registry knows `opType`, as differentiable or not.
    public func contains(_ opType: String) -> Bool { entries.withLock { $0[opType] != nil } }

    func entry(for opType: String) -> Entry? { entries.withLock { $0[opType] } }

    private func registerStandardGradients() {
        registerMathGradients()
        registerActivationGradients()
        registerReductionGradients()
        registerArrayGradients()
        registerNNGradients()
        registerGatherGradients()
        registerSegmentGradients()
        registerSecondOrderGradients()
        registerEinsumGradients()
        registerMatrixGradients()
        registerControlFlowGradients()
        registerFunctionalControlFlowGradients()
    }
}

/// What a gradient function sees of the op it differentiates: the op, its inputs and outputs,
/// its attributes, and the gradients that reached its outputs.
public struct GradientContext: Sendable {
    /// The forward op.
    public let operation: Operation
    /// Its data inputs, in order.
    public let inputs: [Output]
    /// Its outputs, in order.
    public let outputs: [Output]
    /// Its attributes.
    public let attributes: NodeAttributes
    /// The gradient of each output: `nil` only for outputs that are not differentiable
    /// (integers); a float output no path reached gets zeros, as in TensorFlow.
    public let outputGradients: [Gradient?]
    /// The gradient functions of the walk, for gradients that differentiate a subgraph of their
    /// own (functional control flow).
    let registry: GradientRegistry
    /// Whether the walk puts each op's gradient nodes where the op goes.
    let colocateWithOps: Bool

    /// The op type.
    public var type: String { operation.type }
    /// The graph.
    public var graph: Graph { operation.graph }

    /// Input `index`, or an `invalidArgument` error naming the node when it has fewer.
    public func input(_ index: Int) throws(WeftError) -> Output {
        guard let input = inputs[safe: index] else {
            throw WeftError(
                .invalidArgument,
                "node '\(operation.name)' (\(type)) has \(inputs.count) inputs; its gradient needs input \(index)"
            )
        }
        return input
    }

    /// Output `index`, or an `invalidArgument` error naming the node when it has fewer.
    public func output(_ index: Int) throws(WeftError) -> Output {
        guard let output = outputs[safe: index] else {
            throw WeftError(
                .invalidArgument,
                "node '\(operation.name)' (\(type)) has \(outputs.count) outputs; its gradient needs output \(index)"
            )
        }
        return output
    }

    /// The gradient of output `index` as a dense tensor (slices are densified).
    public func gradient(_ index: Int = 0) throws(WeftError) -> Output {
        guard let gradient = outputGradients[safe: index] ?? nil else {
            throw WeftError(
                .invalidArgument,
                "node '\(operation.name)' (\(type)): output \(index) has no gradient to differentiate"
            )
        }
        return gradient.densified
    }

    /// Whether the gradient of output `index` is the zeros filled in for an output no path
    /// reached, so a gradient function can skip a term (TensorFlow's `IsZero` check).
    public func gradientIsZeros(_ index: Int) -> Bool {
        guard case .dense(let output)? = outputGradients[safe: index] ?? nil else { return false }
        return output.operation.type == "ZerosLike"
    }
}
