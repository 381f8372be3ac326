import WeftRuntime

/// Output shapes of every node of a graph, worked out statically for cost estimates.
///
/// Shapes come from `Const` values, `Placeholder` and `VariableV2` shape attributes and the feeds
/// of a run, and flow through elementwise ops with broadcasting, `MatMul`, reductions, `Reshape`,
/// `Transpose`, `ConcatV2`, `Pack` and the other ops Weft implements. This is for planning, not
/// checking: a dimension that neither the graph nor the feeds fix counts as 1, and an op whose
/// shape rule is unknown takes its first input's shape, so inference never fails.
public struct ShapeInference: Sendable {
    /// Every output's shape: output `slot` of node `n` is `shapes[outputStart[n] + slot]`.
    public private(set) var shapes: [TensorShape] = []
    /// Element size in bytes of every output, parallel to `shapes`.
    public private(set) var elementBytes: [Int] = []
    /// Where each node's outputs begin in `shapes`; one extra entry at the end.
    public private(set) var outputStart: [Int] = []

    /// Infers shapes of `graph`. `feedShapes` holds the shapes of fed tensors, keyed by tensor name
    /// (`x:0`) or node name (`x`); they override what the graph declares.
    public init(graph: RuntimeGraph, feedShapes: [String: TensorShape] = [:], order: [Int]? = nil) {
        outputStart.reserveCapacity(graph.nodes.count + 1)
        var total = 0
        for index in graph.nodes.indices {
            outputStart.append(total)
            total += graph.nodes[index].outputTypes.count
        }
        outputStart.append(total)
        shapes = [TensorShape](repeating: .scalar, count: total)
        elementBytes = [Int](repeating: 4, count: total)
        let fed = Self.fedNodes(graph, feedShapes)
        for index in order ?? graph.topologicalOrder() {
            let inferred = fed[index].map { [$0] } ?? infer(graph: graph, index)
            for (slot, type) in graph.nodes[index].outputTypes.enumerated() {
                let position = outputStart[index] + slot
                elementBytes[position] = type.dtype.byteSize
                if slot < inferred.count { shapes[position] = Self.bounded(inferred[slot]) }
            }
        }
    }

    /// The fed shape of every fed node: `x:0` wins over `x`. Looked up once per feed, not per node,
    /// since a graph has far more nodes than feeds.
    private static func fedNodes(_ graph: RuntimeGraph, _ feedShapes: [String: TensorShape]) -> [TensorShape?] {
        var fed = [TensorShape?](repeating: nil, count: graph.nodes.count)
        for (key, shape) in feedShapes {
            if let node = graph.index[key] { fed[node] = shape }
        }
        for (key, shape) in feedShapes where key.hasSuffix(":0") {
            if let node = graph.index[String(key.dropLast(2))] { fed[node] = shape }
        }
        return fed
    }

    /// The shape of output `output` of node `node`.
    public func shape(node: Int, output: Int) -> TensorShape { shapes[outputStart[node] + output] }

    /// The bytes of output `output` of node `node`.
    public func bytes(node: Int, output: Int) -> Int {
        let position = outputStart[node] + output
        return shapes[position].elementCount * elementBytes[position]
    }

    /// The most elements an inferred shape holds. Shapes come from a GraphDef, so their
    /// products can pass `Int`, and the cost model sums bytes over every node; a tensor this
    /// large is refused where it would be allocated anyway, so its estimate needs no precision.
    static let maxElements = 1 << 32

    /// `shape` with its dimensions lowered where their product would pass `maxElements`.
    static func bounded(_ shape: TensorShape) -> TensorShape {
        guard !shape.dimensions.contains(0), !fits(shape) else { return shape }
        var count = 1
        var dimensions = shape.dimensions
        for (axis, size) in dimensions.enumerated() {
            let allowed = maxElements / count
            dimensions[axis] = min(size, allowed)
            count *= max(dimensions[axis], 1)
        }
        return TensorShape(dimensions)
    }

    /// Whether `shape` holds at most `maxElements`: nearly every shape does, and keeps its storage.
    private static func fits(_ shape: TensorShape) -> Bool {
        var count = 1
        for size in shape.dimensions {
            let (product, overflow) = count.multipliedReportingOverflow(by: max(size, 1))
            guard !overflow, product <= maxElements else { return false }
            count = product
        }
        return true
    }

    // MARK: Rules

    private func input(_ graph: RuntimeGraph, _ index: Int, _ slot: Int) -> TensorShape {
        let inputs = graph.nodes[index].dataInputs
        guard slot < inputs.count else { return .scalar }
        return shape(node: inputs[slot].node, output: inputs[slot].output)
    }

