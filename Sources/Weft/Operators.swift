import WeftRuntime

extension Output {
    /// `lhs + rhs` with broadcasting.
    public static func + (lhs: Output, rhs: Output) -> Output { add(lhs, rhs) }
    /// `lhs - rhs` with broadcasting.
    public static func - (lhs: Output, rhs: Output) -> Output { subtract(lhs, rhs) }
    /// `lhs * rhs` with broadcasting.
    public static func * (lhs: Output, rhs: Output) -> Output { multiply(lhs, rhs) }
    /// `lhs / rhs` with broadcasting.
    public static func / (lhs: Output, rhs: Output) -> Output { divide(lhs, rhs) }
    /// `-x`.
    public static prefix func - (x: Output) -> Output { negate(x) }

    /// `lhs + rhs`, the number becoming a constant of `lhs`'s dtype.
    public static func + (lhs: Output, rhs: Double) -> Output {
        binary("AddV2", lhs, scalar: rhs, scalarFirst: false, default: "add")
    }
    /// `lhs - rhs`, the number becoming a constant of `lhs`'s dtype.
    public static func - (lhs: Output, rhs: Double) -> Output {
        binary("Sub", lhs, scalar: rhs, scalarFirst: false, default: "sub")
    }
    /// `lhs * rhs`, the number becoming a constant of `lhs`'s dtype.
    public static func * (lhs: Output, rhs: Double) -> Output {
        binary("Mul", lhs, scalar: rhs, scalarFirst: false, default: "mul")
    }
    /// `lhs / rhs`, the number becoming a constant of `lhs`'s dtype.
    public static func / (lhs: Output, rhs: Double) -> Output {
        binary(divisionOp(lhs.dtype), lhs, scalar: rhs, scalarFirst: false, default: "truediv")
    }
    /// `lhs + rhs`, the number becoming a constant of `rhs`'s dtype.
    public static func + (lhs: Double, rhs: Output) -> Output {
        binary("AddV2", rhs, scalar: lhs, scalarFirst: true, default: "add")
    }
    /// `lhs - rhs`, the number becoming a constant of `rhs`'s dtype.
    public static func - (lhs: Double, rhs: Output) -> Output {
        binary("Sub", rhs, scalar: lhs, scalarFirst: true, default: "sub")
    }
    /// `lhs * rhs`, the number becoming a constant of `rhs`'s dtype.
    public static func * (lhs: Double, rhs: Output) -> Output {
        binary("Mul", rhs, scalar: lhs, scalarFirst: true, default: "mul")
    }
    /// `lhs / rhs`, the number becoming a constant of `rhs`'s dtype.
    public static func / (lhs: Double, rhs: Output) -> Output {
        binary(divisionOp(rhs.dtype), rhs, scalar: lhs, scalarFirst: true, default: "truediv")
    }

    /// A scalar constant of this output's dtype, in this output's graph. A dtype no number
    /// converts to (`string`) keeps the `float64`, so the op's type check reports the mismatch.
    func scalar(_ value: Double, name: String) -> Output {
        let tensor = (try? Tensor(converting: [value], to: dtype, shape: .scalar)) ?? Tensor(value)
        return graph.asDefault { constant(tensor, name: name) }
    }
}
