/// The arithmetic the optimizer updates (`UpdateMath`) are written in: `Float`, `Double` and
/// `Float16` as they are, and `BFloat16` rounding after every operation.
protocol UpdateScalar: Comparable, ExpressibleByIntegerLiteral {
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    static func / (a: Self, b: Self) -> Self
    static prefix func - (a: Self) -> Self
    static func += (a: inout Self, b: Self)
    static func -= (a: inout Self, b: Self)
    /// The square root.
    func squareRoot() -> Self
    /// 1 / √x, rounded once.
    func reciprocalSquareRoot() -> Self
    /// The absolute value.
    var magnitude: Self { get }
    /// xʸ.
    static func pow(_ x: Self, _ y: Self) -> Self
}

// `Float`, `Double` and `Float16` conform through `FloatElement`.
extension FloatElement {
    /// 1 / √x, as TensorFlow's `rsqrt`.
    func reciprocalSquareRoot() -> Self { 1 / squareRoot() }
}

/// TensorFlow's CPU kernels compute on `bfloat16` through Eigen, whose every operation widens
/// its operands to `float` and rounds its result back (to nearest even): a fused update such as
/// `accum = accum * momentum + grad` rounds twice. These operators do the same, so that the
/// optimizer updates give TensorFlow's bits.
extension BFloat16: UpdateScalar {
    /// The integer, rounded to nearest even.
    public init(integerLiteral value: Int) { self.init(Float(value)) }
    /// Ordered as numbers; NaN is unordered.
    public static func < (a: BFloat16, b: BFloat16) -> Bool { a.float < b.float }

    static func + (a: BFloat16, b: BFloat16) -> BFloat16 { BFloat16(a.float + b.float) }
    static func - (a: BFloat16, b: BFloat16) -> BFloat16 { BFloat16(a.float - b.float) }
    static func * (a: BFloat16, b: BFloat16) -> BFloat16 { BFloat16(a.float * b.float) }
    static func / (a: BFloat16, b: BFloat16) -> BFloat16 { BFloat16(a.float / b.float) }
    static prefix func - (a: BFloat16) -> BFloat16 { BFloat16(bitPattern: a.bitPattern ^ 0x8000) }
    static func += (a: inout BFloat16, b: BFloat16) { a = a + b }
    static func -= (a: inout BFloat16, b: BFloat16) { a = a - b }
    func squareRoot() -> BFloat16 { BFloat16(float.squareRoot()) }
    func reciprocalSquareRoot() -> BFloat16 { BFloat16(1 / float.squareRoot()) }
    var magnitude: BFloat16 { BFloat16(bitPattern: bitPattern & 0x7FFF) }
    static func pow(_ x: BFloat16, _ y: BFloat16) -> BFloat16 { BFloat16(Float.pow(x.float, y.float)) }
}
