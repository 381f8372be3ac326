/// Reductions over axes: `Sum`, `Mean`, `Max`, `Min`, `Prod`, `All`, `Any`, and the index
/// reductions `ArgMax`, `ArgMin`.
enum ReductionOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        reduction("Sum", .sum), reduction("Mean", .mean), reduction("Max", .max), reduction("Min", .min),
        reduction("Prod", .prod), reduction("All", .all), reduction("Any", .any),
        argReduction("ArgMax", .max), argReduction("ArgMin", .min),
    ]

    /// A reduction taking the tensor and its reduction indices (`int32` or `int64`, scalar or
    /// vector, negative axes counting from the end), with attribute `keep_dims`.
    private static func reduction(_ name: String, _ operation: Reduction) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 2,
            outputTypes: operation.isLogical ? boolOutput : OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let keepDims = try node.attributes.bool("keep_dims", default: false)
                let declared = try node.optionalType("T")
                return ClosureKernel { context throws(WeftError) in
                    let input = try context.input(0)
                    try KernelChecks.dtype(input, input: 0, expected: declared, op: name, node: context.node)
                    let axes = try KernelChecks.indices(
                        try context.input(1),
                        what: "reduction indices",
                        node: context.node
                    )
                    let layout = try ReductionLayout(input.shape, axes: axes, keepDims: keepDims, node: context.node)
                    return [.tensor(try operation.apply(input, layout, op: name, node: context.node))]
                }
            }
        )
    }

    /// `ArgMax` / `ArgMin`: the index of the extreme element along one axis (input 1, a scalar),
    /// as `output_type` (`int64` unless the node says `int32`). Ties go to the first index.
    private static func argReduction(_ name: String, _ extreme: ArgReduction) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 2,
            outputTypes: { node, _ throws(WeftError) in [OutputType(try indexType(node))] },
            makeKernel: { node throws(WeftError) in
                let outputType = try indexType(node)
                return ClosureKernel { context throws(WeftError) in
                    let input = try context.input(0)
                    let axis = try KernelChecks.scalarIndex(try context.input(1), what: "dimension", node: context.node)
                    return [
                        .tensor(
                            try extreme.apply(input, axis: axis, outputType: outputType, op: name, node: context.node)
                        )
                    ]
                }
            }
        )
    }

    private static let boolOutput: @Sendable (NodeInfo, [OutputType]) throws(WeftError) -> [OutputType] = { _, _ in
        [OutputType(.bool)]
    }

    private static func indexType(_ node: NodeInfo) throws(WeftError) -> DType {
        let type = try node.optionalType("output_type") ?? .int64
        guard type == .int32 || type == .int64 else {
            throw WeftError(.invalidArgument, "node '\(node.name)': output_type must be int32 or int64, not \(type)")
        }
        return type
    }
}

// MARK: - Layout

/// A reduction's input shape simplified the way TensorFlow's `ReductionHelper` does: size-1
/// dimensions dropped and neighbouring dimensions merged into alternating runs of reduced and
/// kept dimensions, so `[2, 3, 4]` reduced over `[1, 2]` is a `[2, 12]` row reduction.
struct ReductionLayout: Sendable {
    /// The output's shape (reduced axes removed, or kept as 1 with `keep_dims`).
    let outputShape: TensorShape
    /// The merged runs, outermost first; never empty.
    let runs: [Int]
    /// Whether each run is reduced.
    let reduced: [Bool]
    /// How many input elements fold into each output element.
    let reducedCount: Int

