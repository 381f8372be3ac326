import CBLAS
import Dispatch
import Foundation

/// Matrix products: `MatMul` and the batched `BatchMatMul` / `BatchMatMulV2`.
///
/// `float` and `double` go to OpenBLAS (`cblas_sgemm` / `cblas_dgemm`), which writes straight
/// into the freshly allocated output; `half` runs through single precision; integers use a
/// plain i-k-j loop that wraps on overflow like TensorFlow's.
enum MatMulOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        OpDefinition(
            "MatMul",
            inputCount: 2,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                MatMulKernel(
                    transposeA: try node.attributes.bool("transpose_a", default: false),
                    transposeB: try node.attributes.bool("transpose_b", default: false),
                    declared: try node.optionalType("T")
                )
            }
        ),
        batchMatMul("BatchMatMul"),
        batchMatMul("BatchMatMulV2"),
    ]

    /// `BatchMatMul[V2]`: matrix products over the leading (batch) dimensions, which broadcast;
    /// attributes `adj_x` / `adj_y` transpose the operands' last two dimensions.
    private static func batchMatMul(_ name: String) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 2,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                BatchMatMulKernel(
                    op: name,
                    adjointA: try node.attributes.bool("adj_x", default: false),
                    adjointB: try node.attributes.bool("adj_y", default: false),
                    declared: try node.optionalType("T")
                )
            }
        )
    }
}

/// The sizes of one matrix product `C[m,n] = op(A) · op(B)` over row-major operands, where
/// `op` transposes when asked.
struct GemmShape: Sendable {
    /// Rows of the result.
    var m: Int
    /// Columns of the result.
    var n: Int
    /// The contracted dimension.
    var k: Int
    /// Whether `A` is stored as `[k, m]`.
    var transposeA: Bool
    /// Whether `B` is stored as `[n, k]`.
    var transposeB: Bool

    /// Elements in one `A`, `B` and `C`.
    var sizes: (a: Int, b: Int, c: Int) { (m * k, k * n, m * n) }

    /// Where row `row` of `op(A)` starts in `A`: a row of the stored `[m, k]`, or a column of
    /// the stored `[k, m]`.
    func offsetInA(row: Int) -> Int { transposeA ? row : row * k }

    /// Works out the product's sizes from the operands' matrix dimensions, or TensorFlow's
    /// `Matrix size-incompatible` error.
    init(_ a: (Int, Int), _ b: (Int, Int), transposeA: Bool, transposeB: Bool, node: String) throws(WeftError) {
        let (m, k) = transposeA ? (a.1, a.0) : (a.0, a.1)
        let (k2, n) = transposeB ? (b.1, b.0) : (b.0, b.1)
        guard k == k2 else {
            throw .invalidArgument(
                "Matrix size-incompatible: In[0]: [\(a.0),\(a.1)], In[1]: [\(b.0),\(b.1)]",
                node: node
            )
        }
        // BLAS takes 32-bit sizes.
        guard max(m, n, k) <= Int(Int32.max) else {
            throw WeftError(.unimplemented, "matrix dimensions above 2^31 are not supported (node '\(node)')")
        }
        self.m = m
        self.n = n
        self.k = k
        self.transposeA = transposeA
        self.transposeB = transposeB
    }
}

/// Runs one product on raw operands; the caller has checked the dtype and sizes.
///
/// OpenBLAS runs single-threaded: its own threads spin in `sched_yield` for about 0.1 s after
/// every threaded call, so a worker that steps every few milliseconds would keep a core busy
/// doing nothing. A large product is split instead into blocks of rows that run in parallel on
/// Dispatch's pool, whose threads sleep when idle.
enum Gemm {
    /// Products with fewer multiply-adds than this (about 128³) run as one call: splitting
    /// them costs more in hand-offs than it saves.
    static let parallelWork = 1 << 21
    /// The fewest rows a block gets.
    static let minimumBlockRows = 16
    static let parallelism = ProcessInfo.processInfo.activeProcessorCount
    private static let singleThreadedBLAS: Void = openblas_set_num_threads(1)

