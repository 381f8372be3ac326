/// Brain floating point: the upper 16 bits of a `Float` (8 exponent bits, 7 mantissa bits),
/// TensorFlow's `bfloat16`. Arithmetic happens in `Float`; conversion rounds to nearest even,
/// as TensorFlow's `bfloat16(float)` does, and keeps NaN a NaN.
@frozen
public struct BFloat16: Sendable, Hashable, BitwiseCopyable, CustomStringConvertible {
    /// The bit pattern.
    public var bitPattern: UInt16

    /// Makes a value from its bit pattern.
    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// The nearest bfloat16 to `value`, ties to even.
    public init(_ value: Float) {
        guard !value.isNaN else {
            // A quiet NaN with the sign kept: the top bits alone could read as infinity.
            self.bitPattern = UInt16(truncatingIfNeeded: value.bitPattern >> 16) | 0x0040
            return
        }
        let bits = value.bitPattern
        let rounding = 0x7FFF + ((bits >> 16) & 1)
        self.bitPattern = UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }

    /// The value as a `Float`, exactly.
    public var float: Float { Float(bitPattern: UInt32(bitPattern) << 16) }

    /// The value as `Float` prints it.
    public var description: String { "\(float)" }

    /// Equal as numbers (NaN differs from everything, +0 equals -0).
    public static func == (lhs: BFloat16, rhs: BFloat16) -> Bool { lhs.float == rhs.float }

    /// Hashes the numeric value, consistent with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(float == 0 ? 0 : float) }
}
