import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// TensorFlow's stateful random ops: `RandomUniform`, `RandomStandardNormal`, `TruncatedNormal`,
/// `RandomUniformInt`, `RandomShuffle` and `Multinomial`, bit for bit as TensorFlow's CPU kernels
/// compute them from the same `seed` and `seed2`.
///
/// Every node keeps one generator for the whole session (in the session's resources, so plans
/// rebuilt for a new run signature or a grown graph continue the stream). A run reserves 256
/// blocks per output value, as TensorFlow does, so the next run starts where TensorFlow's would.
enum RandomOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        floatOp("RandomUniform", .uniform),
        floatOp("RandomStandardNormal", .normal),
        floatOp("TruncatedNormal", .truncatedNormal),
        uniformInt,
        shuffle,
        multinomial,
    ]

    /// How a float op turns random bits into values.
    enum FloatDistribution: Sendable {
        /// Uniform in [0, 1).
        case uniform
        /// Standard normal, by Box-Muller.
        case normal
        /// Standard normal restricted to (-2, 2), by rejection.
        case truncatedNormal
    }

    // MARK: Definitions

    /// An op making values of attribute `dtype` (half, float or double) in the shape its input
    /// gives.
    private static func floatOp(_ name: String, _ distribution: FloatDistribution) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 1,
            isStateful: true,
            outputTypes: { node, _ throws(WeftError) in [OutputType(try dtype(node, in: floatTypes, op: name))] },
            makeKernel: { node throws(WeftError) in
                let dtype = try dtype(node, in: floatTypes, op: name)
                return try RandomKernel(node) { context, generator throws(WeftError) in
                    let shape = try outputShape(try context.input(0), node: context.node)
                    let out = try KernelChecks.allocate(dtype, shape, node: context.node)
                    let start = generator.reserve(outputs: out.elementCount)
                    PhiloxFill.fill(out, distribution, from: start)
                    return out
                }
            }
        )
    }

    /// `RandomUniformInt`: integers uniform in [minval, maxval), as `Tout` (int32 or int64).
    private static let uniformInt = OpDefinition(
        "RandomUniformInt",
        inputCount: 3,
        isStateful: true,
        outputTypes: { node, _ throws(WeftError) in
            [OutputType(try dtype(node, in: integerTypes, op: "RandomUniformInt", attribute: "Tout"))]
        },
        makeKernel: { node throws(WeftError) in
            let dtype = try dtype(node, in: integerTypes, op: "RandomUniformInt", attribute: "Tout")
            return try RandomKernel(node) { context, generator throws(WeftError) in
                let shapeTensor = try context.input(0)
                let bounds = [try context.input(1), try context.input(2)]
                for (index, name) in ["minval", "maxval"].enumerated() {
                    let bound = bounds[index]
                    try KernelChecks.dtype(
                        bound,
                        input: index + 1,
                        expected: dtype,
                        op: "RandomUniformInt",
                        node: context.node
                    )
                    guard bound.shape.rank == 0 else {
                        throw .invalidArgument("\(name) must be 0-D, got shape \(bound.shape)", node: context.node)
                    }
                }
                let shape = try outputShape(shapeTensor, node: context.node)
                let out = try KernelChecks.allocate(dtype, shape, node: context.node)
                // TensorFlow checks the bounds only when there is something to draw.
                guard out.elementCount > 0 else { return out }
                try PhiloxFill.fillIntegers(out, bounds: bounds, node: context.node) {
                    generator.reserve(outputs: out.elementCount)
                }
                return out
            }
        }
    )

    /// `RandomShuffle`: the input with its first dimension permuted, any dtype.
    private static let shuffle = OpDefinition(
        "RandomShuffle",
        inputCount: 1,
        isStateful: true,
        outputTypes: OpDefinition.outputOfInput(0),
        makeKernel: { node throws(WeftError) in
            try RandomKernel(node) { context, generator throws(WeftError) in
                try Shuffle.apply(try context.input(0), generator: generator, node: context.node)
            }
        }
    )

    /// `Multinomial`: `num_samples` class indices per row of `logits`, as `output_dtype`.
    private static let multinomial = OpDefinition(
        "Multinomial",
        inputCount: 2,
        isStateful: true,
        outputTypes: { node, _ throws(WeftError) in [OutputType(try multinomialType(node, op: "Multinomial"))] },
        makeKernel: { node throws(WeftError) in
            let dtype = try multinomialType(node, op: "Multinomial")
            return try RandomKernel(node) { context, generator throws(WeftError) in
                try Multinomial.sample(
                    logits: try context.input(0),
                    count: try context.input(1),
                    as: dtype,
                    generator: generator,
                    node: context.node
                )
            }
        }
    )

    /// The dtypes of float random values Weft makes (TensorFlow's bfloat16 aside).
    static let floatTypes: [DType] = [.half, .float, .double]
    /// The dtypes of bounded random integers and of sampled indices.
    static let integerTypes: [DType] = [.int32, .int64]

    /// The type of the indices a `Multinomial` op makes: `output_dtype`, int64 unless set.
    static func multinomialType(_ node: NodeInfo, op: String) throws(WeftError) -> DType {
        try dtype(node, in: integerTypes, op: op, attribute: "output_dtype", default: .int64)
    }

    /// The node's `dtype` (or `attribute`, or `fallback` when the node leaves it out), which
    /// must be one of `allowed` as TensorFlow's op definition restricts it.
    static func dtype(
        _ node: NodeInfo,
        in allowed: [DType],
        op: String,
        attribute: String = "dtype",
        default fallback: DType? = nil
    ) throws(WeftError) -> DType {
        let dtype: DType
        if let fallback, !node.attributes.has(attribute) {
            dtype = fallback
        } else {
            dtype = try node.attributes.type(attribute)
        }
        guard allowed.contains(dtype) else {
            throw WeftError(
                .invalidArgument,
                "Value for attr '\(attribute)' of \(dtype) is not in the list of allowed values: \(allowed.map(\.description).joined(separator: ", ")) (node '\(node.name)', \(op))"
            )
        }
        return dtype
    }

    /// The shape a random op's `shape` input describes, with TensorFlow's checks: a vector of
    /// int32 or int64, no negative dimension, at most 2⁶³ − 1 elements.
    static func outputShape(_ tensor: Tensor, node: String) throws(WeftError) -> TensorShape {
        guard tensor.shape.rank == 1, tensor.dtype == .int32 || tensor.dtype == .int64 else {
            throw .invalidArgument("shape must be a vector of {int32,int64}, got shape \(tensor.shape)", node: node)
        }
        let dims = try KernelChecks.indices(tensor, what: "shape", node: node)
        var count = 1
        for dim in dims {
            guard dim >= 0 else { throw .invalidArgument("Dimension \(dim) must be >= 0", node: node) }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else {
                throw .invalidArgument(
                    "Shape [\(dims.map(String.init).joined(separator: ","))] would have more than 2**63 - 1 elements",
                    node: node
                )
            }
            count = product
        }
        return TensorShape(dims)
    }
}

