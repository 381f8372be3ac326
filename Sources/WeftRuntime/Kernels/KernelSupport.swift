#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Shared by the numeric kernels: element-type families that generic kernels are written
// against, a dispatch that switches on a dtype once per call and lands in code specialised for
// that type, and helpers for the errors every kernel reports the same way.

/// A floating-point element type with the math functions kernels need, so each kernel is
/// written once and the optimizer specialises it for `Float`, `Double` and `Float16`.
protocol FloatElement: TensorElement, BinaryFloatingPoint, UpdateScalar {
    /// eˣ.
    static func exp(_ x: Self) -> Self
    /// eˣ − 1, exact for small x.
    static func expm1(_ x: Self) -> Self
    /// The natural logarithm.
    static func log(_ x: Self) -> Self
    /// log(1 + x), exact for small x.
    static func log1p(_ x: Self) -> Self
    /// The hyperbolic tangent.
    static func tanh(_ x: Self) -> Self
    /// xʸ.
    static func pow(_ x: Self, _ y: Self) -> Self
    /// The error function.
    static func erf(_ x: Self) -> Self
    /// 1 − erf(x), exact where erf(x) is close to 1.
    static func erfc(_ x: Self) -> Self
    /// The sine (radians).
    static func sin(_ x: Self) -> Self
    /// The cosine (radians).
    static func cos(_ x: Self) -> Self
    /// `y[i] = exp(x[i])` for `count` elements (`x` and `y` may be the same buffer): one call
    /// per buffer, so `Float` can use a vectorised implementation.
    static func exp(_ x: UnsafePointer<Self>, into y: UnsafeMutablePointer<Self>, count: Int)
    /// `y[i] = tanh(x[i])` for `count` elements (`x` and `y` may be the same buffer): one call
    /// per buffer, so `Float` can use a vectorised approximation as TensorFlow's CPU kernel does.
    static func tanh(_ x: UnsafePointer<Self>, into y: UnsafeMutablePointer<Self>, count: Int)
}

extension FloatElement {
    @inline(__always)
    static func exp(_ x: UnsafePointer<Self>, into y: UnsafeMutablePointer<Self>, count: Int) {
        for i in 0..<count { y[i] = exp(x[i]) }
    }

    @inline(__always)
    static func tanh(_ x: UnsafePointer<Self>, into y: UnsafeMutablePointer<Self>, count: Int) {
        for i in 0..<count { y[i] = tanh(x[i]) }
    }
}

/// A fixed-width integer element type (signed or unsigned, 8 to 64 bits).
protocol IntegerElement: TensorElement, FixedWidthInteger {}

extension Int8: IntegerElement {}
extension Int16: IntegerElement {}
extension Int32: IntegerElement {}
extension Int64: IntegerElement {}
extension UInt8: IntegerElement {}
extension UInt16: IntegerElement {}
extension UInt32: IntegerElement {}
extension UInt64: IntegerElement {}

// The C library's functions, wrapped at file scope: inside `extension Double` a call to `exp`
// would resolve to the static requirement itself.
@inline(__always) private func libmExp(_ x: Double) -> Double { exp(x) }
@inline(__always) private func libmExpm1(_ x: Double) -> Double { expm1(x) }
@inline(__always) private func libmLog(_ x: Double) -> Double { log(x) }
@inline(__always) private func libmLog1p(_ x: Double) -> Double { log1p(x) }
@inline(__always) private func libmTanh(_ x: Double) -> Double { tanh(x) }
@inline(__always) private func libmPow(_ x: Double, _ y: Double) -> Double { pow(x, y) }
@inline(__always) private func libmErf(_ x: Double) -> Double { erf(x) }
@inline(__always) private func libmErfc(_ x: Double) -> Double { erfc(x) }
@inline(__always) private func libmSin(_ x: Double) -> Double { sin(x) }
@inline(__always) private func libmCos(_ x: Double) -> Double { cos(x) }

