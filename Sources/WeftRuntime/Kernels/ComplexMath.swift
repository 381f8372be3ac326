import RealModule

// Complex arithmetic as TensorFlow's CPU kernels compute it (C++'s `std::complex` through
// Eigen), on the stored layout itself, so kernels loop over `ComplexElement`s with no
// conversion and no allocation per element.

extension ComplexElement {
    /// The complex number with real part `real` and imaginary part 0.
    @inline(__always) init(real: RealType) { self.init(real, 0) }

    @inline(__always) static func + (a: Self, b: Self) -> Self {
        Self(a.real + b.real, a.imaginary + b.imaginary)
    }

    @inline(__always) static func - (a: Self, b: Self) -> Self {
        Self(a.real - b.real, a.imaginary - b.imaginary)
    }

    @inline(__always) static prefix func - (a: Self) -> Self { Self(-a.real, -a.imaginary) }

    /// The textbook product, as Eigen's vectorised complex multiply computes it.
    @inline(__always) static func * (a: Self, b: Self) -> Self {
        Self(a.real * b.real - a.imaginary * b.imaginary, a.real * b.imaginary + a.imaginary * b.real)
    }

    /// The quotient as TensorFlow's vectorised CPU kernel computes it: numerator and divisor
    /// are scaled by the divisor's larger part m, so nothing overflows, then
    /// `((a·c' + b·d') + (b·c' − a·d')i) / (c'² + d'²) / m` with `c' = c/m`, `d' = d/m`.
    /// A zero or infinite divisor gives NaN parts (TensorFlow's scalar tail path, used for
    /// the last few elements of a tensor, gives C's infinities there instead).
    static func / (a: Self, b: Self) -> Self {
        let scale = Swift.max(Swift.abs(b.real), Swift.abs(b.imaginary))
        let (c, d) = (b.real / scale, b.imaginary / scale)
        let denominator = c * c + d * d
        return Self(
            (a.real * c + a.imaginary * d) / denominator / scale,
            (a.imaginary * c - a.real * d) / denominator / scale
        )
    }

    /// `magnitude` with the sign of `sign`.
    @inline(__always) private static func copysign(_ magnitude: RealType, _ sign: RealType) -> RealType {
        RealType(signOf: sign, magnitudeOf: magnitude)
    }

    /// The complex conjugate.
    @inline(__always) var conjugate: Self { Self(real, -imaginary) }

    /// |z|, without overflow in the squares.
    @inline(__always) var magnitude: RealType { RealType.hypot(real, imaginary) }

    /// The argument, in (−π, π].
    @inline(__always) var argument: RealType { RealType.atan2(y: imaginary, x: real) }

    /// Whether both parts are equal (so NaN parts make numbers unequal, as in C++).
    @inline(__always) static func equalParts(_ a: Self, _ b: Self) -> Bool {
        a.real == b.real && a.imaginary == b.imaginary
    }
}

extension ComplexElement {
    /// eᶻ = eˣ(cos y + i sin y).
    static func exp(_ z: Self) -> Self {
        // A real argument gives an exactly real result (cos 0 = 1, sin 0 = 0), also for e^∞.
        if z.imaginary == 0 { return Self(RealType.exp(z.real), z.imaginary) }
        let magnitude = RealType.exp(z.real)
        return Self(magnitude * RealType.cos(z.imaginary), magnitude * RealType.sin(z.imaginary))
    }

    /// The principal logarithm: log|z| + i·arg z.
    static func log(_ z: Self) -> Self { Self(RealType.log(z.magnitude), z.argument) }

    /// The principal square root, computed without cancellation: the part that adds two
    /// numbers of one sign first, the other from it.
    static func sqrt(_ z: Self) -> Self {
        let (x, y) = (z.real, z.imaginary)
        if x == 0 && y == 0 { return Self(0, y) }
        if y.isInfinite { return Self(.infinity, y) }
        if x.isNaN { return Self(x, x) }
        if x.isInfinite {
            return x > 0 ? Self(x, y.isNaN ? y : copysign(0, y)) : Self(y.isNaN ? y : 0, copysign(.infinity, y))
        }
        let t = (((Swift.abs(x) + z.magnitude) / 2)).squareRoot()
        return x >= 0 ? Self(t, y / (2 * t)) : Self(Swift.abs(y) / (2 * t), copysign(t, y))
    }

    /// tanh z = (e²ᶻ − 1)/(e²ᶻ + 1), written through real functions:
    /// (sinh 2x + i sin 2y)/(cosh 2x + cos 2y), with the limit ±1 for large |x|.
    static func tanh(_ z: Self) -> Self {
        let (x, y) = (z.real, z.imaginary)
        if Swift.abs(x) > 20 { return Self(copysign(1, x), 0 * RealType.sin(2 * y)) }
        let denominator = RealType.cosh(2 * x) + RealType.cos(2 * y)
        return Self(RealType.sinh(2 * x) / denominator, RealType.sin(2 * y) / denominator)
    }

    /// sin z = sin x cosh y + i cos x sinh y.
    static func sin(_ z: Self) -> Self {
        Self(
            RealType.sin(z.real) * RealType.cosh(z.imaginary),
            RealType.cos(z.real) * RealType.sinh(z.imaginary)
        )
    }

    /// cos z = cos x cosh y − i sin x sinh y.
    static func cos(_ z: Self) -> Self {
        Self(
            RealType.cos(z.real) * RealType.cosh(z.imaginary),
            -(RealType.sin(z.real) * RealType.sinh(z.imaginary))
        )
    }

    /// eᶻ − 1, its real part exact for small |z| (eˣ cos y − 1 = expm1(x) cos y − 2 sin²(y/2)).
    static func expm1(_ z: Self) -> Self {
        let (x, y) = (z.real, z.imaginary)
        let halfSine = RealType.sin(y / 2)
        return Self(
            RealType.expMinusOne(x) * RealType.cos(y) - 2 * halfSine * halfSine,
            RealType.exp(x) * RealType.sin(y)
        )
    }

    /// log(1 + z), its real part exact for small |z| (½·log1p(2x + x² + y²)).
    static func log1p(_ z: Self) -> Self {
        let (x, y) = (z.real, z.imaginary)
        let onePlus = Self(1 + x, y)
        let half = RealType(1) / 2
        guard x.magnitude < half && y.magnitude < half else { return Self.log(onePlus) }
        return Self(RealType.log(onePlus: x * (2 + x) + y * y) / 2, onePlus.argument)
    }

    /// zʷ = exp(w · log z), as `std::pow` computes it.
    static func pow(_ z: Self, _ w: Self) -> Self { exp(w * log(z)) }

    /// z / |z|, and 0 for 0 (TensorFlow's `Sign` on complex numbers).
    static func sign(_ z: Self) -> Self {
        let magnitude = z.magnitude
        return magnitude == 0 ? Self(0, 0) : Self(z.real / magnitude, z.imaginary / magnitude)
    }
}