    /// How many row blocks a product is split into on `parallelism` cores.
    static func blockCount(_ s: GemmShape, parallelism: Int = Gemm.parallelism) -> Int {
        let (mn, overflow) = s.m.multipliedReportingOverflow(by: s.n)
        guard overflow || mn >= parallelWork / max(s.k, 1) else { return 1 }
        return max(1, min(parallelism, s.m / minimumBlockRows))
    }

    /// Calls `body` with each block of `C`'s rows, in parallel when the product is large.
    private static func forEachRowBlock(_ s: GemmShape, _ body: @Sendable (Range<Int>) -> Void) {
        _ = singleThreadedBLAS
        let blocks = blockCount(s)
        guard blocks > 1 else { return body(0..<s.m) }
        DispatchQueue.concurrentPerform(iterations: blocks) { block in
            body(s.m * block / blocks..<s.m * (block + 1) / blocks)
        }
    }

    /// An operand's storage, shared by the blocks of one product.
    private struct Operand<Pointer>: @unchecked Sendable {
        // Sendable: the blocks only read A and B and write disjoint rows of C, and
        // `concurrentPerform` returns only when every block is done, while the tensors live.
        let pointer: Pointer
        init(_ pointer: Pointer) { self.pointer = pointer }
    }

    /// `C = op(A) · op(B)` in single precision through OpenBLAS.
    static func multiply(
        _ a: UnsafePointer<Float>,
        _ b: UnsafePointer<Float>,
        into c: UnsafeMutablePointer<Float>,
        _ s: GemmShape
    ) {
        multiply(cblas_sgemm, a, b, into: c, s)
    }

    /// `C = op(A) · op(B)` in double precision through OpenBLAS.
    static func multiply(
        _ a: UnsafePointer<Double>,
        _ b: UnsafePointer<Double>,
        into c: UnsafeMutablePointer<Double>,
        _ s: GemmShape
    ) {
        multiply(cblas_dgemm, a, b, into: c, s)
    }

    /// `cblas_sgemm` or `cblas_dgemm`.
    typealias Routine<Scalar> =
        @Sendable (
            CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int32, Int32, Int32, Scalar, UnsafePointer<Scalar>?, Int32,
            UnsafePointer<Scalar>?, Int32, Scalar, UnsafeMutablePointer<Scalar>?, Int32
        ) -> Void

    private static func multiply<Scalar: BinaryFloatingPoint>(
        _ routine: Routine<Scalar>,
        _ a: UnsafePointer<Scalar>,
        _ b: UnsafePointer<Scalar>,
        into c: UnsafeMutablePointer<Scalar>,
        _ s: GemmShape
    ) {
        guard s.m > 0, s.n > 0 else { return }
        guard s.k > 0 else { return c.initialize(repeating: 0, count: s.m * s.n) }
        let (a, b, c) = (Operand(a), Operand(b), Operand(c))
        forEachRowBlock(s) { rows in
            routine(
                CblasRowMajor,
                s.transposeA ? CblasTrans : CblasNoTrans,
                s.transposeB ? CblasTrans : CblasNoTrans,
                Int32(rows.count),
                Int32(s.n),
                Int32(s.k),
                1,
                a.pointer + s.offsetInA(row: rows.lowerBound),
                Int32(s.transposeA ? s.m : s.k),
                b.pointer,
                Int32(s.transposeB ? s.k : s.n),
                0,
                c.pointer + rows.lowerBound * s.n,
                Int32(s.n)
            )
        }
    }

    /// `C = op(A) · op(B)` for integers, wrapping on overflow. The i-k-j order streams rows of
    /// `B` and `C`, so the inner loop is contiguous (and vectorises) unless `B` is transposed.
    @inline(__always)
    static func multiply<T: IntegerElement>(
        _ a: UnsafePointer<T>,
        _ b: UnsafePointer<T>,
        into c: UnsafeMutablePointer<T>,
        _ s: GemmShape
    ) {
        let (m, n, k) = (s.m, s.n, s.k)
        // Index arithmetic wraps (`&*`): the sizes were checked when the tensors were made, and
        // unchecked products keep overflow tests out of the inner loop.
        for i in 0..<m {
            let row = c + i &* n
            row.initialize(repeating: 0, count: n)
            for p in 0..<k {
                let factor = s.transposeA ? a[p &* m &+ i] : a[i &* k &+ p]
                if s.transposeB {
                    for j in 0..<n { row[j] = row[j] &+ factor &* b[j &* k &+ p] }
                } else {
                    let bRow = b + p &* n
                    for j in 0..<n { row[j] = row[j] &+ factor &* bRow[j] }
                }
            }
        }
    }