/// The kernel of every random op: finds the node's generator in the session's resources
/// (making it from `seed` and `seed2` on the first run) and hands it to the op's body.
struct RandomKernel: OpKernel {
    private let seed: Int64
    private let seed2: Int64
    private let body: @Sendable (OpKernelContext, GuardedPhilox) throws(WeftError) -> Tensor

    /// Reads the node's seeds (0 when absent, as TensorFlow's defaults).
    init(
        _ node: NodeInfo,
        body: @escaping @Sendable (OpKernelContext, GuardedPhilox) throws(WeftError) -> Tensor
    ) throws(WeftError) {
        seed = Int64(try node.attributes.int("seed", default: 0))
        seed2 = Int64(try node.attributes.int("seed2", default: 0))
        self.body = body
    }

    /// Runs the op with the node's generator for this session.
    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        let generator = try context.step.resources.kernelState(node: context.node) {
            GuardedPhilox(seed: seed, seed2: seed2)
        }
        return [.tensor(try body(context, generator))]
    }
}

/// Fills tensors from a reserved stretch of a generator. Every group of values depends only on
/// its index, as in TensorFlow's `FillPhiloxRandomTask`, so a large tensor is split across cores
/// without changing a bit of the result.
enum PhiloxFill {
    /// Groups of values below which a fill runs on the calling thread: about 64k values, some
    /// hundred microseconds of work, where handing off would cost more than it saves.
    static let groupsPerTask = 1 << 14
    /// The most tasks a fill is split into: one per core.
    static let parallelism = ProcessInfo.processInfo.activeProcessorCount