extension Float: FloatElement {
    @inline(__always) static func exp(_ x: Float) -> Float { expf(x) }
    @inline(__always) static func expm1(_ x: Float) -> Float { expm1f(x) }
    @inline(__always) static func log(_ x: Float) -> Float { logf(x) }
    @inline(__always) static func log1p(_ x: Float) -> Float { log1pf(x) }
    @inline(__always) static func tanh(_ x: Float) -> Float { tanhf(x) }
    @inline(__always) static func pow(_ x: Float, _ y: Float) -> Float { powf(x, y) }
    @inline(__always) static func erf(_ x: Float) -> Float { erff(x) }
    @inline(__always) static func erfc(_ x: Float) -> Float { erfcf(x) }
    @inline(__always) static func sin(_ x: Float) -> Float { sinf(x) }
    @inline(__always) static func cos(_ x: Float) -> Float { cosf(x) }
    static func exp(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        VectorMath.exp(x, into: y, count: count)
    }
    static func tanh(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        VectorMath.tanh(x, into: y, count: count)
    }
}

extension Double: FloatElement {
    @inline(__always) static func exp(_ x: Double) -> Double { libmExp(x) }
    @inline(__always) static func expm1(_ x: Double) -> Double { libmExpm1(x) }
    @inline(__always) static func log(_ x: Double) -> Double { libmLog(x) }
    @inline(__always) static func log1p(_ x: Double) -> Double { libmLog1p(x) }
    @inline(__always) static func tanh(_ x: Double) -> Double { libmTanh(x) }
    @inline(__always) static func pow(_ x: Double, _ y: Double) -> Double { libmPow(x, y) }
    @inline(__always) static func erf(_ x: Double) -> Double { libmErf(x) }
    @inline(__always) static func erfc(_ x: Double) -> Double { libmErfc(x) }
    @inline(__always) static func sin(_ x: Double) -> Double { libmSin(x) }
    @inline(__always) static func cos(_ x: Double) -> Double { libmCos(x) }
}

// Half precision computes in single precision and rounds once, as TensorFlow's CPU kernels do.
extension Float16: FloatElement {
    @inline(__always) static func exp(_ x: Float16) -> Float16 { Float16(expf(Float(x))) }
    @inline(__always) static func expm1(_ x: Float16) -> Float16 { Float16(expm1f(Float(x))) }
    @inline(__always) static func log(_ x: Float16) -> Float16 { Float16(logf(Float(x))) }
    @inline(__always) static func log1p(_ x: Float16) -> Float16 { Float16(log1pf(Float(x))) }
    @inline(__always) static func tanh(_ x: Float16) -> Float16 { Float16(tanhf(Float(x))) }
    @inline(__always) static func pow(_ x: Float16, _ y: Float16) -> Float16 { Float16(powf(Float(x), Float(y))) }
    @inline(__always) static func erf(_ x: Float16) -> Float16 { Float16(erff(Float(x))) }
    @inline(__always) static func erfc(_ x: Float16) -> Float16 { Float16(erfcf(Float(x))) }
    @inline(__always) static func sin(_ x: Float16) -> Float16 { Float16(sinf(Float(x))) }
    @inline(__always) static func cos(_ x: Float16) -> Float16 { Float16(cosf(Float(x))) }
}

/// A tensor's elements as a visitor reads or writes them inside one kernel call. A visitor
/// that stored the `Tensor` would retain and release its buffer and shape on every call, which
/// costs more than the arithmetic on a scalar; the kernel keeps its tensors alive while the
/// visitor runs.
struct ElementMemory {
    let base: UnsafeMutableRawPointer
    let count: Int

    init(_ tensor: Tensor) {
        base = tensor.buffer.base
        count = tensor.elementCount
    }

    /// The elements as `T`, the type of the tensor's dtype (the visitor's dispatch chose it).
    @inline(__always)
    func elements<T>(_ type: T.Type) -> UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: base.assumingMemoryBound(to: T.self), count: count)
    }

    /// The elements of an output the kernel allocated and has not handed on.
    @inline(__always)
    func mutableElements<T>(_ type: T.Type) -> UnsafeMutableBufferPointer<T> {
        UnsafeMutableBufferPointer(start: base.assumingMemoryBound(to: T.self), count: count)
    }
}

/// A computation generic over the element type, run by `DType.visit(_:)` in the variant
/// specialised for the tensor's dtype. Families a visitor leaves out report an unsupported dtype.
protocol ElementVisitor {
    /// What the computation returns.
    associatedtype Output
    /// The op name, for error messages.
    var op: String { get }
    /// The node name, for error messages.
    var node: String { get }
    /// Runs the computation on a floating-point type.
    func float<T: FloatElement>(_ type: T.Type) throws(WeftError) -> Output
    /// Runs the computation on an integer type.
    func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) -> Output
    /// Runs the computation on `Bool`.
    func bool() throws(WeftError) -> Output
    /// Runs the computation on `complex64` (`R` is `Float`) or `complex128` (`Double`).
    func complex<R: ComplexReal>(_ type: R.Type) throws(WeftError) -> Output
}

