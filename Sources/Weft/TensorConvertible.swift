import WeftRuntime

/// A Swift value that can become a constant tensor: numbers, Booleans, arrays of them, and
/// `Tensor` itself. `Int` becomes `int32` when every value fits, as TensorFlow does with
/// Python integers.
public protocol TensorConvertible {
    /// The value as a tensor; `invalidArgument` for nested arrays that are not rectangular or
    /// mix element types.
    var tensor: Tensor { get throws(WeftError) }
}

extension Tensor: TensorConvertible {
    /// The tensor itself.
    public var tensor: Tensor { self }
}

extension Float: TensorConvertible { public var tensor: Tensor { Tensor(self) } }
extension Double: TensorConvertible { public var tensor: Tensor { Tensor(self) } }
extension Int32: TensorConvertible { public var tensor: Tensor { Tensor(self) } }
extension Int64: TensorConvertible { public var tensor: Tensor { Tensor(self) } }
extension Bool: TensorConvertible { public var tensor: Tensor { Tensor(self) } }
extension Int: TensorConvertible {
    /// An `int32` scalar where the value fits, else `int64`, as TensorFlow infers Python ints.
    public var tensor: Tensor { Int32(exactly: self).map { Tensor($0) } ?? Tensor(Int64(self)) }
}

extension Array: TensorConvertible where Element: TensorConvertible {
    /// A rank-1 tensor, or a stacked tensor when the elements are arrays themselves.
    public var tensor: Tensor {
        get throws(WeftError) {
            if let ints = self as? [Int] {
                if ints.allSatisfy({ Int32(exactly: $0) != nil }) { return Tensor(ints.map { Int32($0) }) }
                return Tensor(ints.map { Int64($0) })
            }
            let parts = try map { (element) throws(WeftError) in try element.tensor }
            guard let first = parts.first else { return Tensor([Float]()) }
            return try Tensor.stacking(parts, dtype: first.dtype, elementShape: first.shape)
        }
    }
}

extension Tensor {
    /// The same elements, sharing their buffer, with another shape of equal element count.
    public func reshaped(to shape: TensorShape) throws(WeftError) -> Tensor {
        guard shape.elementCount == elementCount else {
            throw WeftError(
                .invalidArgument,
                "cannot reshape a tensor of shape \(self.shape) (\(elementCount) elements) to \(shape)"
            )
        }
        return Tensor(dtype: dtype, shape: shape, buffer: buffer)
    }

    /// Stacks equally shaped tensors along a new first dimension.
    static func stacking(_ parts: [Tensor], dtype: DType, elementShape: TensorShape) throws(WeftError) -> Tensor {
        if let odd = parts.first(where: { $0.dtype != dtype || $0.shape != elementShape }) {
            throw WeftError(
                .invalidArgument,
                "nested arrays must be rectangular and of one type: an element of \(dtype) \(elementShape) "
                    + "sits beside one of \(odd.dtype) \(odd.shape)"
            )
        }
        let result = Tensor(uninitialized: dtype, shape: TensorShape([parts.count] + elementShape.dimensions))
        var offset = 0
        for part in parts {
            (result.buffer.base + offset).copyMemory(from: part.buffer.base, byteCount: part.byteCount)
            offset += part.byteCount
        }
        return result
    }
}