    /// Runs `count` products of one shape on the elements of `a`, `b` and `out`, the `i`-th
    /// reading batch `aBatch[i]` of `a` and `bBatch[i]` of `b`, specialised for the dtype.
    static func batched(
        _ a: Tensor,
        _ b: Tensor,
        into out: Tensor,
        _ shape: GemmShape,
        aBatch: [Int],
        bBatch: [Int],
        op: String,
        node: String
    ) throws(WeftError) {
        try out.dtype.visit(
            Visitor(a: a, b: b, out: out, shape: shape, aBatch: aBatch, bBatch: bBatch, op: op, node: node)
        )
    }

    private struct Visitor: ElementVisitor {
        let a: Tensor
        let b: Tensor
        let out: Tensor
        let shape: GemmShape
        let aBatch: [Int]
        let bBatch: [Int]
        let op: String
        let node: String

        func float<T: FloatElement>(_ type: T.Type) throws(WeftError) {
            switch T.self {
            case is Float.Type: run(Float.self) { Gemm.multiply($0, $1, into: $2, $3) }
            case is Double.Type: run(Double.self) { Gemm.multiply($0, $1, into: $2, $3) }
            default: try viaSinglePrecision()
            }
        }

        func integer<T: IntegerElement>(_ type: T.Type) {
            run(T.self) { Gemm.multiply($0, $1, into: $2, $3) }
        }

        func complex<R: ComplexReal>(_ type: R.Type) {
            run(ComplexElement<R>.self) { Gemm.multiply($0, $1, into: $2, $3) }
        }

        @inline(__always)
        private func run<T: TensorElement>(
            _ type: T.Type,
            _ product: (UnsafePointer<T>, UnsafePointer<T>, UnsafeMutablePointer<T>, GemmShape) -> Void
        ) {
            let sizes = shape.sizes
            a.withElements(of: T.self) { a in
                b.withElements(of: T.self) { b in
                    out.withMutableElements(of: T.self) { c in
                        guard let a = a.baseAddress, let b = b.baseAddress, let c = c.baseAddress else { return }
                        for batch in aBatch.indices {
                            product(
                                a + aBatch[batch] * sizes.a,
                                b + bBatch[batch] * sizes.b,
                                c + batch * sizes.c,
                                shape
                            )
                        }
                    }
                }
            }
        }

        /// Half precision: TensorFlow accumulates in single precision too, so convert, multiply
        /// with `sgemm` and round the result once.
        private func viaSinglePrecision() throws(WeftError) {
            let single = Tensor(uninitialized: .float, shape: out.shape)
            try Gemm.batched(
                try CastOp.cast(a, to: .float),
                try CastOp.cast(b, to: .float),
                into: single,
                shape,
                aBatch: aBatch,
                bBatch: bBatch,
                op: op,
                node: node
            )
            let rounded = try CastOp.cast(single, to: out.dtype)
            out.buffer.base.copyMemory(from: rounded.buffer.base, byteCount: out.byteCount)
        }
    }
}

