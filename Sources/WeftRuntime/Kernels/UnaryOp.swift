import Dispatch

/// An element-wise op on one tensor, registered under TensorFlow's name (`Neg`, `Sqrt`, …).
///
/// Floating-point ops accept `float`, `double` and `half`. `Neg`, `Abs`, `Square`, `Sign` and
/// `Round` also accept signed and unsigned integers (wrapping on overflow, as TensorFlow's C++
/// does); the others are floating-point only, as in TensorFlow. The ops TensorFlow registers
/// for `complex64` and `complex128` accept them too (see `Visitor.complex`).
enum UnaryOp: String, Sendable, CaseIterable {
    case neg = "Neg"
    case abs = "Abs"
    case square = "Square"
    case sqrt = "Sqrt"
    case rsqrt = "Rsqrt"
    case exp = "Exp"
    case log = "Log"
    case tanh = "Tanh"
    case sigmoid = "Sigmoid"
    case sign = "Sign"
    case reciprocal = "Reciprocal"
    case floor = "Floor"
    case ceil = "Ceil"
    case round = "Round"
    case log1p = "Log1p"
    case expm1 = "Expm1"
    case erf = "Erf"
    case erfc = "Erfc"
    case sin = "Sin"
    case cos = "Cos"

    /// TensorFlow's op name.
    var name: String { rawValue }

    /// Computes the op on every element of `x` into a new tensor of the same dtype and shape.
    func apply(_ x: Tensor, node: String) throws(WeftError) -> Tensor {
        let out = Tensor(uninitialized: x.dtype, shape: x.shape)
        // `x` is borrowed for the call and `out` is returned: both live while the visitor runs.
        try x.dtype.visit(Visitor(operation: self, input: ElementMemory(x), out: ElementMemory(out), node: node))
        return out
    }

    /// Computes the op on every element of `x` into `x`'s own buffer, which the caller holds
    /// alone: the caller keeps `x` and returns it, so no copy of it is made, nor retained.
    func applyInPlace(_ x: Tensor, node: String) throws(WeftError) {
        let memory = ElementMemory(x)
        try x.dtype.visit(Visitor(operation: self, input: memory, out: memory, node: node))
    }

    private struct Visitor: ElementVisitor {
        let operation: UnaryOp
        let input: ElementMemory
        let out: ElementMemory
        let node: String
        var op: String { operation.name }

        func float<T: FloatElement>(_ type: T.Type) {
            switch operation {
            case .neg: map(T.self) { -$0 }
            case .abs: map(T.self) { Swift.abs($0) }
            case .square: map(T.self) { $0 * $0 }
            case .sqrt: map(T.self) { $0.squareRoot() }
            // Half precision rounds once from single precision, as TensorFlow's kernel does.
            case .rsqrt where T.self is Float16.Type: map(T.self) { T(1 / Float($0).squareRoot()) }
            case .rsqrt: map(T.self) { 1 / $0.squareRoot() }
            case .exp: mapBuffer(T.self) { x, y, count in T.exp(x, into: y, count: count) }
            case .log: map(T.self) { T.log($0) }
            case .tanh: mapBuffer(T.self) { x, y, count in T.tanh(x, into: y, count: count) }
            // exp(-x) overflows to +inf for very negative x, giving exactly 0: no NaN.
            case .sigmoid:
                mapBuffer(T.self) { x, y, count in
                    for i in 0..<count { y[i] = -x[i] }
                    T.exp(y, into: y, count: count)
                    for i in 0..<count { y[i] = 1 / (1 + y[i]) }
                }
            // NaN stays NaN (TensorFlow 2's behaviour); ±0 gives +0.
            case .sign: map(T.self) { $0 > 0 ? 1 : $0 < 0 ? -1 : $0.isNaN ? $0 : 0 }
            case .reciprocal: map(T.self) { 1 / $0 }
            case .floor: map(T.self) { $0.rounded(.down) }
            case .ceil: map(T.self) { $0.rounded(.up) }
            // TensorFlow rounds halves to even (banker's rounding), unlike C's `round`.
            case .round: map(T.self) { $0.rounded(.toNearestOrEven) }
            case .log1p: map(T.self) { T.log1p($0) }
            case .expm1: map(T.self) { T.expm1($0) }
            case .erf: map(T.self) { T.erf($0) }
            case .erfc: map(T.self) { T.erfc($0) }
            case .sin: map(T.self) { T.sin($0) }
            case .cos: map(T.self) { T.cos($0) }
            }
        }

        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) {
            switch operation {
            case .neg: map(T.self) { 0 &- $0 }
            case .abs: map(T.self) { $0 < 0 ? 0 &- $0 : $0 }
            case .square: map(T.self) { $0 &* $0 }
            case .sign: map(T.self) { $0 > 0 ? 1 : $0 == 0 ? 0 : 0 &- 1 }
            case .round: map(T.self) { $0 }
            default: throw .unsupported(op: op, dtype: T.dtype, node: node)
            }
        }

