/// `Cast`: converts every element from `SrcT` to `DstT` the way C++'s `static_cast` does on
/// x86, which is what TensorFlow's CPU kernel compiles to, without ever trapping:
/// - integer to narrower integer wraps (keeps the low bits);
/// - floating point to integer truncates toward zero through a 32- or 64-bit conversion, as
///   x86 does (see `truncatedInt32`), so NaN and out-of-range values never trap;
/// - anything to `bool` is `x != 0`; `bool` to a number is 0 or 1.
enum CastOp {
    /// The `Cast` op, for `OpRegistry.standard`.
    static let definition = OpDefinition(
        "Cast",
        inputCount: 1,
        outputTypes: OpDefinition.outputOfAttribute("DstT"),
        makeKernel: { node throws(WeftError) in
            let source = try node.optionalType("SrcT")
            let destination = try node.attributes.type("DstT")
            return ClosureKernel { context throws(WeftError) in
                let x = try context.input(0)
                try KernelChecks.dtype(x, input: 0, expected: source, op: "Cast", node: context.node)
                return [.tensor(try cast(x, to: destination, node: context.node))]
            }
        }
    )

    /// `x` converted to `dtype`; `x` itself when it already has that dtype. Strings, resources,
    /// variants and the quantized types convert to nothing else (`unimplemented`, as in TensorFlow).
    static func cast(_ x: Tensor, to dtype: DType, node: String = "") throws(WeftError) -> Tensor {
        if x.dtype == dtype { return x }
        for type in [x.dtype, dtype] where !type.isCastable {
            throw WeftError(.unimplemented, "Cast from \(x.dtype) to \(dtype) is not supported (node '\(node)')")
        }
        let out = Tensor(uninitialized: dtype, shape: x.shape)
        if x.dtype.isComplex && dtype.isComplex {
            convertComplex(x, into: out)
            return out
        }
        switch x.dtype {
        case .float: convert(x, Float.self, into: out)
        case .double: convert(x, Double.self, into: out)
        case .half: convert(x, Float16.self, into: out)
        case .int8: convert(x, Int8.self, into: out)
        case .int16: convert(x, Int16.self, into: out)
        case .int32: convert(x, Int32.self, into: out)
        case .int64: convert(x, Int64.self, into: out)
        case .uint8: convert(x, UInt8.self, into: out)
        case .uint16: convert(x, UInt16.self, into: out)
        case .uint32: convert(x, UInt32.self, into: out)
        case .uint64: convert(x, UInt64.self, into: out)
        case .bool: convert(x, Bool.self, into: out)
        case .bfloat16: convert(x, BFloat16.self, into: out)
        case .complex64: convert(x, ComplexElement<Float>.self, into: out)
        case .complex128: convert(x, ComplexElement<Double>.self, into: out)
        default: break  // refused above
        }
        return out
    }

    /// complex64 ↔ complex128, both parts.
    private static func convertComplex(_ x: Tensor, into out: Tensor) {
        if x.dtype == .complex64 {
            x.withElements(of: ComplexElement<Float>.self) { input in
                out.withMutableElements(of: ComplexElement<Double>.self) { output in
                    for i in input.indices { output[i] = ComplexElement(Double(input[i].real), Double(input[i].imaginary)) }
                }
            }
        } else {
            x.withElements(of: ComplexElement<Double>.self) { input in
                out.withMutableElements(of: ComplexElement<Float>.self) { output in
                    for i in input.indices { output[i] = ComplexElement(Float(input[i].real), Float(input[i].imaginary)) }
                }
            }
        }
    }

    /// The second switch, on the destination dtype, lands in a loop specialised for the pair.
    private static func convert<Source: CastableElement>(_ x: Tensor, _ source: Source.Type, into out: Tensor) {
        switch out.dtype {
        case .float: convert(x, Source.self, Float.self, into: out)
        case .double: convert(x, Source.self, Double.self, into: out)
        case .half: convert(x, Source.self, Float16.self, into: out)
        case .int8: convert(x, Source.self, Int8.self, into: out)
        case .int16: convert(x, Source.self, Int16.self, into: out)
        case .int32: convert(x, Source.self, Int32.self, into: out)
        case .int64: convert(x, Source.self, Int64.self, into: out)
        case .uint8: convert(x, Source.self, UInt8.self, into: out)
        case .uint16: convert(x, Source.self, UInt16.self, into: out)
        case .uint32: convert(x, Source.self, UInt32.self, into: out)
        case .uint64: convert(x, Source.self, UInt64.self, into: out)
        case .bool: convert(x, Source.self, Bool.self, into: out)
        case .bfloat16: convert(x, Source.self, BFloat16.self, into: out)
        case .complex64: convert(x, Source.self, ComplexElement<Float>.self, into: out)
        case .complex128: convert(x, Source.self, ComplexElement<Double>.self, into: out)
        default: break  // refused by `cast`
        }
    }

