#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// How TensorFlow turns Philox's words into values. Each conversion is the one in TensorFlow's
// `random_distributions.h`, operation for operation and in the same precision, since a single
// rounding done differently changes the bits: uniform floats put random mantissa bits under the
// exponent of 1 and subtract 1; normals are Box-Muller on pairs, in single precision (the C
// library's logf, sinf, cosf) for half and float and in double precision for double.

/// A floating-point type TensorFlow's random ops produce.
protocol RandomFloat: TensorElement {
    /// The type Box-Muller computes in: `Float` for half and float, `Double` for double.
    associatedtype Wide: BinaryFloatingPoint
    /// The values one 128-bit block yields: 4, or 2 for double (which takes 64 bits each).
    static var perBlock: Int { get }
    /// `perBlock` uniform values in [0, 1) from one block.
    static func uniform(_ bits: SIMD4<UInt32>, into out: UnsafeMutablePointer<Self>)
    /// `perBlock` standard normal values from one block.
    static func normal(_ bits: SIMD4<UInt32>, into out: UnsafeMutablePointer<Self>)
    /// Two standard normal values from the next words (2, or 4 for double), unrounded.
    static func normalPair(_ words: inout PhiloxWords) -> (Wide, Wide)
    /// `value` rounded to this type.
    static func narrow(_ value: Wide) -> Self
}

/// A float in [0, 1) from the low 23 bits of `word`.
@inline(__always)
func uniformFloat(_ word: UInt32) -> Float {
    Float(bitPattern: 127 << 23 | word & 0x7F_FFFF) - 1
}

/// A double in [0, 1) from the low 20 bits of `high` and all of `low`.
@inline(__always)
func uniformDouble(_ high: UInt32, _ low: UInt32) -> Double {
    Double(bitPattern: 1023 << 52 | UInt64(high & 0xF_FFFF) << 32 | UInt64(low)) - 1
}

/// Box-Muller in single precision: two normals from two words. The angle is computed in double
/// and rounded once, as TensorFlow's `2.0f * M_PI * u` does.
@inline(__always)
func boxMuller(_ x0: UInt32, _ x1: UInt32) -> (Float, Float) {
    let u1 = max(uniformFloat(x0), 1.0e-7)
    let angle = Float(2.0 * Double.pi * Double(uniformFloat(x1)))
    let radius = (-2.0 * logf(u1)).squareRoot()
    return (sinf(angle) * radius, cosf(angle) * radius)
}

/// Box-Muller in double precision: two normals from four words.
@inline(__always)
func boxMuller(_ x0: UInt32, _ x1: UInt32, _ x2: UInt32, _ x3: UInt32) -> (Double, Double) {
    let u1 = max(uniformDouble(x0, x1), 1.0e-7)
    let angle = 2 * Double.pi * uniformDouble(x2, x3)
    let radius = (-2.0 * libmLogDouble(u1)).squareRoot()
    return (libmSinDouble(angle) * radius, libmCosDouble(angle) * radius)
}

// The C library's double functions, at file scope so no type's static member shadows them.
@inline(__always) private func libmLogDouble(_ x: Double) -> Double { log(x) }
@inline(__always) private func libmSinDouble(_ x: Double) -> Double { sin(x) }
@inline(__always) private func libmCosDouble(_ x: Double) -> Double { cos(x) }

extension Float: RandomFloat {
    static var perBlock: Int { 4 }

    @inline(__always)
    static func uniform(_ bits: SIMD4<UInt32>, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<4 { out[i] = uniformFloat(bits[i]) }
    }

    @inline(__always)
    static func normal(_ bits: SIMD4<UInt32>, into out: UnsafeMutablePointer<Float>) {
        (out[0], out[1]) = boxMuller(bits.x, bits.y)
        (out[2], out[3]) = boxMuller(bits.z, bits.w)
    }

    @inline(__always)
    static func normalPair(_ words: inout PhiloxWords) -> (Float, Float) {
        let x0 = words.next()
        return boxMuller(x0, words.next())
    }

    @inline(__always) static func narrow(_ value: Float) -> Float { value }
}

extension Double: RandomFloat {
    static var perBlock: Int { 2 }

    @inline(__always)
    static func uniform(_ bits: SIMD4<UInt32>, into out: UnsafeMutablePointer<Double>) {
        out[0] = uniformDouble(bits.x, bits.y)
        out[1] = uniformDouble(bits.z, bits.w)
    }

    @inline(__always)
    static func normal(_ bits: SIMD4<UInt32>, into out: UnsafeMutablePointer<Double>) {
        (out[0], out[1]) = boxMuller(bits.x, bits.y, bits.z, bits.w)
    }

    @inline(__always)
    static func normalPair(_ words: inout PhiloxWords) -> (Double, Double) {
        let x0 = words.next()
        let x1 = words.next()
        let x2 = words.next()
        return boxMuller(x0, x1, x2, words.next())
    }

    @inline(__always) static func narrow(_ value: Double) -> Double { value }
}

/// Half precision draws 10 mantissa bits per word for uniforms, and rounds single-precision
/// normals once.
extension Float16: RandomFloat {
    static var perBlock: Int { 4 }

    @inline(__always)
    static func uniform(_ bits: SIMD4<UInt32>, into out: UnsafeMutablePointer<Float16>) {
        for i in 0..<4 {
            out[i] = Float16(bitPattern: 15 << 10 | UInt16(truncatingIfNeeded: bits[i]) & 0x3FF) - 1
        }
    }

