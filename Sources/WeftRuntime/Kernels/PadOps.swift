/// Ops that grow a tensor: `Pad`, `PadV2`, `MirrorPad` (`REFLECT`, `SYMMETRIC`) and
/// `BroadcastTo`, which move elements as bytes and work on every dtype; and `MirrorPadGrad`.
enum PadOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        OpDefinition(
            "Pad",
            inputCount: 2,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try pad(context, constant: nil))] }
            }
        ),
        OpDefinition(
            "PadV2",
            inputCount: 3,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let constant = try context.input(2)
                    guard constant.shape.rank == 0 else {
                        throw .invalidArgument(
                            "constant_values must be a scalar. Got: \(constant.shape)",
                            node: context.node
                        )
                    }
                    try KernelChecks.dtype(
                        constant,
                        input: 2,
                        expected: try context.input(0).dtype,
                        op: "PadV2",
                        node: context.node
                    )
                    return [.tensor(try pad(context, constant: constant))]
                }
            }
        ),
        mirror("MirrorPad", mirrorPad),
        mirror("MirrorPadGrad", mirrorPadGrad),
        OpDefinition(
            "BroadcastTo",
            inputCount: 2,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try broadcastTo(context))] } }
        ),
    ]

    /// `MirrorPad` or its gradient: `mode` (REFLECT or SYMMETRIC) read once per node.
    private static func mirror(
        _ name: String,
        _ compute: @escaping @Sendable (OpKernelContext, Bool) throws(WeftError) -> Tensor
    ) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 2,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let mode = try node.attributes.string("mode")
                guard mode == "REFLECT" || mode == "SYMMETRIC" else {
                    throw WeftError(
                        .invalidArgument,
                        "node '\(node.name)': mode must be REFLECT or SYMMETRIC, got '\(mode)'"
                    )
                }
                return ClosureKernel { context throws(WeftError) in [.tensor(try compute(context, mode == "SYMMETRIC"))] }
            }
        )
    }

    /// The `[rank, 2]` paddings of input 1 as (before, after) pairs, checked like TensorFlow.
    private static func paddings(_ x: Tensor, _ tensor: Tensor, node: String) throws(WeftError) -> [(Int, Int)] {
        let rank = x.shape.rank
        guard tensor.shape.rank == 2, tensor.shape.dimensions[1] == 2 else {
            throw .invalidArgument("paddings must be a matrix with 2 columns: \(tensor.shape)", node: node)
        }
        guard tensor.shape.dimensions[0] == rank else {
            throw .invalidArgument(
                "The first dimension of paddings must be the rank of inputs\(tensor.shape) \(x.shape)",
                node: node
            )
        }
        let values = try KernelChecks.indices(tensor, what: "paddings", node: node)
        let pairs = (0..<rank).map { (values[2 * $0], values[2 * $0 + 1]) }
        for (before, after) in pairs where before < 0 || after < 0 {
            throw .invalidArgument("Paddings must be non-negative: \(before) \(after)", node: node)
        }
        return pairs
    }

    /// The padded shape; sizes that overflow become a negative size that allocation refuses.
    private static func paddedShape(_ dims: [Int], _ pads: [(Int, Int)]) -> TensorShape {
        TensorShape(
            zip(dims, pads).map { dim, pad in
                let (sum, overflow) = dim.addingReportingOverflow(pad.0)
                let (total, overflow2) = sum.addingReportingOverflow(pad.1)
                return overflow || overflow2 ? -1 : total
            }
        )
    }

    private static func pad(_ context: OpKernelContext, constant: Tensor?) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let pads = try paddings(x, try context.input(1), node: context.node)
        let dims = x.shape.dimensions
        let shape = paddedShape(dims, pads)
        let out =
            if let constant {
                try IndexedCopy.filled(shape, with: constant, node: context.node)
            } else {
                try IndexedCopy.zeros(x.dtype, shape, node: context.node)
            }
        IndexedCopy.copy(
            dims: dims,
            offsets: IndexedCopy.offsets(
                dims: shape.dimensions,
                begin: pads.map(\.0),
                step: Array(repeating: 1, count: dims.count),
                count: dims
            ),
            elementSize: x.dtype.byteSize,
            dense: x.buffer.base,
            other: out.buffer.base,
            gather: false
        )
        return out
    }

    /// Mirror padding: `REFLECT` mirrors around the edge element (`[3, 2, | 1, 2, 3 |, 2, 1]`),
    /// `SYMMETRIC` includes it (`[2, 1, | 1, 2, 3 |, 3, 2]`).
    private static func mirrorPad(_ context: OpKernelContext, symmetric: Bool) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let pads = try paddings(x, try context.input(1), node: context.node)
        let dims = x.shape.dimensions
        try checkMirror(pads, dims, symmetric: symmetric, node: context.node)
        let shape = paddedShape(dims, pads)
        let out = try KernelChecks.allocate(x.dtype, shape, node: context.node)
        guard out.elementCount > 0 else { return out }
        IndexedCopy.copy(
            dims: shape.dimensions,
            offsets: mirrorOffsets(dims, pads, padded: shape.dimensions, symmetric: symmetric),
            elementSize: x.dtype.byteSize,
            dense: out.buffer.base,
            other: x.buffer.base,
            gather: true
        )
        return out
    }

    private static func checkMirror(
        _ pads: [(Int, Int)],
        _ dims: [Int],
        symmetric: Bool,
        node: String
    ) throws(WeftError) {
        for (d, (before, after)) in pads.enumerated() {
            if symmetric {
                guard before <= dims[d], after <= dims[d] else {
                    throw .invalidArgument(
                        "paddings must be no greater than the dimension size: \(before), \(after) greater than \(dims[d])",
                        node: node
                    )
                }
            } else {
                guard before < dims[d], after < dims[d] else {
                    throw .invalidArgument(
                        "paddings must be less than the dimension size: \(before), \(after) not less than \(dims[d])",
                        node: node
                    )
                }
            }
        }
    }

    /// For each dimension, the element offset in the unpadded tensor (`dims`) that each index
    /// of the padded one (`padded`) mirrors.
    private static func mirrorOffsets(_ dims: [Int], _ pads: [(Int, Int)], padded: [Int], symmetric: Bool) -> [[Int]] {
        let strides = IndexedCopy.strides(dims)
        let reach = symmetric ? 1 : 0
        return dims.indices.map { d in
            (0..<padded[d]).map { o -> Int in
                let i = o - pads[d].0
                let n = dims[d]
                let source = i < 0 ? -i - reach : i >= n ? 2 * n - 2 + reach - i : i
                return source * strides[d]
            }
        }
    }

    /// `MirrorPadGrad(grad, paddings)`: the gradient of `MirrorPad`, each padded element's
    /// gradient added onto the element it mirrors.
    private static func mirrorPadGrad(_ context: OpKernelContext, symmetric: Bool) throws(WeftError) -> Tensor {
        let grad = try context.input(0)
        let pads = try paddings(grad, try context.input(1), node: context.node)
        let padded = grad.shape.dimensions
        var dims: [Int] = []
        for (d, (before, after)) in pads.enumerated() {
            guard before <= padded[d], after <= padded[d] - before else {
                throw .invalidArgument(
                    "paddings \(before), \(after) are larger than dimension \(d) of the gradient, \(padded[d])",
                    node: context.node
                )
            }
            dims.append(padded[d] - before - after)
        }
        try checkMirror(pads, dims, symmetric: symmetric, node: context.node)
        let out = try IndexedCopy.zeros(grad.dtype, TensorShape(dims), node: context.node)
        guard grad.elementCount > 0 else { return out }
        let offsets = mirrorOffsets(dims, pads, padded: padded, symmetric: symmetric)
        try grad.dtype.visit(MirrorAccumulate(grad: grad, out: out, offsets: offsets, node: context.node))
        return out
    }

    /// Adds every element of `grad` onto `out` at the offset its position maps to.
    private struct MirrorAccumulate: ElementVisitor {
        let grad: Tensor
        let out: Tensor
        let offsets: [[Int]]
        let node: String
        var op: String { "MirrorPadGrad" }

        func float<T: FloatElement>(_ type: T.Type) throws(WeftError) { run(T.self, +) }
        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) { run(T.self, &+) }

        private func run<T: TensorElement>(_ type: T.Type, _ add: (T, T) -> T) {
            let dims = offsets.map(\.count)
            grad.withElements(of: T.self) { source in
                out.withMutableElements(of: T.self) { target in
                    var counters = [Int](repeating: 0, count: dims.count)
                    var offset = offsets.reduce(0) { $0 + $1[0] }
                    for i in source.indices {
                        target[offset] = add(target[offset], source[i])
                        var d = dims.count - 1
                        while d >= 0 {
                            offset -= offsets[d][counters[d]]
                            counters[d] += 1
                            if counters[d] < dims[d] {
                                offset += offsets[d][counters[d]]
                                break
                            }
                            counters[d] = 0
                            offset += offsets[d][0]
                            d -= 1
                        }
                    }
                }
            }
        }
    }

    private static func broadcastTo(_ context: OpKernelContext) throws(WeftError) -> Tensor {
        let x = try context.input(0)
        let shapeTensor = try context.input(1)
        try KernelChecks.vector(shapeTensor, what: "shape", node: context.node)
        let target = try KernelChecks.indices(shapeTensor, what: "shape", node: context.node)
        if let negative = target.first(where: { $0 < 0 }) {
            throw .invalidArgument("BroadcastTo shape must be non-negative, got \(negative)", node: context.node)
        }
        let dims = x.shape.dimensions
        let shape = TensorShape(target)
        let lead = target.count - dims.count
        let fits = lead >= 0 && dims.indices.allSatisfy { dims[$0] == target[lead + $0] || dims[$0] == 1 }
        guard fits else {
            throw .invalidArgument("Incompatible shapes: \(x.shape) vs. \(shape)", node: context.node)
        }
        if dims == target { return x }
        let out = try KernelChecks.allocate(x.dtype, shape, node: context.node)
        guard out.elementCount > 0 else { return out }
        let strides = IndexedCopy.strides(dims)
        let offsets = target.indices.map { d -> [Int] in
            let source = d - lead
            guard source >= 0, dims[source] != 1 else { return Array(repeating: 0, count: target[d]) }
            return (0..<target[d]).map { $0 * strides[source] }
        }
        IndexedCopy.copy(
            dims: target,
            offsets: offsets,
            elementSize: x.dtype.byteSize,
            dense: out.buffer.base,
            other: x.buffer.base,
            gather: true
        )
        return out
    }
}