    private static func convert<Source: CastableElement, Destination: CastableElement>(
        _ x: Tensor,
        _ source: Source.Type,
        _ destination: Destination.Type,
        into out: Tensor
    ) {
        x.withElements(of: Source.self) { input in
            out.withMutableElements(of: Destination.self) { output in
                for i in input.indices { output[i] = input[i].cast(to: Destination.self) }
            }
        }
    }
}

/// An element type `Cast` converts from and to. Every conversion goes through one of two
/// concrete intermediates, so each pair specialises to a few instructions with no generic
/// numeric conversion (which Swift implements bit by bit) in the loop:
/// - integers and `bool` hand over their 64-bit two's complement pattern (low bits are what
///   wrapping keeps, and signedness says how a float reads it);
/// - floating-point values hand over a `Double`, which holds every float and half exactly.
protocol CastableElement: TensorElement {
    /// Converts from an integer given as its sign- or zero-extended 64-bit pattern.
    static func converting(integerBits bits: UInt64, signed: Bool) -> Self
    /// Converts from a floating-point value.
    static func converting(double value: Double) -> Self
    /// Converts to another element type.
    func cast<D: CastableElement>(to type: D.Type) -> D
    /// Converts from a `bfloat16` value (given as its exact `Float`).
    static func converting(bfloat16 value: Float) -> Self
}

extension CastableElement {
    @inline(__always) static func converting(bfloat16 value: Float) -> Self { converting(double: Double(value)) }
}

extension CastableElement where Self: FixedWidthInteger {
    @inline(__always) static func converting(integerBits bits: UInt64, signed: Bool) -> Self {
        Self(truncatingIfNeeded: bits)
    }

    @inline(__always) func cast<D: CastableElement>(to type: D.Type) -> D {
        D.converting(integerBits: UInt64(truncatingIfNeeded: self), signed: Self.isSigned)
    }
}

extension Bool: CastableElement {
    @inline(__always) static func converting(integerBits bits: UInt64, signed: Bool) -> Bool { bits != 0 }
    @inline(__always) static func converting(double value: Double) -> Bool { value != 0 }
    @inline(__always) func cast<D: CastableElement>(to type: D.Type) -> D {
        D.converting(integerBits: self ? 1 : 0, signed: false)
    }
}

extension Float: CastableElement {
    @inline(__always) static func converting(integerBits bits: UInt64, signed: Bool) -> Float {
        signed ? Float(Int64(bitPattern: bits)) : Float(bits)
    }
    @inline(__always) static func converting(double value: Double) -> Float { Float(value) }
    @inline(__always) func cast<D: CastableElement>(to type: D.Type) -> D { D.converting(double: Double(self)) }
}

extension Double: CastableElement {
    @inline(__always) static func converting(integerBits bits: UInt64, signed: Bool) -> Double {
        signed ? Double(Int64(bitPattern: bits)) : Double(bits)
    }
    @inline(__always) static func converting(double value: Double) -> Double { value }
    @inline(__always) func cast<D: CastableElement>(to type: D.Type) -> D { D.converting(double: self) }
}

extension BFloat16: CastableElement {
    @inline(__always) static func converting(integerBits bits: UInt64, signed: Bool) -> BFloat16 {
        BFloat16(signed ? Float(Int64(bitPattern: bits)) : Float(bits))
    }
    @inline(__always) static func converting(double value: Double) -> BFloat16 { BFloat16(Float(value)) }
    @inline(__always) func cast<D: CastableElement>(to type: D.Type) -> D { D.converting(bfloat16: float) }
}

// A real number becomes the real part; a complex number converts its real part, as TensorFlow's
// Cast does (complex ↔ complex keeps both parts, in `convertComplex`).
extension ComplexElement: CastableElement where RealType: ComplexComponent & BinaryFloatingPoint {
    @inline(__always) static func converting(integerBits bits: UInt64, signed: Bool) -> ComplexElement {
        ComplexElement(signed ? RealType(Int64(bitPattern: bits)) : RealType(bits), 0)
    }
    @inline(__always) static func converting(double value: Double) -> ComplexElement { ComplexElement(RealType(value), 0) }
    @inline(__always) func cast<D: CastableElement>(to type: D.Type) -> D { D.converting(double: Double(real)) }
}

extension DType {
    /// Whether `Cast` converts to and from the type.
    var isCastable: Bool {
        switch self {
        case .string, .resource, .variant, .qint8, .quint8, .qint16, .quint16, .qint32: false
        default: true
        }
    }
}

