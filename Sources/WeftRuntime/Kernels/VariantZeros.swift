/// A variant value that `ZerosLike` can zero (TensorFlow registers a `ZEROS_LIKE` unary op per
/// variant type): gradients of unused variant intermediates (optionals, TensorLists) are zeros.
public protocol ZerosLikeVariant: VariantValue {
    /// The value of the same structure with every tensor in it zeroed.
    func zerosLike() throws(WeftError) -> any VariantValue
}

/// `ZerosLike` for any dtype, variants included.
public enum VariantZeros {
    /// A tensor of zeros like `x`: zero bytes for numbers and bools, the variant's own zeros for
    /// a scalar variant.
    public static func zeros(like x: Tensor) throws(WeftError) -> Tensor {
        guard x.dtype == .variant else {
            let out = Tensor(uninitialized: x.dtype, shape: x.shape)
            // All-zero bytes are 0, 0.0 and false in every dtype.
            out.buffer.base.initializeMemory(as: UInt8.self, repeating: 0, count: out.byteCount)
            return out
        }
        guard x.shape.rank == 0 else {
            throw WeftError(.invalidArgument, "ZerosLike non-scalar Tensor with dtype=DT_VARIANT is not supported.")
        }
        guard let value = x.variants.first as? any ZerosLikeVariant else {
            let name = x.variants.first?.typeName ?? "empty"
            throw WeftError(
                .invalidArgument,
                "No unary variant unary_op function found for op ZEROS_LIKE Variant type_name: \(name) for device type: CPU"
            )
        }
        return try Tensor(variants: [try value.zerosLike()], shape: [])
    }
}