    /// Fills a half, float or double tensor with `distribution`'s values.
    static func fill(_ out: Tensor, _ distribution: RandomOps.FloatDistribution, from start: Philox) {
        switch out.dtype {
        case .float: fill(out, Float.self, distribution, from: start)
        case .double: fill(out, Double.self, distribution, from: start)
        default: fill(out, Float16.self, distribution, from: start)
        }
    }

    /// Fills an int32 or int64 tensor with integers in [minval, maxval) from the scalars
    /// `bounds` of its dtype; `start` is asked for the generator only once the bounds are valid.
    static func fillIntegers(
        _ out: Tensor,
        bounds: [Tensor],
        node: String,
        start: () throws(WeftError) -> Philox
    ) throws(WeftError) {
        for (position, bound) in bounds.enumerated() where bound.dtype != out.dtype || bound.shape.rank != 0 {
            throw .invalidArgument(
                "\(position == 0 ? "minval" : "maxval") must be a \(out.dtype) scalar, got a \(bound.dtype) tensor of shape \(bound.shape)",
                node: node
            )
        }
        if out.dtype == .int32 {
            try fillIntegers(out, Int32.self, bounds, node: node, start: start)
        } else {
            try fillIntegers(out, Int64.self, bounds, node: node, start: start)
        }
    }

    private static func fill<T: RandomFloat>(
        _ out: Tensor,
        _ type: T.Type,
        _ distribution: RandomOps.FloatDistribution,
        from start: Philox
    ) {
        out.withMutableElements(of: T.self) { buffer in
            switch distribution {
            case .uniform: blocks(buffer, UniformFloats<T>(), from: start)
            case .normal: blocks(buffer, NormalFloats<T>(), from: start)
            case .truncatedNormal: groups(buffer, TruncatedNormalFloats<T>(), from: start)
            }
        }
    }

    private static func fillIntegers<T: RandomInteger>(
        _ out: Tensor,
        _ type: T.Type,
        _ bounds: [Tensor],
        node: String,
        start: () throws(WeftError) -> Philox
    ) throws(WeftError) {
        let low = bounds[0].withElements(of: T.self) { $0[0] }
        let high = bounds[1].withElements(of: T.self) { $0[0] }
        guard low < high else { throw .invalidArgument("Need minval < maxval, got \(low) >= \(high)", node: node) }
        // The difference fits in the unsigned type even when it overflows the signed one.
        let range = T.Magnitude(truncatingIfNeeded: high) &- T.Magnitude(truncatingIfNeeded: low)
        let generator = try start()
        out.withMutableElements(of: T.self) { blocks($0, UniformIntegers(low: low, range: range), from: generator) }
    }

    /// Group `g` of `out` from block `g` after `start`.
    static func blocks<D: BlockDistribution>(
        _ out: UnsafeMutableBufferPointer<D.Element>,
        _ distribution: D,
        from start: Philox
    ) {
        let perBlock = distribution.perBlock
        let shared = SharedOutput(out)
        forEachRange(of: (out.count + perBlock - 1) / perBlock, perTask: groupsPerTask) { range in
            var generator = start
            generator.skip(UInt64(range.lowerBound))
            for group in range {
                emit(shared.buffer, group: group, size: perBlock) { distribution.values(generator.next(), into: $0) }
            }
        }
    }