    /// Validates `axes` against `shape` with TensorFlow's messages and simplifies.
    init(_ shape: TensorShape, axes: [Int], keepDims: Bool, node: String) throws(WeftError) {
        let rank = shape.rank
        var isReduced = [Bool](repeating: false, count: rank)
        for axis in axes {
            guard axis >= -rank && axis < rank else {
                throw .invalidArgument(
                    "Invalid reduction dimension (\(axis) for input with \(rank) dimension(s)",
                    node: node
                )
            }
            let normalized = axis < 0 ? axis + rank : axis
            guard !isReduced[normalized] else {
                throw .invalidArgument(
                    "Invalid reduction arguments: Axes contains duplicate dimension: \(normalized)",
                    node: node
                )
            }
            isReduced[normalized] = true
        }
        var output: [Int] = []
        var runs: [Int] = []
        var reduced: [Bool] = []
        var reducedCount = 1
        for (axis, size) in shape.dimensions.enumerated() {
            if isReduced[axis] {
                reducedCount *= size
                if keepDims { output.append(1) }
            } else {
                output.append(size)
            }
            // Size-1 dimensions change nothing about the iteration.
            if size == 1 { continue }
            if let last = reduced.last, last == isReduced[axis] {
                runs[runs.count - 1] *= size
            } else {
                runs.append(size)
                reduced.append(isReduced[axis])
            }
        }
        if runs.isEmpty {
            // One element (or a scalar): a single kept run of length 1 copies it through.
            runs = [1]
            reduced = [false]
        }
        self.outputShape = TensorShape(output)
        self.runs = runs
        self.reduced = reduced
        self.reducedCount = reducedCount
    }

    /// Folds every input element into its output element with `combine`, after setting every
    /// output element to `identity`. One pass over the input in memory order: along the
    /// innermost run either a row folds into one output element (several accumulators, so the
    /// additions pipeline) or a row folds element-wise into a row of outputs.
    @inline(__always)
    func fold<T>(
        _ input: UnsafeBufferPointer<T>,
        into output: UnsafeMutableBufferPointer<T>,
        identity: T,
        _ combine: (T, T) -> T
    ) {
        output.initialize(repeating: identity)
        guard input.count > 0, let source = input.baseAddress, let target = output.baseAddress else { return }
        let last = runs.count - 1
        let inner = runs[last]
        let innerReduced = reduced[last]
        // Output strides of the outer runs: 0 for reduced runs, the kept elements after it otherwise.
        var outputStrides = [Int](repeating: 0, count: last)
        var step = innerReduced ? 1 : inner
        for run in stride(from: last - 1, through: 0, by: -1) where !reduced[run] {
            outputStrides[run] = step
            step *= runs[run]
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: max(last, 1)) { counters in
            counters.initialize(repeating: 0)
            var inputOffset = 0
            var outputOffset = 0
            while inputOffset < input.count {
                let row = source + inputOffset
                if innerReduced {
                    target[outputOffset] = combine(target[outputOffset], foldRow(row, inner, identity, combine))
                } else {
                    let out = target + outputOffset
                    for j in 0..<inner { out[j] = combine(out[j], row[j]) }
                }
                inputOffset += inner
                var run = last - 1
                while run >= 0 {
                    counters[run] += 1
                    outputOffset += outputStrides[run]
                    if counters[run] < runs[run] { break }
                    outputOffset -= outputStrides[run] * runs[run]
                    counters[run] = 0
                    run -= 1
                }
            }
        }
    }
}

/// Folds `count` contiguous elements with four independent accumulators.
@inline(__always)
private func foldRow<T>(_ row: UnsafePointer<T>, _ count: Int, _ identity: T, _ combine: (T, T) -> T) -> T {
    var a0 = identity
    var a1 = identity
    var a2 = identity
    var a3 = identity
    var i = 0
    while i &+ 4 <= count {
        a0 = combine(a0, row[i])
        a1 = combine(a1, row[i &+ 1])
        a2 = combine(a2, row[i &+ 2])
        a3 = combine(a3, row[i &+ 3])
        i &+= 4
    }
    while i < count {
        a0 = combine(a0, row[i])
        i &+= 1
    }
    return combine(combine(a0, a1), combine(a2, a3))
}

// MARK: - Reductions

/// What a reduction computes.
enum Reduction: Sendable {
    /// The sum; 0 for no elements.
    case sum
    /// The mean; integer division for integer types, as in TensorFlow.
    case mean
    /// The largest element; NaN if any is NaN; the type's lowest value for no elements.
    case max
    /// The smallest element; NaN if any is NaN.
    case min
    /// The product; 1 for no elements.
    case prod
    /// Whether all are true (`bool` only).
    case all
    /// Whether any is true (`bool` only).
    case any

