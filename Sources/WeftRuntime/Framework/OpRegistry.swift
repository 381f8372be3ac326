import Synchronization

/// The type of one node output: a dtype, and whether it is a reference to a variable.
public struct OutputType: Sendable, Hashable {
    /// The element type.
    public var dtype: DType
    /// Whether the output is a `*_REF`: a variable that consumers read or update.
    public var isRef: Bool

    /// Makes an output type.
    public init(_ dtype: DType, isRef: Bool = false) {
        self.dtype = dtype
        self.isRef = isRef
    }
}

/// Everything Weft knows about one op: how many inputs it takes, which it takes by
/// reference, the types of its outputs and how to build its kernel.
public struct OpDefinition: Sendable {
    /// TensorFlow's op name.
    public var name: String
    /// The number of data inputs, or `nil` when it depends on attributes (checked by the kernel).
    public var inputCount: Int?
    /// Data inputs that must be variable references (`Assign`'s first).
    public var refInputs: Set<Int>
    /// Whether the op has effects beyond its outputs (variables, sends); such ops are never
    /// merged or skipped by optimisations.
    public var isStateful: Bool
    /// Whether a kernel does work proportional to its tensors. Inexpensive kernels (constants,
    /// variable handles, identities, sends and receives) may run on the thread that made them
    /// ready, even an I/O thread, as TensorFlow's `OpKernel::IsExpensive` allows; expensive ones
    /// run there only when that thread may block (see `StepPlan.InlineKernels`).
    public var isExpensive: Bool
    /// The output types from the node and the types of its data inputs.
    public var outputTypes: @Sendable (NodeInfo, [OutputType]) throws(WeftError) -> [OutputType]
    /// Builds the node's kernel.
    public var makeKernel: @Sendable (NodeInfo) throws(WeftError) -> any OpKernel

    /// Defines an op.
    public init(
        _ name: String,
        inputCount: Int?,
        refInputs: Set<Int> = [],
        isStateful: Bool = false,
        isExpensive: Bool = true,
        outputTypes: @escaping @Sendable (NodeInfo, [OutputType]) throws(WeftError) -> [OutputType],
        makeKernel: @escaping @Sendable (NodeInfo) throws(WeftError) -> any OpKernel
    ) {
        self.name = name
        self.inputCount = inputCount
        self.refInputs = refInputs
        self.isStateful = isStateful
        self.isExpensive = isExpensive
        self.outputTypes = outputTypes
        self.makeKernel = makeKernel
    }
}

extension OpDefinition {
    /// Output types for ops with one output of the type in attribute `T`.
    public static func outputOfAttribute(
        _ key: String
    ) -> @Sendable (NodeInfo, [OutputType]) throws(WeftError) -> [OutputType] {
        { node, _ throws(WeftError) in [OutputType(try node.attributes.type(key))] }
    }

    /// Output types for ops with no outputs.
    public static let noOutputs: @Sendable (NodeInfo, [OutputType]) throws(WeftError) -> [OutputType] = { _, _ in [] }
}

/// The ops Weft can run, by TensorFlow name. Every kernel file registers its ops in
/// `OpRegistry.standard`; a process can add its own (the cluster adds `_Send`/`_Recv`).
public final class OpRegistry: Sendable {
    private let definitions: Mutex<[String: OpDefinition]>

    /// Makes a registry holding `definitions`.
    public init(_ definitions: [OpDefinition] = []) {
        self.definitions = Mutex(Dictionary(definitions.map { ($0.name, $0) }, uniquingKeysWith: { $1 }))
    }

    /// Adds or replaces ops.
    public func register(_ definitions: [OpDefinition]) {
        self.definitions.withLock { table in
            for definition in definitions { table[definition.name] = definition }
        }
    }

    /// The definition of an op, or a `notFound` error naming it.
    public func definition(of op: String, node: String) throws(WeftError) -> OpDefinition {
        guard let definition = definitions.withLock({ $0[op] }) else {
            throw WeftError(.notFound, "Op type not registered '\(op)' (node '\(node)'); Weft does not implement it")
        }
        return definition
    }

    /// The names of all registered ops, sorted.
    public var opNames: [String] { definitions.withLock { $0.keys.sorted() } }

    /// Every op Weft implements; the `bfloat16` forms come last and replace the plain ones.
    public static let standard = OpRegistry(implemented + BFloat16Kernels.definitions(extending: implemented))

    private static let implemented: [OpDefinition] =
        StateOps.definitions + CoreOps.definitions + ArrayOps.definitions + MathOps.definitions
            + ReductionOps.definitions
            + RandomOps.definitions + StatelessRandomOps.definitions
            + MatMulOps.definitions + NNOps.definitions + SendRecvOps.definitions + StringOps.definitions
            + ActivationOps.definitions + GradientOps.definitions + BiasOps.definitions + SpecialMathOps.definitions
            + LossOps.definitions + ConvOps.definitions + PoolOps.definitions + BatchNormOps.definitions
            + EinsumOp.definitions + ComplexOps.definitions
            + TrigOp.definitions
            + CheckpointOps.definitions + RegexOps.definitions
            + GatherOps.definitions + SliceOps.definitions + PadOps.definitions + SelectOps.definitions
            + SortOps.definitions + ScanOps.definitions + ShapeOps.definitions + SegmentOps.definitions
            + SpaceOps.definitions + DiagonalOps.definitions
            + TrainingOps.definitions + ScatterOps.definitions + ResourceVariableOps.definitions
            + FunctionalOps.definitions + OptionalOps.definitions
            + ControlFlowOps.definitions
            + TensorListOps.definitions + TensorArrayOps.definitions + StackOps.definitions
            + DataFlowOps.definitions
}