    /// Group `g` of `out` from the words starting at block `g · perGroup · 64` after `start`.
    static func groups<D: RejectionDistribution>(
        _ out: UnsafeMutableBufferPointer<D.Element>,
        _ distribution: D,
        from start: Philox
    ) {
        let perGroup = distribution.perGroup
        let blocksPerGroup = UInt64(perGroup) * GuardedPhilox.blocksPerOutput / 4
        let shared = SharedOutput(out)
        forEachRange(of: (out.count + perGroup - 1) / perGroup, perTask: groupsPerTask) { range in
            for group in range {
                var generator = start
                generator.skip(UInt64(group) &* blocksPerGroup)
                var words = PhiloxWords(generator)
                emit(shared.buffer, group: group, size: perGroup) { distribution.group(&words, into: $0) }
            }
        }
    }

    /// Lets `produce` write group `group` of `size` values; the last, partial group is made
    /// whole in scratch space and only its first values are kept, as TensorFlow does.
    @inline(__always)
    private static func emit<T>(
        _ out: UnsafeMutableBufferPointer<T>,
        group: Int,
        size: Int,
        _ produce: (UnsafeMutablePointer<T>) -> Void
    ) {
        guard let base = out.baseAddress else { return }
        let offset = group * size
        if offset + size <= out.count { return produce(base + offset) }
        withUnsafeTemporaryAllocation(of: T.self, capacity: size) { scratch in
            guard let scratchBase = scratch.baseAddress else { return }
            produce(scratchBase)
            (base + offset).update(from: scratchBase, count: out.count - offset)
        }
    }

    /// Calls `body` with ranges covering `0..<total`, in parallel when there are at least
    /// `perTask` items for each of two or more tasks.
    static func forEachRange(of total: Int, perTask: Int, _ body: @Sendable (Range<Int>) -> Void) {
        let tasks = min(parallelism, total / max(perTask, 1))
        guard tasks > 1 else { return body(0..<total) }
        DispatchQueue.concurrentPerform(iterations: tasks) { task in
            body(total * task / tasks..<total * (task + 1) / tasks)
        }
    }

    /// An output buffer shared by the tasks of one fill.
    struct SharedOutput<T>: @unchecked Sendable {
        // Sendable: tasks write disjoint groups, and `concurrentPerform` returns only when all
        // are done, while the tensor that owns the buffer is alive.
        let buffer: UnsafeMutableBufferPointer<T>
        init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
    }
}

/// `RandomShuffle`: a Fisher-Yates pass over the first dimension drawing exactly one word per
/// swap (`word % remaining`), as TensorFlow's own shuffle does, then the rows copied in the
/// permuted order.
enum Shuffle {
    /// The input with its rows permuted; inputs with at most one element or one row are
    /// returned as they are and draw nothing.
    static func apply(_ input: Tensor, generator: GuardedPhilox, node: String) throws(WeftError) -> Tensor {
        guard input.elementCount > 1, let rows = input.shape.dimensions.first, rows > 1 else { return input }
        guard rows <= Int(UInt32.max) else {
            throw .invalidArgument(
                "RandomShuffle draws 32-bit indices and takes at most 4294967295 rows, got \(rows)",
                node: node
            )
        }
        let out = try KernelChecks.allocate(input.dtype, input.shape, node: node)
        var words = PhiloxWords(generator.reserve(words: rows - 1))
        var permutation = Array(0..<rows)
        permutation.withUnsafeMutableBufferPointer { order in
            for i in 0..<rows - 1 {
                order.swapAt(i, i + Int(words.next() % UInt32(rows - i)))
            }
            copyRows(from: input, to: out, order: UnsafeBufferPointer(order), rowBytes: input.byteCount / rows)
        }
        return out
    }

