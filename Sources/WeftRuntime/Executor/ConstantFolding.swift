/// The graph optimizations a plan applies before it runs, as TensorFlow's Grappler does by
/// default; each keeps every fetched value the same.
public struct GraphOptimizations: Sendable, Hashable {
    /// Computes once, when the plan is built, every node whose value depends only on constants,
    /// so steps run neither it nor the `Const`s behind it.
    public var foldConstants: Bool
    /// Runs once each set of stateless nodes with the same op, attributes and inputs.
    public var eliminateCommonSubexpressions: Bool
    /// Drops nodes that only pass a tensor on: `Identity`, and `x * 1`, `x + 0`, `x - 0`,
    /// `x / 1` with a constant scalar (`Simplification`).
    public var simplifyArithmetic: Bool
    /// Drops a `NoOp` that only joins control edges, when its consumers waiting for its inputs
    /// directly takes no more edges than it does (Grappler's dependency optimizer).
    public var pruneNoOps: Bool

    /// Chooses the optimizations.
    public init(
        foldConstants: Bool = true,
        eliminateCommonSubexpressions: Bool = true,
        simplifyArithmetic: Bool = true,
        pruneNoOps: Bool = true
    ) {
        self.foldConstants = foldConstants
        self.eliminateCommonSubexpressions = eliminateCommonSubexpressions
        self.simplifyArithmetic = simplifyArithmetic
        self.pruneNoOps = pruneNoOps
    }

    /// Every optimization, as sessions use by default.
    public static let `default` = GraphOptimizations()
    /// None: every node of the graph runs as written.
    public static let none = GraphOptimizations(
        foldConstants: false,
        eliminateCommonSubexpressions: false,
        simplifyArithmetic: false,
        pruneNoOps: false
    )
}

/// Constant folding over the nodes a plan needs. A node folds when it is a `Const`, or a
/// stateless compute op whose data inputs all folded, with no control inputs, no ref, resource
/// or variant values, and outputs of at most `maxBytes` (TensorFlow's limit too): its kernel
/// runs here once. A kernel that fails is left to fail in the step, where its error belongs.
struct ConstantFolding {
    /// Outputs of each folded node, by graph node.
    private(set) var values: [Int: [Tensor]] = [:]

    private static let maxBytes = 10 << 20
    /// Ops with effects outside their outputs that TensorFlow does not mark stateful either.
    private static let neverFolded: Set<String> = ["Print", "PrintV2", "PlaceholderWithDefault"]

    /// Folds what can be folded of `order` (graph nodes, producers first); `isFed` tells a fed
    /// data input (node, input) apart.
    init(graph: RuntimeGraph, order: [Int], isFed: (Int, Int) -> Bool) {
        let step = StepContext(id: 0, resources: ResourceContainer())
        for node in order {
            guard isFoldable(node, graph: graph, isFed: isFed), let outputs = compute(node, graph: graph, step: step) else {
                continue
            }
            values[node] = outputs
        }
    }

    private func isFoldable(_ node: Int, graph: RuntimeGraph, isFed: (Int, Int) -> Bool) -> Bool {
        let runtime = graph.nodes[node]
        let op = runtime.info.op
        guard runtime.controlInputs.isEmpty, !runtime.definition.isStateful, runtime.definition.refInputs.isEmpty,
            ControlFlowKind.of(op) == .compute, !Self.neverFolded.contains(op),
            runtime.outputTypes.allSatisfy({ !$0.isRef && $0.dtype != .resource && $0.dtype != .variant })
        else { return false }
        if runtime.dataInputs.isEmpty { return op == "Const" || op == "HostConst" }
        return runtime.dataInputs.indices.allSatisfy { input in
            !isFed(node, input) && values[runtime.dataInputs[input].node] != nil
        }
    }

    /// The node's outputs, or `nil` when it should run in the step after all.
    private func compute(_ node: Int, graph: RuntimeGraph, step: StepContext) -> [Tensor]? {
        let runtime = graph.nodes[node]
        do throws(WeftError) {
            let kernel = try runtime.definition.makeKernel(runtime.info)
            guard !(kernel is any AsyncOpKernel) else { return nil }
            var inputs: [Value] = []
            for (producer, output) in runtime.dataInputs {
                guard let value = values[producer]?[output] else { return nil }
                inputs.append(.tensor(value))
            }
            let isConst = runtime.dataInputs.isEmpty
            if !isConst, let dtype = runtime.outputTypes.first?.dtype,
                Self.announcedBytes(runtime.info.op, inputs, dtype: dtype) ?? 0 > Self.maxBytes
            {
                return nil
            }
            var outputs: [Tensor] = []
            var bytes = 0
            for value in try kernel.compute(OpKernelContext(node: runtime.info.name, inputs: inputs, step: step)) {
                guard case .tensor(let tensor) = value else { return nil }
                bytes += tensor.buffer.byteCount
                outputs.append(tensor)
            }
            guard outputs.count == runtime.outputTypes.count, isConst || bytes <= Self.maxBytes else { return nil }
            return outputs
        } catch {
            return nil
        }
    }
}

extension ConstantFolding {
    /// The bytes an op that makes a tensor of the shape its inputs give will output, known
    /// before it runs (Grappler checks the same from inferred shapes): folding a large `Fill`
    /// must not allocate, and spend the time on, what it could not keep.
    static func announcedBytes(_ op: String, _ inputs: [Value], dtype: DType) -> Int? {
        func elements(_ index: Int) -> Int? {
            guard index < inputs.count, case .tensor(let shape) = inputs[index],
                let dims = try? KernelChecks.indices(shape, what: "shape", node: op)
            else { return nil }
            return product(dims)
        }
        let count: Int?
        switch op {
        case "Fill": count = elements(0)
        case "BroadcastTo": count = elements(1)
        case "Tile":
            guard case .tensor(let input) = inputs.first, let multiples = elements(1) else { return nil }
            count = product([input.shape.elementCount, multiples])
        default: return nil
        }
        return count.map { product([$0, max(dtype.byteSize, 1)]) }
    }

    /// The product of non-negative factors, `Int.max` when it overflows.
    private static func product(_ factors: [Int]) -> Int {
        var result = 1
        for factor in factors {
            let (next, overflow) = result.multipliedReportingOverflow(by: max(factor, 0))
            if overflow { return .max }
            result = next
        }
        return result
    }
}

/// The kernel of a folded node: the values folding computed, as a `Const` returns its own.
struct FoldedKernel: OpKernel {
    let values: [Tensor]

    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        values.map { .tensor($0) }
    }
}
