#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Vectorised elementary functions for `Float` buffers, eight lanes at a time.
///
/// The C library's `expf` and `tanhf` are accurate but one element per call; `Exp`, `Tanh`,
/// `Sigmoid` and `Softmax` spent nearly all their time in them. This is the Cephes single-precision
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

    /// Beyond this magnitude tanh is within a few ulp of ±1 in single precision, so inputs
    /// are clamped to it; the rational function below is fitted on `0...tanhBound` only.
    private static let tanhBound: Float = 9

    /// `y[i] = tanh(x[i])` for `count` elements; `x` and `y` may be the same buffer.
    ///
    /// Like TensorFlow's CPU kernel, this trades libm's half-ulp accuracy for a clamped
    /// rational approximation that vectorises: at most 5.6 ulp from the exact value over the
    /// whole float range, as TensorFlow's own (checked on a dense sweep in `NN4Tests`). The
    /// tail is padded to a full vector so every element takes the same arithmetic.
    static func tanh(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i &+ 8 <= count {
            let lanes = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: tanh8(lanes), as: SIMD8<Float>.self)
            i &+= 8
        }
        guard i < count else { return }
        var lanes = SIMD8<Float>(repeating: 0)
        for lane in 0..<(count &- i) { lanes[lane] = x[i &+ lane] }
        let result = tanh8(lanes)
        for lane in 0..<(count &- i) { y[i &+ lane] = result[lane] }
    }

    /// tanh(x) ≈ x·P(x²)/Q(x²) with P of degree 6 and Q of degree 3 in x², P(0) = Q(0) = 1 so
    /// that tiny inputs (subnormals included) come back unchanged. The coefficients were fitted
    /// for this file (Lawson-weighted least squares on the relative error, in double precision,
    /// over 0 < x ≤ 9: `scripts/fit-tanh.py`); their relative error there is 7e-9, so what is
    /// left is single-precision rounding in the evaluation. Q has no root on the interval.
    @inline(__always)
    private static func tanh8(_ x: SIMD8<Float>) -> SIMD8<Float> {
        // Comparisons with NaN are false, so NaN passes the clamps unchanged and stays NaN;
        // ±infinity is clamped and gives ±1.
        var clamped = x.replacing(with: tanhBound, where: x .> tanhBound)
        clamped.replace(with: -tanhBound, where: x .< -tanhBound)
        let t = clamped * clamped
        var p = SIMD8<Float>(repeating: -8.5617826e-14)
        p = p * t + 5.3093457e-11
        p = p * t - 2.0296886e-08
        p = p * t + 1.1173428e-05
        p = p * t + 0.0031058798
        p = p * t + 0.13085765
        p = p * t + 1
        var q = SIMD8<Float>(repeating: 0.00025488873)
        q = q * t + 0.024502939
        q = q * t + 0.46419093
        q = q * t + 1
        return clamped * p / q
    }
}