    /// The output shapes of one node whose producers are done.
    private func infer(graph: RuntimeGraph, _ index: Int) -> [TensorShape] {
        // Fields are read through the array: copying a node retains a dozen references.
        var attributes: NodeAttributes { graph.nodes[index].info.attributes }
        let first = { input(graph, index, 0) }
        let op = graph.nodes[index].info.op
        switch op {
        case "Const":
            if case .tensor(let proto)? = attributes.values["value"]?.value {
                return [TensorShape(proto.tensorShape.dim.map { max(Int($0.size), 0) })]
            }
            return [.scalar]
        case "Placeholder", "VariableV2":
            return [Self.concrete((try? attributes.shape("shape")) ?? .unknown)]
        case "PlaceholderWithDefault", "Assign":
            return [op == "Assign" ? input(graph, index, 1) : first()]
        case "NoOp":
            return []
        case "MatMul":
            return [matMul(first(), input(graph, index, 1), attributes, "transpose_a", "transpose_b")]
        case "BatchMatMul", "BatchMatMulV2":
            return [matMul(first(), input(graph, index, 1), attributes, "adj_x", "adj_y")]
        case "Sum", "Mean", "Max", "Min", "Prod", "All", "Any":
            let keep = (try? attributes.bool("keep_dims", default: false)) ?? false
            return [reduce(first(), axes: constantInts(graph, index, 1), keepDims: keep)]
        case "ArgMax", "ArgMin":
            return [reduce(first(), axes: constantInts(graph, index, 1) ?? [0], keepDims: false)]
        case "Reshape":
            return [reshape(first(), to: constantInts(graph, index, 1))]
        case "Shape":
            return [TensorShape([first().rank])]
        case "Rank", "Size":
            return [.scalar]
        case "Fill":
            return [TensorShape((constantInts(graph, index, 0) ?? []).map { max($0, 1) })]
        case "ExpandDims":
            return [expandDims(first(), axis: constantInts(graph, index, 1)?.first ?? 0)]
        case "Squeeze":
            return [squeeze(first(), dims: (try? attributes.ints("squeeze_dims", default: [])) ?? [])]
        case "Transpose":
            return [transpose(first(), perm: constantInts(graph, index, 1))]
        case "Tile":
            return [tile(first(), multiples: constantInts(graph, index, 1))]
        case "ConcatV2":
            let count = graph.nodes[index].dataInputs.count - 1
            let axis = constantInts(graph, index, count)?.first ?? 0
            return [concat((0..<max(count, 0)).map { input(graph, index, $0) }, axis: axis)]
        case "Pack":
            let axis = (try? attributes.int("axis", default: 0)) ?? 0
            return [expandDims(first(), axis: axis, size: graph.nodes[index].dataInputs.count)]
        case "Range":
            return [range(graph, index)]
        default:
            return elementwise(graph, index, outputs: graph.nodes[index].outputTypes.count)
        }
    }

    /// Broadcasting over every input: right for elementwise ops, harmless for unary ones.
    private func elementwise(_ graph: RuntimeGraph, _ index: Int, outputs: Int) -> [TensorShape] {
        let inputs = graph.nodes[index].dataInputs
        guard !inputs.isEmpty else { return [TensorShape](repeating: .scalar, count: outputs) }
        let op = graph.nodes[index].info.op
        var result = shape(node: inputs[0].node, output: inputs[0].output)
        // Ops whose later inputs are not operands (axes, biases) keep the first input's shape.
        if op != "BiasAdd" && op != "AddN" {
            for input in inputs.dropFirst() {
                result = Self.broadcast(result, shape(node: input.node, output: input.output))
            }
        }
        return [TensorShape](repeating: result, count: outputs)
    }

    /// NumPy broadcasting; a mismatch keeps the larger size, since the kernel will refuse it anyway.
    static func broadcast(_ a: TensorShape, _ b: TensorShape) -> TensorShape {
        if a == b { return a }
        let rank = max(a.rank, b.rank)
        var dims = [Int](repeating: 1, count: rank)
        for position in 0..<rank {
            let x = position < rank - a.rank ? 1 : a.dimensions[position - (rank - a.rank)]
            let y = position < rank - b.rank ? 1 : b.dimensions[position - (rank - b.rank)]
            dims[position] = x == 1 ? y : (y == 1 ? x : max(x, y))
        }
        return TensorShape(dims)
    }

    /// A declared shape with unknown dimensions counted as 1 and an unknown rank as a scalar.
    static func concrete(_ shape: PartialShape) -> TensorShape {
        TensorShape((shape.dimensions ?? []).map { $0 ?? 1 })
    }

    private func matMul(
        _ a: TensorShape,
        _ b: TensorShape,
        _ attributes: NodeAttributes,
        _ keyA: String,
        _ keyB: String
    ) -> TensorShape {
        let transposeA = (try? attributes.bool(keyA, default: false)) ?? false
        let transposeB = (try? attributes.bool(keyB, default: false)) ?? false
        let (ra, rb) = (a.rank, b.rank)
        guard ra >= 2, rb >= 2 else { return a }
        let m = transposeA ? a.dimensions[ra - 1] : a.dimensions[ra - 2]
        let n = transposeB ? b.dimensions[rb - 2] : b.dimensions[rb - 1]
        let batch = Self.broadcast(
            TensorShape(Array(a.dimensions.dropLast(2))),
            TensorShape(Array(b.dimensions.dropLast(2)))
        )
        return TensorShape(batch.dimensions + [m, n])
    }