    /// `out` row `i` = `input` row `order[i]`, moving whole words when a row is one element.
    private static func copyRows(from input: Tensor, to out: Tensor, order: UnsafeBufferPointer<Int>, rowBytes: Int) {
        switch rowBytes {
        case 1: copyRows(UInt8.self, from: input, to: out, order: order)
        case 2: copyRows(UInt16.self, from: input, to: out, order: order)
        case 4: copyRows(UInt32.self, from: input, to: out, order: order)
        case 8: copyRows(UInt64.self, from: input, to: out, order: order)
        default:
            for (row, source) in order.enumerated() {
                (out.buffer.base + row * rowBytes).copyMemory(
                    from: input.buffer.base + source * rowBytes,
                    byteCount: rowBytes
                )
            }
        }
    }

    private static func copyRows<Word>(
        _ word: Word.Type,
        from input: Tensor,
        to out: Tensor,
        order: UnsafeBufferPointer<Int>
    ) {
        let source = UnsafeRawPointer(input.buffer.base)
        let size = MemoryLayout<Word>.size
        for (row, from) in order.enumerated() {
            out.buffer.base.storeBytes(
                of: source.load(fromByteOffset: from * size, as: Word.self),
                toByteOffset: row * size,
                as: Word.self
            )
        }
    }
}

/// `Multinomial` as TensorFlow's CPU kernel computes it: per row, the running sum of
/// exp(logit − max) over the finite logits (in double precision), and per sample one uniform
/// double (two words) scaled by the total and located by binary search. An index equal to the
/// number of classes comes out when no logit is finite, as in TensorFlow.
///
/// TensorFlow reads one word stream through all rows when it does not split the batch across
/// threads (a batch whose work is under about 2·10⁵ of its cost units); it splits larger ones
/// at positions that depend on its thread count, so only the unsplit layout can be reproduced
/// and this is the one Weft follows, positioning each of its own tasks inside that stream.
enum Multinomial {
    /// Work units per task below which rows are not split across threads.
    static let workPerTask = 1 << 16

    /// Draws `count` (an int32 scalar) samples per row of the matrix `logits`.
    static func sample(
        logits: Tensor,
        count: Tensor,
        as dtype: DType,
        generator: GuardedPhilox,
        node: String
    ) throws(WeftError) -> Tensor {
        guard logits.shape.rank == 2 else {
            throw .invalidArgument("logits should be a matrix, got shape \(logits.shape)", node: node)
        }
        guard count.shape.rank == 0 else {
            throw .invalidArgument("num_samples should be a scalar, got shape \(count.shape)", node: node)
        }
        try KernelChecks.dtype(count, input: 1, expected: .int32, op: "Multinomial", node: node)
        let samples = Int(count.withElements(of: Int32.self) { $0[0] })
        guard samples >= 0 else {
            throw .invalidArgument("num_samples should be non-negative, got \(samples)", node: node)
        }
        let (rows, classes) = (logits.shape.dimensions[0], logits.shape.dimensions[1])
        guard rows <= Int(Int32.max) else { throw .invalidArgument("batch_size cannot exceed max int", node: node) }
        guard classes <= Int(Int32.max) else { throw .invalidArgument("num_classes cannot exceed max int", node: node) }
        guard classes > 0 else { throw .invalidArgument("num_classes should be positive, got \(classes)", node: node) }
        guard [.float, .double, .half].contains(logits.dtype) else {
            throw .unsupported(op: "Multinomial", dtype: logits.dtype, node: node)
        }
        let out = try KernelChecks.allocate(dtype, TensorShape([rows, samples]), node: node)
        guard out.elementCount > 0 else { return out }
        // TensorFlow reserves for two words per sample, the sample count rounded up to 4.
        let start = generator.reserve(outputs: rows * ((samples + 3) / 4 * 8))
        let layout = Layout(rows: rows, classes: classes, samples: samples)
        switch (logits.dtype, dtype) {
        case (.float, .int32): layout.sample(logits, Float.self, into: out, Int32.self, from: start)
        case (.float, _): layout.sample(logits, Float.self, into: out, Int64.self, from: start)
        case (.double, .int32): layout.sample(logits, Double.self, into: out, Int32.self, from: start)
        case (.double, _): layout.sample(logits, Double.self, into: out, Int64.self, from: start)
        case (_, .int32): layout.sample(logits, Float16.self, into: out, Int32.self, from: start)
        default: layout.sample(logits, Float16.self, into: out, Int64.self, from: start)
        }
        return out
    }

