/// The arithmetic of the optimizer updates (`UpdateMath`) that need no ordering: `Float`,
/// `Double` and `Float16` as they are, `BFloat16` rounding after every operation, and the
/// complex types, for which TensorFlow registers the rules built from field operations and
/// square roots.
protocol UpdateArithmetic: ExpressibleByIntegerLiteral {
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    static func / (a: Self, b: Self) -> Self
    static prefix func - (a: Self) -> Self
    static func += (a: inout Self, b: Self)
    static func -= (a: inout Self, b: Self)
    /// The (principal) square root.
    func squareRoot() -> Self
    /// 1 / √x, rounded once.
    func reciprocalSquareRoot() -> Self
    /// Runs `math` on `row`: every rule for ordered types, the field-arithmetic ones for complex.
    static func update(_ math: UpdateMath, _ row: UpdateRow<Self>, _ h: [Self])
}

/// The real types, which every optimizer rule accepts (the proximal and FTRL rules compare).
protocol UpdateScalar: UpdateArithmetic, Comparable {
    /// The absolute value.
    var magnitude: Self { get }
    /// xʸ.
    static func pow(_ x: Self, _ y: Self) -> Self
}

extension UpdateScalar {
    static func update(_ math: UpdateMath, _ row: UpdateRow<Self>, _ h: [Self]) { math.apply(row, h) }
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
    /// Eigen's generic `rsqrt` on `bfloat16`: the root rounded, then its reciprocal rounded.
    func reciprocalSquareRoot() -> BFloat16 { BFloat16(1 / squareRoot().float) }
    var magnitude: BFloat16 { BFloat16(bitPattern: bitPattern & 0x7FFF) }
    static func pow(_ x: BFloat16, _ y: BFloat16) -> BFloat16 { BFloat16(Float.pow(x.float, y.float)) }
}

/// Complex updates as TensorFlow's CPU kernels compute them: `std::complex` arithmetic (see
/// ComplexMath.swift) with the principal square root. Only the rules without comparisons
/// exist for complex in TensorFlow; `UpdateVisitor` refuses the others before any update.
extension ComplexElement: UpdateArithmetic {
    /// The integer as a real complex number.
    public init(integerLiteral value: Int) { self.init(real: RealType(value)) }

    static func += (a: inout ComplexElement, b: ComplexElement) { a = a + b }
    static func -= (a: inout ComplexElement, b: ComplexElement) { a = a - b }
    func squareRoot() -> ComplexElement { Self.sqrt(self) }
    func reciprocalSquareRoot() -> ComplexElement { Self(real: 1) / Self.sqrt(self) }
    static func update(_ math: UpdateMath, _ row: UpdateRow<ComplexElement>, _ h: [ComplexElement]) {
        math.applyArithmetic(row, h)
    }
}