    private func reduce(_ shape: TensorShape, axes: [Int]?, keepDims: Bool) -> TensorShape {
        // Axes computed at run time (`Range` over `Rank`, as `sum(x)` builds) mean every axis.
        let reduced = Set((axes ?? Array(0..<shape.rank)).map { $0 < 0 ? $0 + shape.rank : $0 })
        var dims: [Int] = []
        for (axis, size) in shape.dimensions.enumerated() {
            if !reduced.contains(axis) { dims.append(size) } else if keepDims { dims.append(1) }
        }
        return TensorShape(dims)
    }

    private func reshape(_ shape: TensorShape, to target: [Int]?) -> TensorShape {
        guard let target else { return shape }
        let known = target.filter { $0 >= 0 }.reduce(1) { Self.saturatingProduct($0, $1) }
        let missing = known == 0 ? 0 : shape.elementCount / known
        return TensorShape(target.map { $0 < 0 ? max(missing, 1) : $0 })
    }

    private func expandDims(_ shape: TensorShape, axis: Int, size: Int = 1) -> TensorShape {
        var dims = shape.dimensions
        let position = axis < 0 ? axis + dims.count + 1 : axis
        dims.insert(size, at: min(max(position, 0), dims.count))
        return TensorShape(dims)
    }

    private func squeeze(_ shape: TensorShape, dims listed: [Int]) -> TensorShape {
        let axes = Set(listed.map { $0 < 0 ? $0 + shape.rank : $0 })
        return TensorShape(
            shape.dimensions.enumerated().filter { axis, size in
                size != 1 || (!axes.isEmpty && !axes.contains(axis))
            }.map(\.element)
        )
    }

    private func transpose(_ shape: TensorShape, perm: [Int]?) -> TensorShape {
        let perm = perm ?? Array((0..<shape.rank).reversed())
        guard perm.count == shape.rank, perm.allSatisfy({ (0..<shape.rank).contains($0) }) else { return shape }
        return TensorShape(perm.map { shape.dimensions[$0] })
    }

    private func tile(_ shape: TensorShape, multiples: [Int]?) -> TensorShape {
        guard let multiples, multiples.count == shape.rank else { return shape }
        return TensorShape(zip(shape.dimensions, multiples).map { Self.saturatingProduct($0, max($1, 0)) })
    }

    private func concat(_ inputs: [TensorShape], axis: Int) -> TensorShape {
        guard let first = inputs.first, first.rank > 0 else { return inputs.first ?? .scalar }
        let position = axis < 0 ? axis + first.rank : axis
        guard (0..<first.rank).contains(position) else { return first }
        var dims = first.dimensions
        dims[position] = inputs.reduce(0) { $0 + ($1.rank == first.rank ? $1.dimensions[position] : 0) }
        return TensorShape(dims)
    }

    private func range(_ graph: RuntimeGraph, _ index: Int) -> TensorShape {
        guard let start = constantInts(graph, index, 0)?.first, let limit = constantInts(graph, index, 1)?.first,
            let delta = constantInts(graph, index, 2)?.first, delta != 0
        else {
            // `Range(0, Rank(x), 1)`: as long as x's rank; unknown otherwise.
            return TensorShape([max(input(graph, index, 1).elementCount, 1)])
        }
        // In Double: the constants come from the graph and their differences can pass `Int`.
        let count = ((Double(limit) - Double(start)) / Double(delta)).rounded(.up)
        return TensorShape([count > 0 ? Int(min(count, Double(Self.maxElements))) : 0])
    }

    /// `a * b` for sizes (at least zero), `Int.max` where the product would overflow.
    static func saturatingProduct(_ a: Int, _ b: Int) -> Int {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? .max : product
    }

    /// The integer values of input `slot` when it comes straight from a small `Const`.
    private func constantInts(_ graph: RuntimeGraph, _ index: Int, _ slot: Int) -> [Int]? {
        let inputs = graph.nodes[index].dataInputs
        guard slot < inputs.count else { return nil }
        let producer = inputs[slot].node
        // The declared shape is checked before the value is read: a large constant is never copied.
        guard graph.nodes[producer].info.op == "Const",
            case .tensor(let proto)? = graph.nodes[producer].info.attributes.values["value"]?.value,
            proto.tensorShape.dim.count <= 1, proto.tensorShape.dim.allSatisfy({ (0...64).contains($0.size) }),
            let tensor = try? Tensor(proto: proto)
        else { return nil }
        // Read as integers: a double rounds Int64.max up past `Int`.
        switch tensor.dtype {
        case .int32: return tensor.elements(as: Int32.self).map(Int.init)
        case .int64: return tensor.elements(as: Int64.self).map(Int.init)
        default: return nil
        }
    }
}
