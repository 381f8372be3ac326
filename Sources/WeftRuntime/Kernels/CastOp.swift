/// `Cast`: converts every element from `SrcT` to `DstT` the way C++'s `static_cast` does on
/// x86, which is what TensorFlow's CPU kernel compiles to, without ever trapping:
/// - integer to narrower integer wraps (keeps the low bits);
/// - floating point to integer truncates toward zero; NaN and out-of-range values, undefined
///   in C++, give the integer's minimum for signed types (what x86 produces) and 0 for unsigned;
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
                return [.tensor(cast(x, to: destination))]
            }
        }
    )

    /// `x` converted to `dtype`; `x` itself when it already has that dtype.
    static func cast(_ x: Tensor, to dtype: DType) -> Tensor {
        if x.dtype == dtype { return x }
        let out = Tensor(uninitialized: dtype, shape: x.shape)
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
        }
        return out
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
}

extension CastableElement where Self: FixedWidthInteger {
    @inline(__always) static func converting(integerBits bits: UInt64, signed: Bool) -> Self {
        Self(truncatingIfNeeded: bits)
    }

    @inline(__always) func cast<D: CastableElement>(to type: D.Type) -> D {
        D.converting(integerBits: UInt64(truncatingIfNeeded: self), signed: Self.isSigned)
    }

    /// Whether `value` truncated toward zero fits the type. Every bound is exact in `Double`
    /// or rounds to the power of two just past the maximum, the right exclusive upper limit.
    @inline(__always) static func fits(_ value: Double) -> Bool {
        value > Double(Self.min) - 1 && value < Double(Self.max) + 1
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

extension Float16: CastableElement {
    @inline(__always) static func converting(integerBits bits: UInt64, signed: Bool) -> Float16 {
        signed ? Float16(Int64(bitPattern: bits)) : Float16(bits)
    }
    @inline(__always) static func converting(double value: Double) -> Float16 { Float16(value) }
    @inline(__always) func cast<D: CastableElement>(to type: D.Type) -> D { D.converting(double: Double(self)) }
}

// Floating point to integer: each type's own `init(_: Double)` (a single truncating
// instruction) when the value fits; NaN and out-of-range values give `min` (what x86's
// conversion produces for 32- and 64-bit signed results) or 0 for unsigned types.
extension Int8: CastableElement {
    @inline(__always) static func converting(double value: Double) -> Int8 { fits(value) ? Int8(value) : .min }
}
extension Int16: CastableElement {
    @inline(__always) static func converting(double value: Double) -> Int16 { fits(value) ? Int16(value) : .min }
}
extension Int32: CastableElement {
    @inline(__always) static func converting(double value: Double) -> Int32 { fits(value) ? Int32(value) : .min }
}
extension Int64: CastableElement {
    @inline(__always) static func converting(double value: Double) -> Int64 { fits(value) ? Int64(value) : .min }
}
extension UInt8: CastableElement {
    @inline(__always) static func converting(double value: Double) -> UInt8 { fits(value) ? UInt8(value) : .min }
}
extension UInt16: CastableElement {
    @inline(__always) static func converting(double value: Double) -> UInt16 { fits(value) ? UInt16(value) : .min }
}
extension UInt32: CastableElement {
    @inline(__always) static func converting(double value: Double) -> UInt32 { fits(value) ? UInt32(value) : .min }
}
extension UInt64: CastableElement {
    @inline(__always) static func converting(double value: Double) -> UInt64 { fits(value) ? UInt64(value) : .min }
}