        /// The ops TensorFlow registers for complex numbers (`Abs` is `ComplexAbs` there).
        func complex<R: ComplexReal>(_ type: R.Type) throws(WeftError) {
            typealias C = ComplexElement<R>
            let one = C(real: 1)
            switch operation {
            case .neg: map(C.self) { -$0 }
            case .square: map(C.self) { $0 * $0 }
            case .sqrt: map(C.self) { C.sqrt($0) }
            // TensorFlow divides by the root element by element (C's division): 1/0 is inf + NaN·i.
            case .rsqrt: map(C.self) { C.equalParts($0, C(real: 0)) ? C(.infinity, .nan) : one / C.sqrt($0) }
            case .exp: map(C.self) { C.exp($0) }
            case .log: map(C.self) { C.log($0) }
            case .tanh: map(C.self) { C.tanh($0) }
            case .sigmoid: map(C.self) { one / (one + C.exp(-$0)) }
            case .sign: map(C.self) { C.sign($0) }
            case .reciprocal: map(C.self) { one / $0 }
            case .log1p: map(C.self) { C.log1p($0) }
            case .expm1: map(C.self) { C.expm1($0) }
            case .sin: map(C.self) { C.sin($0) }
            case .cos: map(C.self) { C.cos($0) }
            default: throw .unsupported(op: op, dtype: C.dtype, node: node)
            }
        }

        /// Runs a bulk routine over the elements, split across cores when the tensor is large.
        /// Unlike per-element closures, a bulk routine is compiled once for the whole range, so
        /// the split costs it no inlining; it pays off for compute-bound routines (Exp, Tanh).
        @inline(__always)
        private func mapBuffer<T: TensorElement>(
            _ type: T.Type,
            _ body: @Sendable (UnsafePointer<T>, UnsafeMutablePointer<T>, Int) -> Void
        ) {
            guard let source = input.elements(T.self).baseAddress, let target = out.mutableElements(T.self).baseAddress
            else { return }
            BulkSplit.run(count: input.count) { range in
                body(source + range.lowerBound, target + range.lowerBound, range.count)
            }
        }

        @inline(__always)
        private func map<T: TensorElement>(_ type: T.Type, _ body: (T) -> T) {
            let source = input.elements(T.self)
            let target = out.mutableElements(T.self)
            for i in source.indices { target[i] = body(source[i]) }
        }
    }
}

/// Splits a bulk element-wise routine into contiguous ranges run on every core.
enum BulkSplit {
    /// Below this many elements one core finishes before the others would start.
    static let minimumCount = 1 << 18
    /// Ranges start at multiples of this, so vector routines keep whole lanes.
    static let alignment = 16

    /// Calls `body` with ranges covering `0..<count`, concurrently when `count` is large.
    static func run(count: Int, _ body: (Range<Int>) -> Void) {
        let parts = count < minimumCount ? 1 : Gemm.parallelism
        guard parts > 1 else { return body(0..<count) }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedBody(body: body)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                shared.body(bounds(part, of: parts, count: count))
            }
        }
    }

    /// The range of part `part` of `parts`: equal shares rounded to `alignment`.
    static func bounds(_ part: Int, of parts: Int, count: Int) -> Range<Int> {
        let share = (count / parts) / alignment * alignment
        let start = share * part
        return start..<(part == parts - 1 ? count : start + share)
    }

    private struct UncheckedBody: @unchecked Sendable {
        // Sendable: the parts write disjoint ranges of one output, and `concurrentPerform`
        // returns only when every part is done, while the tensors live.
        let body: (Range<Int>) -> Void
    }
}