/// `MatMul` of two matrices, with the transposes parsed once when the kernel is built.
struct MatMulKernel: OpKernel {
    let transposeA: Bool
    let transposeB: Bool
    let declared: DType?

    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        let a = try context.input(0)
        let b = try context.input(1)
        try KernelChecks.dtype(a, input: 0, expected: declared, op: "MatMul", node: context.node)
        try KernelChecks.sameDType(a, b, op: "MatMul", node: context.node)
        for (index, operand) in [a, b].enumerated() where operand.shape.rank != 2 {
            throw .invalidArgument(
                "In[\(index)] is not a matrix. Instead it has shape \(operand.shape)",
                node: context.node
            )
        }
        let shape = try GemmShape(
            (a.shape.dimensions[0], a.shape.dimensions[1]),
            (b.shape.dimensions[0], b.shape.dimensions[1]),
            transposeA: transposeA,
            transposeB: transposeB,
            node: context.node
        )
        let out = try KernelChecks.allocate(a.dtype, [shape.m, shape.n], node: context.node)
        try Gemm.batched(a, b, into: out, shape, aBatch: [0], bBatch: [0], op: "MatMul", node: context.node)
        return [.tensor(out)]
    }
}

/// `BatchMatMul[V2]`: one product per batch position, batch dimensions broadcasting.
struct BatchMatMulKernel: OpKernel {
    let op: String
    let adjointA: Bool
    let adjointB: Bool
    let declared: DType?

    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        let node = context.node
        var a = try context.input(0)
        var b = try context.input(1)
        try KernelChecks.dtype(a, input: 0, expected: declared, op: op, node: node)
        // An adjoint is the conjugate transpose; the product below only transposes.
        if adjointA && a.dtype.isComplex { a = try ComplexOps.conjugate(a, node: node) }
        if adjointB && b.dtype.isComplex { b = try ComplexOps.conjugate(b, node: node) }
        try KernelChecks.sameDType(a, b, op: op, node: node)
        for (index, operand) in [a, b].enumerated() where operand.shape.rank < 2 {
            throw .invalidArgument("In[\(index)] ndims must be >= 2: \(operand.shape.rank)", node: node)
        }
        let (aBatchShape, aMatrix) = Self.split(a.shape)
        let (bBatchShape, bMatrix) = Self.split(b.shape)
        let batchShape: TensorShape
        do {
            batchShape = try Broadcast.shape(aBatchShape, bBatchShape)
        } catch {
            throw .invalidArgument(
                "In[0] and In[1] must have compatible batch dimensions: \(a.shape) vs. \(b.shape)",
                node: node
            )
        }
        let shape = try GemmShape(aMatrix, bMatrix, transposeA: adjointA, transposeB: adjointB, node: node)
        let out = try KernelChecks.allocate(
            a.dtype,
            TensorShape(batchShape.dimensions + [shape.m, shape.n]),
            node: node
        )
        try Gemm.batched(
            a,
            b,
            into: out,
            shape,
            aBatch: Self.sourceBatches(aBatchShape, in: batchShape),
            bBatch: Self.sourceBatches(bBatchShape, in: batchShape),
            op: op,
            node: node
        )
        return [.tensor(out)]
    }

    /// The batch dimensions and the matrix dimensions of an operand.
    private static func split(_ shape: TensorShape) -> (TensorShape, (Int, Int)) {
        let dims = shape.dimensions
        return (TensorShape(Array(dims.dropLast(2))), (dims[dims.count - 2], dims[dims.count - 1]))
    }

    /// For every batch position of the result, in order, the operand's batch it reads
    /// (repeating the operand along its broadcast dimensions).
    private static func sourceBatches(_ operand: TensorShape, in result: TensorShape) -> [Int] {
        let rank = result.rank
        let padded = [Int](repeating: 1, count: rank - operand.rank) + operand.dimensions
        var strides = [Int](repeating: 0, count: rank)
        var step = 1
        for axis in (0..<rank).reversed() {
            strides[axis] = padded[axis] == 1 ? 0 : step
            step *= padded[axis]
        }
        var batches: [Int] = []
        batches.reserveCapacity(result.elementCount)
        var counters = [Int](repeating: 0, count: rank)
        var offset = 0
        for _ in 0..<result.elementCount {
            batches.append(offset)
            var axis = rank - 1
            while axis >= 0 {
                counters[axis] += 1
                offset += strides[axis]
                if counters[axis] < result.dimensions[axis] { break }
                offset -= strides[axis] * result.dimensions[axis]
                counters[axis] = 0
                axis -= 1
            }
        }
        return batches
    }
}
