import WeftRuntime

/// The work one node does in a step: floating-point operations and bytes of memory touched,
/// from its op and the inferred shapes. The cost model turns work into seconds.
public struct OpWork: Sendable, Hashable {
    /// Arithmetic operations (a multiply-add counts two).
    public var flops: Double
    /// Bytes read and written.
    public var bytes: Double
    /// The element type the arithmetic runs in.
    public var dtype: DType

    /// Makes a work figure.
    public init(flops: Double, bytes: Double, dtype: DType = .float) {
        self.flops = flops
        self.bytes = bytes
        self.dtype = dtype
    }

    /// No work beyond launching the op.
    public static let none = OpWork(flops: 0, bytes: 0)

    /// The work of node `index` of `graph` given the inferred `shapes`.
    public static func of(node index: Int, in graph: RuntimeGraph, shapes: ShapeInference) -> OpWork {
        // Fields are read through the array: copying a node retains a dozen references.
        let inputs = graph.nodes[index].dataInputs
        let outputCount = graph.nodes[index].outputTypes.count
        let dtype =
            graph.nodes[index].outputTypes.first?.dtype ?? inputs.first.map {
                graph.nodes[$0.node].outputTypes[$0.output].dtype
            } ?? .float
        var inputBytes = 0.0
        for input in inputs { inputBytes += Double(shapes.bytes(node: input.node, output: input.output)) }
        var outputBytes = 0.0
        for slot in 0..<outputCount { outputBytes += Double(shapes.bytes(node: index, output: slot)) }
        let outputElements = outputCount == 0 ? 0 : Double(shapes.shape(node: index, output: 0).elementCount)
        let inputElements =
            inputs.first.map { Double(shapes.shape(node: $0.node, output: $0.output).elementCount) } ?? 0
        switch graph.nodes[index].info.op {
        case "Const", "Placeholder", "PlaceholderWithDefault", "VariableV2", "NoOp", "Shape", "Rank", "Size":
            return OpWork(flops: 0, bytes: 0, dtype: dtype)
        case "Identity", "Snapshot", "StopGradient", "Reshape", "ExpandDims", "Squeeze":
            // These share their input's buffer (a variable read copies, but reads are cheap next to the ops).
            return OpWork(flops: 0, bytes: 0, dtype: dtype)
        case "MatMul", "BatchMatMul", "BatchMatMulV2":
            return OpWork(flops: matMulFlops(index, graph, shapes), bytes: inputBytes + outputBytes, dtype: dtype)
        case "Exp", "Log", "Tanh", "Sigmoid", "Softplus", "Elu", "Pow", "Rsqrt", "Sqrt", "Softmax", "LogSoftmax":
            // Transcendental functions cost about ten multiply-adds per element.
            return OpWork(flops: 10 * outputElements, bytes: inputBytes + outputBytes, dtype: dtype)
        case "Sum", "Mean", "Max", "Min", "Prod", "All", "Any", "ArgMax", "ArgMin":
            return OpWork(flops: inputElements, bytes: inputBytes + outputBytes, dtype: dtype)
        case "AddN":
            return OpWork(
                flops: outputElements * Double(max(inputs.count - 1, 1)),
                bytes: inputBytes + outputBytes,
                dtype: dtype
            )
        case "Transpose", "Tile", "ConcatV2", "Pack", "Fill", "Range", "ZerosLike", "OnesLike", "Assign":
            return OpWork(flops: 0, bytes: inputBytes + outputBytes, dtype: dtype)
        default:
            return OpWork(flops: outputElements, bytes: inputBytes + outputBytes, dtype: dtype)
        }
    }

    /// `2·m·n·k` per matrix, times the batch.
    private static func matMulFlops(_ index: Int, _ graph: RuntimeGraph, _ shapes: ShapeInference) -> Double {
        let inputs = graph.nodes[index].dataInputs
        guard inputs.count == 2 else { return 0 }
        let a = shapes.shape(node: inputs[0].node, output: inputs[0].output)
        let out = shapes.shape(node: index, output: 0)
        guard a.rank >= 2, out.rank >= 2 else { return 0 }
        let keyA = graph.nodes[index].info.op == "MatMul" ? "transpose_a" : "adj_x"
        let transposed = (try? graph.nodes[index].info.attributes.bool(keyA, default: false)) ?? false
        let k = transposed ? a.dimensions[a.rank - 2] : a.dimensions[a.rank - 1]
        return 2 * Double(out.elementCount) * Double(k)
    }
}