    /// The sizes of one call.
    private struct Layout {
        let rows: Int
        let classes: Int
        let samples: Int

        /// Fills `out` row by row, in parallel for large batches.
        func sample<T: BinaryFloatingPoint & TensorElement, Index: FixedWidthInteger & TensorElement>(
            _ logits: Tensor,
            _ type: T.Type,
            into out: Tensor,
            _ index: Index.Type,
            from start: Philox
        ) {
            logits.withElements(of: T.self) { input in
                out.withMutableElements(of: Index.self) { output in
                    let shared = (PhiloxFill.SharedOutput(output), SharedInput(input))
                    let work = classes + samples * max(1, classes.bitWidth - classes.leadingZeroBitCount)
                    PhiloxFill.forEachRange(of: rows, perTask: Multinomial.workPerTask / max(work, 1)) { range in
                        sampleRows(range, shared.1.buffer, shared.0.buffer, from: start)
                    }
                }
            }
        }

        private func sampleRows<T: BinaryFloatingPoint, Index: FixedWidthInteger>(
            _ range: Range<Int>,
            _ input: UnsafeBufferPointer<T>,
            _ output: UnsafeMutableBufferPointer<Index>,
            from start: Philox
        ) {
            var words = PhiloxWords(start, skippingWords: UInt64(range.lowerBound) * UInt64(2 * samples))
            var cdf = [Double](repeating: 0, count: classes)
            cdf.withUnsafeMutableBufferPointer { cdf in
                for row in range {
                    let logits = UnsafeBufferPointer(rebasing: input[row * classes..<(row + 1) * classes])
                    let total = cumulate(logits, into: cdf)
                    for sample in 0..<samples {
                        let x0 = words.next()
                        let target = uniformDouble(x0, words.next()) * total
                        output[row * samples + sample] = Index(truncatingIfNeeded: upperBound(cdf, target))
                    }
                }
            }
        }

        /// Writes the running sums of exp(logit − max) over the finite logits; returns the total.
        private func cumulate<T: BinaryFloatingPoint>(
            _ logits: UnsafeBufferPointer<T>,
            into cdf: UnsafeMutableBufferPointer<Double>
        ) -> Double {
            var largest = -T.greatestFiniteMagnitude
            for logit in logits where logit.isFinite && largest < logit { largest = logit }
            let shift = Double(largest)
            var total = 0.0
            for (j, logit) in logits.enumerated() {
                if logit.isFinite { total += exponential(Double(logit) - shift) }
                cdf[j] = total
            }
            return total
        }

        /// The first position whose value exceeds `target`, or the count when none does.
        private func upperBound(_ values: UnsafeMutableBufferPointer<Double>, _ target: Double) -> Int {
            var (low, high) = (0, values.count)
            while low < high {
                let middle = (low + high) / 2
                if values[middle] > target { high = middle } else { low = middle + 1 }
            }
            return low
        }
    }

    /// The logits, read by every task of one call.
    private struct SharedInput<T>: @unchecked Sendable {
        // Sendable: tasks only read, and `concurrentPerform` returns before the tensor can go.
        let buffer: UnsafeBufferPointer<T>
        init(_ buffer: UnsafeBufferPointer<T>) { self.buffer = buffer }
    }
}

/// The C library's `exp`, at file scope so no type's static member shadows it.
@inline(__always) private func exponential(_ x: Double) -> Double { exp(x) }