    /// Whether the reduction works on `bool` and gives `bool`.
    var isLogical: Bool { self == .all || self == .any }

    /// Reduces `input` as `layout` describes into a new tensor.
    func apply(_ input: Tensor, _ layout: ReductionLayout, op: String, node: String) throws(WeftError) -> Tensor {
        let out = Tensor(uninitialized: input.dtype, shape: layout.outputShape)
        try input.dtype.visit(Visitor(operation: self, input: input, out: out, layout: layout, op: op, node: node))
        return out
    }

    private struct Visitor: ElementVisitor {
        let operation: Reduction
        let input: Tensor
        let out: Tensor
        let layout: ReductionLayout
        let op: String
        let node: String

        func float<T: FloatElement>(_ type: T.Type) throws(WeftError) {
            switch operation {
            case .sum: fold(T.self, identity: 0) { $0 + $1 }
            case .mean:
                fold(T.self, identity: 0) { $0 + $1 }
                // No elements gives 0 / 0 = NaN, as in TensorFlow.
                let count = T(layout.reducedCount)
                out.withMutableElements(of: T.self) { values in
                    for i in values.indices { values[i] /= count }
                }
            case .max: fold(T.self, identity: -.infinity) { $0 > $1 || $0.isNaN ? $0 : $1 }
            case .min: fold(T.self, identity: .infinity) { $0 < $1 || $0.isNaN ? $0 : $1 }
            case .prod: fold(T.self, identity: 1) { $0 * $1 }
            case .all, .any: throw .unsupported(op: op, dtype: T.dtype, node: node)
            }
        }

        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) {
            switch operation {
            case .sum: fold(T.self, identity: 0) { $0 &+ $1 }
            case .mean:
                fold(T.self, identity: 0) { $0 &+ $1 }
                // TensorFlow divides the (wrapping) integer sum by the count; a count of zero,
                // which would crash there, gives 0 here.
                let count = T(truncatingIfNeeded: layout.reducedCount)
                out.withMutableElements(of: T.self) { values in
                    for i in values.indices {
                        values[i] = count == 0 ? 0 : values[i].dividedReportingOverflow(by: count).partialValue
                    }
                }
            case .max: fold(T.self, identity: T.min) { Swift.max($0, $1) }
            case .min: fold(T.self, identity: T.max) { Swift.min($0, $1) }
            case .prod: fold(T.self, identity: 1) { $0 &* $1 }
            case .all, .any: throw .unsupported(op: op, dtype: T.dtype, node: node)
            }
        }

        /// `Sum`, `Mean` and `Prod`; complex numbers have no order for `Max` and `Min`.
        func complex<R: ComplexReal>(_ type: R.Type) throws(WeftError) {
            typealias C = ComplexElement<R>
            switch operation {
            case .sum: fold(C.self, identity: C(real: 0)) { $0 + $1 }
            case .mean:
                fold(C.self, identity: C(real: 0)) { $0 + $1 }
                let count = R(layout.reducedCount)
                out.withMutableElements(of: C.self) { values in
                    for i in values.indices { values[i] = C(values[i].real / count, values[i].imaginary / count) }
                }
            case .prod: fold(C.self, identity: C(real: 1)) { $0 * $1 }
            default: throw .unsupported(op: op, dtype: C.dtype, node: node)
            }
        }

        func bool() throws(WeftError) {
            switch operation {
            case .all: fold(Bool.self, identity: true) { $0 && $1 }
            case .any: fold(Bool.self, identity: false) { $0 || $1 }
            default: throw .unsupported(op: op, dtype: .bool, node: node)
            }
        }

        @inline(__always)
        private func fold<T: TensorElement>(_ type: T.Type, identity: T, _ combine: (T, T) -> T) {
            input.withElements(of: T.self) { source in
                out.withMutableElements(of: T.self) { target in
                    layout.fold(source, into: target, identity: identity, combine)
                }
            }
        }
    }
}

// MARK: - ArgMax / ArgMin

/// Which extreme an index reduction looks for.
enum ArgReduction: Sendable {
    /// The largest element's index.
    case max
    /// The smallest element's index.
    case min