/// The part type of the complex dtypes (`Float`, `Double`), which kernels also store on its own
/// (`Real`, `ComplexAbs`).
typealias ComplexReal = ComplexComponent & TensorElement

extension ElementVisitor {
    func float<T: FloatElement>(_ type: T.Type) throws(WeftError) -> Output {
        throw .unsupported(op: op, dtype: T.dtype, node: node)
    }

    func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) -> Output {
        throw .unsupported(op: op, dtype: T.dtype, node: node)
    }

    func bool() throws(WeftError) -> Output {
        throw .unsupported(op: op, dtype: .bool, node: node)
    }

    func complex<R: ComplexReal>(_ type: R.Type) throws(WeftError) -> Output {
        throw .unsupported(op: op, dtype: R.complexDType, node: node)
    }
}

extension DType {
    /// Runs `visitor` specialised for this dtype: the one switch on the dtype per kernel call.
    func visit<V: ElementVisitor>(_ visitor: V) throws(WeftError) -> V.Output {
        switch self {
        case .float: try visitor.float(Float.self)
        case .double: try visitor.float(Double.self)
        case .half: try visitor.float(Float16.self)
        case .int8: try visitor.integer(Int8.self)
        case .int16: try visitor.integer(Int16.self)
        case .int32: try visitor.integer(Int32.self)
        case .int64: try visitor.integer(Int64.self)
        case .uint8: try visitor.integer(UInt8.self)
        case .uint16: try visitor.integer(UInt16.self)
        case .uint32: try visitor.integer(UInt32.self)
        case .uint64: try visitor.integer(UInt64.self)
        case .bool: try visitor.bool()
        case .complex64: try visitor.complex(Float.self)
        case .complex128: try visitor.complex(Double.self)
        default: throw .unsupported(op: visitor.op, dtype: self, node: visitor.node)
        }
    }
}

extension WeftError {
    /// The error for a kernel asked to compute on a dtype it has no implementation for:
    /// `invalidArgument`, as TensorFlow reports a dtype its op does not allow or has no CPU
    /// kernel for.
    static func unsupported(op: String, dtype: DType, node: String) -> WeftError {
        WeftError(
            .invalidArgument,
            "No OpKernel was registered to support Op '\(op)' with these attrs: [T=\(dtype)] (node '\(node)')"
        )
    }

    /// An `invalidArgument` whose message ends by naming the node, the way TensorFlow appends
    /// `[[{{node name}}]]`.
    static func invalidArgument(_ message: String, node: String) -> WeftError {
        WeftError(.invalidArgument, "\(message) (node '\(node)')")
    }
}

/// The checks every kernel makes on its inputs, with TensorFlow's wording.
enum KernelChecks {
    /// Throws unless both inputs of a binary op have the same dtype.
    static func sameDType(_ a: Tensor, _ b: Tensor, op: String, node: String) throws(WeftError) {
        guard a.dtype == b.dtype else {
            throw .invalidArgument(
                "cannot compute \(op) as input #1(zero-based) was expected to be a \(a.dtype) tensor but is a \(b.dtype) tensor",
                node: node
            )
        }
    }

    /// Throws unless `tensor` has the dtype the node's `T` attribute (if any) declares.
    static func dtype(_ tensor: Tensor, input: Int, expected: DType?, op: String, node: String) throws(WeftError) {
        guard let expected, tensor.dtype != expected else { return }
        throw .invalidArgument(
            "cannot compute \(op) as input #\(input)(zero-based) was expected to be a \(expected) tensor but is a \(tensor.dtype) tensor",
            node: node
        )
    }

