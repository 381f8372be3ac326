/// Ops about shapes that gradients use, and identities with a purpose: `ShapeN`,
/// `ConcatOffset`, `BroadcastGradientArgs`, `BroadcastArgs`, `InvertPermutation`,
/// `PreventGradient`, `IdentityN`, `EnsureShape`, `CheckNumerics`, `Bitcast`.
enum ShapeOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        shapeN, concatOffset, broadcastGradientArgs, broadcastArgs, invertPermutation, preventGradient, identityN,
        ensureShape, checkNumerics, bitcast,
    ]

    /// An int32 or int64 vector of `values`.
    private static func vector(_ values: [Int], _ dtype: DType, node: String) throws(WeftError) -> Tensor {
        if dtype == .int64 { return Tensor(values.map { Int64($0) }) }
        if let overflow = values.first(where: { $0 > Int(Int32.max) || $0 < Int(Int32.min) }) {
            throw .invalidArgument("\(overflow) does not fit in int32; use int64", node: node)
        }
        return Tensor(values.map { Int32($0) })
    }

    /// The int32 or int64 type in attribute `key` (int32 when absent).
    private static func indexType(_ node: NodeInfo, _ key: String) throws(WeftError) -> DType {
        let type = try node.optionalType(key) ?? .int32
        guard type == .int32 || type == .int64 else {
            throw WeftError(
                .invalidArgument,
                "node '\(node.name)' (\(node.op)): \(key) must be int32 or int64, not \(type)"
            )
        }
        return type
    }

    /// `N` from the attribute, checked against the node's inputs (`extra` more than `N`).
    private static func count(_ node: NodeInfo, extra: Int = 0) throws(WeftError) -> Int {
        let inputs = node.dataInputs.count - extra
        let count = try node.attributes.int("N", default: inputs)
        guard count >= 1, count == inputs else {
            throw WeftError(
                .invalidArgument,
                "node '\(node.name)' (\(node.op)) has attribute N=\(count) but \(inputs) value inputs; N must be at least 1"
            )
        }
        return count
    }

    /// `ShapeN`: the shape of each of its `N` inputs, as `out_type`.
    private static let shapeN = OpDefinition(
        "ShapeN",
        inputCount: nil,
        isExpensive: false,
        outputTypes: { node, inputs throws(WeftError) in
            Array(repeating: OutputType(try indexType(node, "out_type")), count: inputs.count)
        },
        makeKernel: { node throws(WeftError) in
            let type = try indexType(node, "out_type")
            let n = try count(node)
            return ClosureKernel { context throws(WeftError) in
                try (0..<n).map { (i) throws(WeftError) in
                    .tensor(try vector(try context.input(i).shape.dimensions, type, node: context.node))
                }
            }
        }
    )

    /// `ConcatOffset(concat_dim, shape...)`: where each input of a concatenation starts in its
    /// output, for `ConcatV2`'s gradient.
    private static let concatOffset = OpDefinition(
        "ConcatOffset",
        inputCount: nil,
        isExpensive: false,
        outputTypes: { node, inputs throws(WeftError) in
            let type = try node.optionalType("shape_type") ?? (inputs.count > 1 ? inputs[1].dtype : .int32)
            return Array(repeating: OutputType(type), count: max(inputs.count - 1, 0))
        },
        makeKernel: { node throws(WeftError) in
            let n = try count(node, extra: 1)
            return ClosureKernel { context throws(WeftError) in
                let axisTensor = try context.input(0)
                guard axisTensor.shape.rank == 0 else {
                    throw .invalidArgument(
                        "Concat dim tensor should be a scalar integer, but got shape \(axisTensor.shape)",
                        node: context.node
                    )
                }
                let axis = try KernelChecks.scalarIndex(axisTensor, what: "concat_dim", node: context.node)
                let first = try context.input(1)
                try KernelChecks.vector(first, what: "shape", node: context.node)
                let base = try KernelChecks.indices(first, what: "shape", node: context.node)
                let rank = base.count
                guard axis >= -rank && axis < rank else {
                    throw .invalidArgument("Concat dim is out of range: \(axis) vs. \(rank)", node: context.node)
                }
                let dim = axis < 0 ? axis + rank : axis
                var offset = 0
                var outputs: [Value] = []
                for i in 0..<n {
                    let tensor = try context.input(1 + i)
                    try KernelChecks.dtype(
                        tensor,
                        input: 1 + i,
                        expected: first.dtype,
                        op: "ConcatOffset",
                        node: context.node
                    )
                    let shape = try KernelChecks.indices(tensor, what: "shape", node: context.node)
                    guard tensor.shape.rank == 1, shape.count == rank else {
                        throw .invalidArgument(
                            "input \(i) should contain \(rank) elements, but got \(shape.count)",
                            node: context.node
                        )
                    }
                    for d in 0..<rank where d != dim && shape[d] != base[d] {
                        throw .invalidArgument(
                            "All dimensions except \(dim) must match. Input \(i) has shape \(shape) and doesn't match input 0 with shape \(base)",
                            node: context.node
                        )
                    }
                    var values = [Int](repeating: 0, count: rank)
                    values[dim] = offset
                    outputs.append(.tensor(try vector(values, first.dtype, node: context.node)))
                    offset = offset &+ shape[dim]
                }
                return outputs
            }
        }
    )

    /// `BroadcastGradientArgs(s0, s1)`: the axes a broadcasting op's gradient sums over for
    /// each operand, so it gets back the operand's shape. A dimension where both are 1 is
    /// listed for both, unless the shapes are identical (TensorFlow's `BCast` rule).
    private static let broadcastGradientArgs = OpDefinition(
        "BroadcastGradientArgs",
        inputCount: 2,
        isExpensive: false,
        outputTypes: { node, inputs throws(WeftError) in
            let type = try node.optionalType("T") ?? inputs.first?.dtype ?? .int32
            return [OutputType(type), OutputType(type)]
        },
        makeKernel: { _ in
            ClosureKernel { context throws(WeftError) in
                let first = try context.input(0)
                let second = try context.input(1)
                try KernelChecks.vector(first, what: "In[0]", node: context.node)
                try KernelChecks.vector(second, what: "In[1]", node: context.node)
                try KernelChecks.dtype(
                    second,
                    input: 1,
                    expected: first.dtype,
                    op: "BroadcastGradientArgs",
                    node: context.node
                )
                let x = try KernelChecks.indices(first, what: "s0", node: context.node)
                let y = try KernelChecks.indices(second, what: "s1", node: context.node)
                let (r0, r1) = try reductionAxes(x, y, node: context.node)
                return [
                    .tensor(try vector(r0, first.dtype, node: context.node)),
                    .tensor(try vector(r1, first.dtype, node: context.node)),
                ]
            }
        }
    )

    /// The axes each of two broadcast operands is reduced over, ascending.
    static func reductionAxes(_ x: [Int], _ y: [Int], node: String) throws(WeftError) -> ([Int], [Int]) {
        guard x != y else { return ([], []) }
        let rank = max(x.count, y.count)
        let paddedX = Array(repeating: 1, count: rank - x.count) + x
        let paddedY = Array(repeating: 1, count: rank - y.count) + y
        var (r0, r1): ([Int], [Int]) = ([], [])
        for d in 0..<rank {
            let (a, b) = (paddedX[d], paddedY[d])
            if a == b {
                if a == 1 {
                    r0.append(d)
                    r1.append(d)
                }
            } else if a == 1 {
                r0.append(d)
            } else if b == 1 {
                r1.append(d)
            } else {
                throw .invalidArgument("Incompatible shapes: \(TensorShape(x)) vs. \(TensorShape(y))", node: node)
            }
        }
        return (r0, r1)
    }

    /// `BroadcastArgs(s0, s1)`: the shape two operands of these shapes broadcast to.
    private static let broadcastArgs = OpDefinition(
        "BroadcastArgs",
        inputCount: 2,
        isExpensive: false,
        outputTypes: OpDefinition.outputOfInput(0),
        makeKernel: { _ in
            ClosureKernel { context throws(WeftError) in
                let first = try context.input(0)
                let second = try context.input(1)
                try KernelChecks.vector(first, what: "s0", node: context.node)
                try KernelChecks.vector(second, what: "s1", node: context.node)
                try KernelChecks.dtype(second, input: 1, expected: first.dtype, op: "BroadcastArgs", node: context.node)
                let x = try KernelChecks.indices(first, what: "s0", node: context.node)
                let y = try KernelChecks.indices(second, what: "s1", node: context.node)
                let rank = max(x.count, y.count)
                let paddedX = Array(repeating: 1, count: rank - x.count) + x
                let paddedY = Array(repeating: 1, count: rank - y.count) + y
                var result: [Int] = []
                for (a, b) in zip(paddedX, paddedY) {
                    guard a == b || a == 1 || b == 1 else {
                        throw .invalidArgument(
                            "Incompatible shapes: \(TensorShape(x)) vs. \(TensorShape(y))",
                            node: context.node
                        )
                    }
                    result.append(a == 1 ? b : a)
                }
                return [.tensor(try vector(result, first.dtype, node: context.node))]
            }
        }
    )

    /// `InvertPermutation(x)`: `y[x[i]] = i`, refusing anything that is not a permutation.
    private static let invertPermutation = OpDefinition(
        "InvertPermutation",
        inputCount: 1,
        isExpensive: false,
        outputTypes: OpDefinition.outputOfInput(0),
        makeKernel: { _ in
            ClosureKernel { context throws(WeftError) in
                let x = try context.input(0)
                try KernelChecks.vector(x, what: "x", node: context.node)
                let values = try KernelChecks.indices(x, what: "x", node: context.node)
                let n = values.count
                var inverse = [Int](repeating: -1, count: n)
                for (i, d) in values.enumerated() {
                    guard d >= 0, d < n else {
                        throw .invalidArgument("\(d) is not between 0 and \(n)", node: context.node)
                    }
                    guard inverse[d] == -1 else {
                        throw .invalidArgument("\(d) is duplicated in the input.", node: context.node)
                    }
                    inverse[d] = i
                }
                return [.tensor(try vector(inverse, x.dtype, node: context.node))]
            }
        }
    )

    /// `EnsureShape`: its input, or `invalidArgument` when the input's shape does not fit the
    /// `shape` attribute (whose unknown dimensions match anything).
    private static let ensureShape = OpDefinition(
        "EnsureShape",
        inputCount: 1,
        isExpensive: false,
        outputTypes: OpDefinition.outputOfInput(0),
        makeKernel: { node throws(WeftError) in
            let expected = try node.attributes.shape("shape")
            return ClosureKernel { context throws(WeftError) in
                let x = try context.input(0)
                guard expected.isCompatible(with: x.shape) else {
                    throw .invalidArgument(
                        "Shape of tensor \(context.node) \(x.shape) is not compatible with expected shape \(expected).",
                        node: context.node
                    )
                }
                return [.tensor(x)]
            }
        }
    )

    /// `PreventGradient`: an identity that the gradient builder refuses to differentiate.
    private static let preventGradient = OpDefinition(
        "PreventGradient",
        inputCount: 1,
        isExpensive: false,
        outputTypes: OpDefinition.outputOfInput(0),
        makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try context.input(0))] } }
    )

    /// `IdentityN`: each of its inputs, unchanged.
    private static let identityN = OpDefinition(
        "IdentityN",
        inputCount: nil,
        isExpensive: false,
        outputTypes: { _, inputs in inputs.map { OutputType($0.dtype) } },
        makeKernel: { _ in
            ClosureKernel { context throws(WeftError) in
                try context.inputs.indices.map { (i) throws(WeftError) in .tensor(try context.input(i)) }
            }
        }
    )

    /// `CheckNumerics`: its input, or `invalidArgument` with `message` when any element is
    /// NaN or infinite.
    private static let checkNumerics = OpDefinition(
        "CheckNumerics",
        inputCount: 1,
        outputTypes: OpDefinition.outputOfInput(0),
        makeKernel: { node throws(WeftError) in
            let message = try node.attributes.string("message", default: "")
            return ClosureKernel { context throws(WeftError) in
                let x = try context.input(0)
                let (nan, inf) = try x.dtype.visit(NonFinite(x: x, node: context.node))
                guard !nan && !inf else {
                    let kind = nan && inf ? "Inf and NaN" : inf ? "Inf" : "NaN"
                    throw .invalidArgument("\(message) : Tensor had \(kind) values", node: context.node)
                }
                return [.tensor(x)]
            }
        }
    )

    /// `Bitcast`: the same bytes read as attribute `type`. A wider type consumes a last
    /// dimension of `width ratio` elements; a narrower one adds such a dimension.
    private static let bitcast = OpDefinition(
        "Bitcast",
        inputCount: 1,
        isExpensive: false,
        outputTypes: OpDefinition.outputOfAttribute("type"),
        makeKernel: { node throws(WeftError) in
            let target = try node.attributes.type("type")
            return ClosureKernel { context throws(WeftError) in
                let x = try context.input(0)
                let (from, to) = (x.dtype.byteSize, target.byteSize)
                var dims = x.shape.dimensions
                if x.dtype == .bool || target == .bool {
                    throw .invalidArgument("Bitcast does not take bool tensors", node: context.node)
                } else if from > to, from % to == 0 {
                    dims.append(from / to)
                } else if from < to, to % from == 0, dims.last == to / from {
                    dims.removeLast()
                } else if from != to {
                    throw .invalidArgument(
                        "Cannot bitcast from \(x.dtype.rawValue) to \(target.rawValue)",
                        node: context.node
                    )
                }
                return [.tensor(Tensor(dtype: target, shape: TensorShape(dims), buffer: x.buffer))]
            }
        }
    )

    /// Whether a floating-point tensor holds a NaN, and whether it holds an infinity.
    private struct NonFinite: ElementVisitor {
        let x: Tensor
        let node: String
        var op: String { "CheckNumerics" }

        func float<T: FloatElement>(_ type: T.Type) throws(WeftError) -> (Bool, Bool) {
            x.withElements(of: T.self) { values in
                var (nan, inf) = (false, false)
                for value in values where !value.isFinite {
                    if value.isNaN { nan = true } else { inf = true }
                }
                return (nan, inf)
            }
        }
    }
}
