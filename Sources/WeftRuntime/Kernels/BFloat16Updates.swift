extension BinaryOp {
    /// `a ∘ b` as `apply` computes it, and for `bfloat16` (which `apply` does not take) in
    /// `float` on exactly widened operands, rounded once: TensorFlow's `AssignAdd` and
    /// `AssignSub` (ref and resource forms) on `bfloat16` variables.
    func applyWidening(_ a: Tensor, _ b: Tensor, op: String, node: String) throws(WeftError) -> Tensor {
        guard a.dtype == .bfloat16, b.dtype == .bfloat16 else { return try apply(a, b, op: op, node: node) }
        let result = try apply(try CastOp.cast(a, to: .float), try CastOp.cast(b, to: .float), op: op, node: node)
        return try CastOp.cast(result, to: .bfloat16)
    }
}