    /// The broadcast of a binary op's inputs `a` and `b`, which must share a dtype, and its
    /// output of `dtype`: an operand in `reusable` with that dtype and the broadcast shape, or
    /// a new tensor. (Each output element is written after the operands' elements at its
    /// position are read, so an operand can be the output.)
    static func broadcastResult(
        _ a: Tensor,
        _ b: Tensor,
        _ dtype: DType,
        _ reusable: ReusableOperands,
        op: String,
        node: String
    ) throws(WeftError) -> (Broadcast, BinaryResult) {
        try sameDType(a, b, op: op, node: node)
        let broadcast: Broadcast
        do {
            broadcast = try Broadcast(a.shape, b.shape)
        } catch {
            throw .invalidArgument(error.message, node: node)
        }
        if reusable.contains(.lhs), a.dtype == dtype, a.shape == broadcast.shape { return (broadcast, .lhs) }
        if reusable.contains(.rhs), b.dtype == dtype, b.shape == broadcast.shape { return (broadcast, .rhs) }
        return (broadcast, .new(try allocate(dtype, broadcast.shape, node: node)))
    }

    /// Allocates a kernel's output. Shapes computed from input values (`Fill`, `Tile`, a
    /// broadcast, a product) can ask for more than the process's memory budget (`TensorMemory`)
    /// allows, or overflow `Int`; that is TensorFlow's `resourceExhausted` ("OOM when
    /// allocating"), never a crash.
    /// Object dtypes (strings, resources, variants) are refused: kernels that move such
    /// elements build their outputs from the elements themselves.
    static func allocate(_ dtype: DType, _ shape: TensorShape, node: String) throws(WeftError) -> Tensor {
        guard !dtype.isObject else {
            throw WeftError(.unimplemented, "this op has no kernel for \(dtype) tensors (node '\(node)')")
        }
        // An empty tensor is 0 bytes however large its other sizes, as TensorFlow counts it.
        var bytes = shape.dimensions.contains(0) ? 0 : dtype.byteSize
        for size in shape.dimensions where bytes != 0 || size < 0 {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: size)
            guard !overflow, size >= 0 else {
                throw WeftError(
                    .resourceExhausted,
                    "OOM when allocating tensor with shape\(shape) and type \(dtype) (node '\(node)')"
                )
            }
            bytes = product
        }
        let buffer = try TensorBuffer(budgetedBytes: bytes, shape: shape, dtype: dtype, node: node)
        return Tensor(dtype: dtype, shape: shape, buffer: buffer)
    }

    /// The values of an int32 or int64 tensor of indices (axes, shapes, multiples) as `Int`s.
    static func indices(_ tensor: Tensor, what: String, node: String) throws(WeftError) -> [Int] {
        switch tensor.dtype {
        case .int32: tensor.withElements(of: Int32.self) { $0.map(Int.init) }
        case .int64: tensor.withElements(of: Int64.self) { $0.map(Int.init) }
        default:
            throw .invalidArgument("\(what) must be an int32 or int64 tensor, got \(tensor.dtype)", node: node)
        }
    }

    /// The single value of a scalar (or one-element) int32 or int64 tensor.
    static func scalarIndex(_ tensor: Tensor, what: String, node: String) throws(WeftError) -> Int {
        let values = try indices(tensor, what: what, node: node)
        guard values.count == 1 else {
            throw .invalidArgument("\(what) must be a scalar, got shape \(tensor.shape)", node: node)
        }
        return values[0]
    }
}

extension NodeInfo {
    /// The dtype in attribute `key`, or `nil` when the node does not declare it (graphs written
    /// by other tools sometimes leave it out); kernels then take the dtype of their inputs.
    func optionalType(_ key: String) throws(WeftError) -> DType? {
        attributes.has(key) ? try attributes.type(key) : nil
    }
}

extension OpDefinition {
    /// Output types for ops with one output of the dtype of input `index`, falling back to
    /// attribute `T`.
    static func outputOfInput(_ index: Int) -> @Sendable (NodeInfo, [OutputType]) throws(WeftError) -> [OutputType] {
        { node, inputs throws(WeftError) in
            if let declared = try node.optionalType("T") { return [OutputType(declared)] }
            guard index < inputs.count else {
                throw WeftError(.invalidArgument, "node '\(node.name)' (\(node.op)) needs at least \(index + 1) inputs")
            }
            return [OutputType(inputs[index].dtype)]
        }
    }

    /// A stateless op with one output of its first input's dtype, computed by `body`.
    static func single(
        _ name: String,
        inputs: Int,
        _ body: @escaping @Sendable (OpKernelContext) throws(WeftError) -> Tensor
    ) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: inputs,
            outputTypes: outputOfInput(0),
            makeKernel: { _ in ClosureKernel { context throws(WeftError) in [.tensor(try body(context))] } }
        )
    }
}