    /// The indices of the extreme elements of `input` along `axis`, as `outputType`.
    func apply(_ input: Tensor, axis: Int, outputType: DType, op: String, node: String) throws(WeftError) -> Tensor {
        let rank = input.shape.rank
        guard axis >= -rank && axis < rank else {
            throw .invalidArgument("Expected dimension in the range [\(-rank), \(rank)), but got \(axis)", node: node)
        }
        let normalized = axis < 0 ? axis + rank : axis
        let dims = input.shape.dimensions
        guard dims[normalized] > 0 else {
            throw .invalidArgument("Reduction axis \(normalized) is empty in shape \(input.shape)", node: node)
        }
        var outputDims = dims
        outputDims.remove(at: normalized)
        let out = Tensor(uninitialized: outputType, shape: TensorShape(outputDims))
        let geometry = (
            outer: dims[..<normalized].reduce(1, *), count: dims[normalized],
            inner: dims[(normalized + 1)...].reduce(1, *)
        )
        try input.dtype.visit(
            Visitor(
                extreme: self,
                input: input,
                out: out,
                outer: geometry.outer,
                count: geometry.count,
                inner: geometry.inner,
                op: op,
                node: node
            )
        )
        return out
    }

    private struct Visitor: ElementVisitor {
        let extreme: ArgReduction
        let input: Tensor
        let out: Tensor
        let outer: Int
        let count: Int
        let inner: Int
        let op: String
        let node: String

        // TensorFlow's scan starts from index 0 holding the lowest (highest) finite value, so a
        // NaN is never chosen over a number and a leading NaN or infinity does not win by default.
        func float<T: FloatElement>(_ type: T.Type) {
            let bound = extreme == .max ? -T.greatestFiniteMagnitude : T.greatestFiniteMagnitude
            let isMax = extreme == .max
            search(T.self) { isMax ? ($0 > bound ? $0 : bound) : ($0 < bound ? $0 : bound) }
        }

        func integer<T: IntegerElement>(_ type: T.Type) { search(T.self) { $0 } }

        private func search<T: TensorElement & Comparable>(_ type: T.Type, start: (T) -> T) {
            switch (extreme, out.dtype) {
            case (.max, .int32): search(T.self, Int32.self, start: start) { $0 > $1 }
            case (.max, _): search(T.self, Int64.self, start: start) { $0 > $1 }
            case (.min, .int32): search(T.self, Int32.self, start: start) { $0 < $1 }
            case (.min, _): search(T.self, Int64.self, start: start) { $0 < $1 }
            }
        }

        /// Scans the reduced axis for every (outer, inner) position. When `inner` is 1 each
        /// output is one contiguous row; otherwise rows of `inner` candidates are compared
        /// element-wise against the best so far, keeping memory access sequential.
        @inline(__always)
        private func search<T: TensorElement, I: IntegerElement>(
            _ type: T.Type,
            _ index: I.Type,
            start: (T) -> T,
            _ isBetter: (T, T) -> Bool
        ) {
            input.withElements(of: T.self) { source in
                out.withMutableElements(of: I.self) { target in
                    if inner == 1 {
                        for o in 0..<outer {
                            let row = source.baseAddress! + o * count
                            var best = start(row[0])
                            var bestIndex = 0
                            for k in 1..<count where isBetter(row[k], best) {
                                best = row[k]
                                bestIndex = k
                            }
                            target[o] = I(truncatingIfNeeded: bestIndex)
                        }
                        return
                    }
                    var best: [T] = []
                    best.reserveCapacity(inner)
                    for o in 0..<outer {
                        let block = source.baseAddress! + o * count * inner
                        let indices = target.baseAddress! + o * inner
                        best.removeAll(keepingCapacity: true)
                        best.append(contentsOf: UnsafeBufferPointer(start: block, count: inner))
                        best.withUnsafeMutableBufferPointer { best in
                            for j in 0..<inner {
                                best[j] = start(best[j])
                                indices[j] = 0
                            }
                            for k in 1..<count {
                                let row = block + k * inner
                                for j in 0..<inner where isBetter(row[j], best[j]) {
                                    best[j] = row[j]
                                    indices[j] = I(truncatingIfNeeded: k)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
