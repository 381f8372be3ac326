#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Vectorised elementary functions for `Float` buffers, eight lanes at a time.
///
/// The C library's `expf` is accurate but one element per call; `Exp`, `Sigmoid` and
/// `Softmax` spend nearly all their time in it. This is the Cephes single-precision
/// exponential (the one Eigen, and so TensorFlow's CPU kernels, use): the same range reduction
/// and degree-5 polynomial, accurate to about one ulp, evaluated on `SIMD8<Float>`.
enum VectorMath {
    /// Inputs inside this range take the vector path: their exponent `m` stays a normal
    /// float's. Others (overflow to infinity, underflow to subnormals or zero, NaN) are rare
    /// and go to `expf`, which handles them exactly.
    private static let lowest: Float = -87.0
    private static let highest: Float = 88.0

    /// `y[i] = exp(x[i])` for `count` elements; `x` and `y` may be the same buffer.
    static func exp(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i &+ 8 <= count {
            let lanes = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            let result: SIMD8<Float>
            if all((lanes .>= lowest) .& (lanes .<= highest)) {
                result = exp8(lanes)
            } else {
                var scalar = lanes
                for lane in 0..<8 { scalar[lane] = expf(lanes[lane]) }
                result = scalar
            }
            UnsafeMutableRawPointer(y + i).storeBytes(of: result, as: SIMD8<Float>.self)
            i &+= 8
        }
        while i < count {
            y[i] = expf(x[i])
            i &+= 1
        }
    }

    /// exp on eight lanes all within `lowest...highest`: exp(x) = 2^m · exp(r) with
    /// m = round(x / ln 2) and |r| ≤ ln 2 / 2, r computed in two steps to keep its low bits.
    @inline(__always)
    private static func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
        // Adding 1.5 · 2^23 rounds x / ln 2 to an integer held in the low mantissa bits, which
        // gives m both as a float and as an integer without a float-to-int conversion (which
        // Swift's SIMD types do lane by lane through generic code).
        let shifter = SIMD8<Float>(repeating: 12_582_912)
        let shifted = x * 1.44269504088896341 + shifter
        let m = shifted - shifter
        var r = x - m * 0.693359375
        r = r + m * 2.12194440e-4
        let r2 = r * r
        var p = SIMD8<Float>(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * r2 + r + 1
        // 2^m from its exponent bits: (m + 127) << 23, with m read off `shifted`'s bits.
        let mBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- unsafeBitCast(shifter, to: SIMD8<Int32>.self)
        let scale = unsafeBitCast((mBits &+ 127) &* (1 << 23), to: SIMD8<Float>.self)
        return p * scale
    }
}