extension Float16: CastableElement {
    @inline(__always) static func converting(integerBits bits: UInt64, signed: Bool) -> Float16 {
        signed ? Float16(Int64(bitPattern: bits)) : Float16(bits)
    }
    @inline(__always) static func converting(double value: Double) -> Float16 { Float16(value) }
    @inline(__always) func cast<D: CastableElement>(to type: D.Type) -> D { D.converting(double: Double(self)) }
}

// Floating point to integer as TensorFlow's x86 build converts (measured against TensorFlow
// 2.21): a truncating conversion to a 32-bit integer for 8-, 16- and 32-bit results and to a
// 64-bit one for 32-bit unsigned and 64-bit results, keeping the low bits; NaN and values out
// of the conversion's range give its minimum (x86's "integer indefinite"). `uint64` converts
// values from 2⁶³ up exactly, and gives 2⁶³ past 2⁶⁴.
@inline(__always) private func truncatedInt32(_ value: Double) -> Int32 {
    value > -2_147_483_649.0 && value < 2_147_483_648.0 ? Int32(value) : .min
}
@inline(__always) private func truncatedInt64(_ value: Double) -> Int64 {
    value >= -9.223_372_036_854_775_808e18 && value < 9.223_372_036_854_775_808e18 ? Int64(value) : .min
}

// From bfloat16, TensorFlow's x86 build (measured against 2.21) converts to a 32-bit integer
// as above, then its vectorised loop saturates to 8- and 16-bit types (`uint32` takes the
// 32-bit pattern) instead of keeping the low bits; Weft does so for every element (TensorFlow's
// scalar loop over the last few elements of a tensor wraps instead).
@inline(__always) private func saturated<T: FixedWidthInteger>(_ value: Float, _ type: T.Type) -> T {
    T(clamping: truncatedInt32(Double(value)))
}

extension Int8: CastableElement {
    @inline(__always) static func converting(double value: Double) -> Int8 {
        Int8(truncatingIfNeeded: truncatedInt32(value))
    }
    @inline(__always) static func converting(bfloat16 value: Float) -> Int8 { saturated(value, Int8.self) }
}
extension Int16: CastableElement {
    @inline(__always) static func converting(double value: Double) -> Int16 {
        Int16(truncatingIfNeeded: truncatedInt32(value))
    }
    @inline(__always) static func converting(bfloat16 value: Float) -> Int16 { saturated(value, Int16.self) }
}
extension Int32: CastableElement {
    @inline(__always) static func converting(double value: Double) -> Int32 { truncatedInt32(value) }
}
extension Int64: CastableElement {
    @inline(__always) static func converting(double value: Double) -> Int64 { truncatedInt64(value) }
}
extension UInt8: CastableElement {
    @inline(__always) static func converting(double value: Double) -> UInt8 {
        UInt8(truncatingIfNeeded: truncatedInt32(value))
    }
    @inline(__always) static func converting(bfloat16 value: Float) -> UInt8 { saturated(value, UInt8.self) }
}
extension UInt16: CastableElement {
    @inline(__always) static func converting(double value: Double) -> UInt16 {
        UInt16(truncatingIfNeeded: truncatedInt32(value))
    }
    @inline(__always) static func converting(bfloat16 value: Float) -> UInt16 { saturated(value, UInt16.self) }
}
extension UInt32: CastableElement {
    @inline(__always) static func converting(double value: Double) -> UInt32 {
        UInt32(truncatingIfNeeded: truncatedInt64(value))
    }
    @inline(__always) static func converting(bfloat16 value: Float) -> UInt32 {
        UInt32(bitPattern: truncatedInt32(Double(value)))
    }
}
extension UInt64: CastableElement {
    @inline(__always) static func converting(double value: Double) -> UInt64 {
        guard value >= 9.223_372_036_854_775_808e18 else { return UInt64(bitPattern: truncatedInt64(value)) }
        return value < 1.844_674_407_370_955_1616e19 ? UInt64(value) : 1 << 63
    }
}

extension Tensor {
    /// A tensor of `dtype` from double values, each converted as `Cast` converts a `float64`
    /// (never trapping: out-of-range values wrap or saturate as TensorFlow's Cast does).
    public init(converting values: [Double], to dtype: DType, shape: TensorShape) throws(WeftError) {
        self = try CastOp.cast(try Tensor(values, shape: shape), to: dtype)
    }
}

extension Tensor {
    /// This tensor converted to `dtype` as TensorFlow's `Cast` converts it.
    public init(converting tensor: Tensor, to dtype: DType) throws(WeftError) {
        self = try CastOp.cast(tensor, to: dtype)
    }
}
