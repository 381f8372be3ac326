/// A variant value that `ZerosLike` can zero (TensorFlow registers a `ZEROS_LIKE` unary op per
/// variant type): gradients of unused variant intermediates are zeros.
public protocol ZerosLikeVariant: VariantValue {
    /// The value of the same structure with every tensor in it zeroed; errors name `node`.
    func zerosLike(node: String) throws(WeftError) -> any VariantValue
}

/// `ZerosLike` for any dtype, variants included.
enum VariantZeros {
    /// A tensor of zeros like `x`: zero bytes for numbers and bools; for variants, the value's
    /// own zeros (optionals) or TensorLists with every set element zeroed.
    static func zeros(like x: Tensor, node: String) throws(WeftError) -> Tensor {
        guard x.dtype == .variant else {
            let out = Tensor(uninitialized: x.dtype, shape: x.shape)
            // All-zero bytes are 0, 0.0 and false in every dtype.
            out.buffer.base.initializeMemory(as: UInt8.self, repeating: 0, count: out.byteCount)
            return out
        }
        guard x.shape.rank == 0, let value = x.variants.first as? any ZerosLikeVariant else {
            return try TensorListOps.zerosLike(x, node: node)
        }
        return try Tensor(variants: [try value.zerosLike(node: node)], shape: [])
    }
}