    @inline(__always)
    static func normal(_ bits: SIMD4<UInt32>, into out: UnsafeMutablePointer<Float16>) {
        let (a, b) = boxMuller(bits.x, bits.y)
        let (c, d) = boxMuller(bits.z, bits.w)
        (out[0], out[1], out[2], out[3]) = (Float16(a), Float16(b), Float16(c), Float16(d))
    }

    @inline(__always)
    static func normalPair(_ words: inout PhiloxWords) -> (Float, Float) {
        let x0 = words.next()
        return boxMuller(x0, words.next())
    }

    @inline(__always) static func narrow(_ value: Float) -> Float16 { Float16(value) }
}

/// A distribution that turns each block into a fixed number of values, so value group `g`
/// always comes from block `g` after the reservation's start.
protocol BlockDistribution: Sendable {
    /// The element type produced.
    associatedtype Element: TensorElement
    /// Values per block.
    var perBlock: Int { get }
    /// Writes `perBlock` values made from `bits`.
    func values(_ bits: SIMD4<UInt32>, into out: UnsafeMutablePointer<Element>)
}

/// A distribution that draws as many words as it needs for each group of values (rejection
/// sampling). TensorFlow starts group `g` at block `g · perGroup · 64`, leaving room for 256
/// words per value, so results do not depend on how the work is split.
protocol RejectionDistribution: Sendable {
    /// The element type produced.
    associatedtype Element: TensorElement
    /// Values per group.
    var perGroup: Int { get }
    /// Writes `perGroup` values drawn from `words`.
    func group(_ words: inout PhiloxWords, into out: UnsafeMutablePointer<Element>)
}

/// Uniform values in [0, 1).
struct UniformFloats<T: RandomFloat>: BlockDistribution {
    var perBlock: Int { T.perBlock }
    @inline(__always)
    func values(_ bits: SIMD4<UInt32>, into out: UnsafeMutablePointer<T>) { T.uniform(bits, into: out) }
}

/// Standard normal values.
struct NormalFloats<T: RandomFloat>: BlockDistribution {
    var perBlock: Int { T.perBlock }
    @inline(__always)
    func values(_ bits: SIMD4<UInt32>, into out: UnsafeMutablePointer<T>) { T.normal(bits, into: out) }
}

/// Standard normal values whose magnitude (before rounding to `T`) is below 2: pairs are drawn
/// until the group is full, each member of a pair accepted or rejected in turn.
struct TruncatedNormalFloats<T: RandomFloat>: RejectionDistribution {
    var perGroup: Int { T.perBlock }

    func group(_ words: inout PhiloxWords, into out: UnsafeMutablePointer<T>) {
        var filled = 0
        while true {
            let (a, b) = T.normalPair(&words)
            if a.magnitude < 2 {
                out[filled] = T.narrow(a)
                filled += 1
                if filled == perGroup { return }
            }
            if b.magnitude < 2 {
                out[filled] = T.narrow(b)
                filled += 1
                if filled == perGroup { return }
            }
        }
    }
}

/// An integer type `RandomUniformInt` produces.
protocol RandomInteger: TensorElement, FixedWidthInteger, SignedInteger where Magnitude: Sendable {
    /// Values per block: 4 for 32 bits, 2 for 64.
    static var perBlock: Int { get }
    /// The random bits of value `index` in `bits`.
    static func word(_ bits: SIMD4<UInt32>, _ index: Int) -> Magnitude
}

extension Int32: RandomInteger {
    static var perBlock: Int { 4 }
    @inline(__always) static func word(_ bits: SIMD4<UInt32>, _ index: Int) -> UInt32 { bits[index] }
}

extension Int64: RandomInteger {
    static var perBlock: Int { 2 }
    @inline(__always) static func word(_ bits: SIMD4<UInt32>, _ index: Int) -> UInt64 {
        UInt64(bits[2 * index]) | UInt64(bits[2 * index + 1]) << 32
    }
}

/// Integers in [low, low + range): the bits modulo the range, added to `low` (which cannot
/// overflow, since the sum stays below the upper bound).
struct UniformIntegers<T: RandomInteger>: BlockDistribution {
    /// The smallest value, `minval`.
    let low: T
    /// `maxval − minval`, which may exceed `T.max`.
    let range: T.Magnitude
    var perBlock: Int { T.perBlock }

    @inline(__always)
    func values(_ bits: SIMD4<UInt32>, into out: UnsafeMutablePointer<T>) {
        for i in 0..<T.perBlock {
            out[i] = low &+ T(truncatingIfNeeded: T.word(bits, i) % range)
        }
    }
}

/// Integers covering the whole range of `T`: the block's words as they are, one per 32-bit
/// value or two per 64-bit value (low word first).
struct FullRangeIntegers<T: FixedWidthInteger & TensorElement>: BlockDistribution {
    var perBlock: Int { T.bitWidth == 64 ? 2 : 4 }

    @inline(__always)
    func values(_ bits: SIMD4<UInt32>, into out: UnsafeMutablePointer<T>) {
        if T.bitWidth == 64 {
            for i in 0..<2 { out[i] = T(truncatingIfNeeded: UInt64(bits[2 * i]) | UInt64(bits[2 * i + 1]) << 32) }
        } else {
            for i in 0..<4 { out[i] = T(truncatingIfNeeded: bits[i]) }
        }
    }
}
