/// A value computed by a session: a dtype, a shape and the elements in row-major order.
///
/// Tensors are immutable values. Copying a `Tensor` shares its buffer; kernels write only into
/// buffers they allocate, so sharing is safe across threads and processes' send paths.
public struct Tensor: Sendable, CustomStringConvertible {
    /// The element type.
    public let dtype: DType
    /// The shape.
    public let shape: TensorShape
    /// The bytes; `shape.elementCount * dtype.byteSize` of them are the elements.
    public let buffer: TensorBuffer

    /// Wraps an existing buffer. The buffer must hold at least the shape's bytes.
    public init(dtype: DType, shape: TensorShape, buffer: TensorBuffer) {
        precondition(buffer.byteCount >= shape.elementCount * dtype.byteSize, "buffer too small for tensor")
        self.dtype = dtype
        self.shape = shape
        self.buffer = buffer
    }

    /// Allocates a tensor whose elements the caller must initialize before sharing it.
    public init(uninitialized dtype: DType, shape: TensorShape) {
        self.init(dtype: dtype, shape: shape, buffer: TensorBuffer(byteCount: shape.elementCount * dtype.byteSize))
    }

    /// Makes a tensor from elements in row-major order.
    public init<Element: TensorElement>(_ elements: [Element], shape: TensorShape) throws(WeftError) {
        guard elements.count == shape.elementCount else {
            throw WeftError(
                .invalidArgument,
                "\(elements.count) values cannot fill a tensor of shape \(shape), which holds \(shape.elementCount)"
            )
        }
        self.init(uninitialized: Element.dtype, shape: shape)
        elements.withUnsafeBytes { buffer.base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// Makes a rank-1 tensor.
    public init<Element: TensorElement>(_ elements: [Element]) {
        try! self.init(elements, shape: TensorShape([elements.count]))  // count always matches
    }

    /// Makes a scalar.
    public init<Element: TensorElement>(_ scalar: Element) {
        try! self.init([scalar], shape: .scalar)  // count always matches
    }

    /// The number of elements.
    public var elementCount: Int { shape.elementCount }
    /// The number of payload bytes.
    public var byteCount: Int { shape.elementCount * dtype.byteSize }

    /// Reads the elements without copying. The type must match `dtype`.
    public func withElements<Element: TensorElement, R>(
        of type: Element.Type,
        _ body: (UnsafeBufferPointer<Element>) throws -> R
    ) rethrows -> R {
        precondition(Element.dtype == dtype, "reading \(dtype) tensor as \(Element.dtype)")
        return try body(
            UnsafeBufferPointer(start: buffer.base.assumingMemoryBound(to: Element.self), count: elementCount)
        )
    }

    /// Writes the elements of a tensor this code just allocated and has not yet shared.
    public func withMutableElements<Element: TensorElement, R>(
        of type: Element.Type,
        _ body: (UnsafeMutableBufferPointer<Element>) throws -> R
    ) rethrows -> R {
        precondition(Element.dtype == dtype, "writing \(dtype) tensor as \(Element.dtype)")
        return try body(
            UnsafeMutableBufferPointer(start: buffer.base.assumingMemoryBound(to: Element.self), count: elementCount)
        )
    }

    /// The raw payload bytes.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer.base, count: byteCount) }

    /// The elements copied into an array. The type must match `dtype`.
    public func scalars<Element: TensorElement>(as type: Element.Type = Element.self) -> [Element] {
        withElements(of: type) { Array($0) }
    }

    /// The single element of a scalar or one-element tensor.
    public func scalar<Element: TensorElement>(as type: Element.Type = Element.self) -> Element? {
        elementCount == 1 ? withElements(of: type) { $0[0] } : nil
    }

    /// The elements as doubles, whatever the dtype (bools as 0 and 1): for comparisons and printing.
    public var doubleValues: [Double] {
        switch dtype {
        case .float: scalars(as: Float.self).map(Double.init)
        case .double: scalars(as: Double.self)
        case .half: scalars(as: Float16.self).map(Double.init)
        case .int8: scalars(as: Int8.self).map(Double.init)
        case .int16: scalars(as: Int16.self).map(Double.init)
        case .int32: scalars(as: Int32.self).map(Double.init)
        case .int64: scalars(as: Int64.self).map(Double.init)
        case .uint8: scalars(as: UInt8.self).map(Double.init)
        case .uint16: scalars(as: UInt16.self).map(Double.init)
        case .uint32: scalars(as: UInt32.self).map(Double.init)
        case .uint64: scalars(as: UInt64.self).map(Double.init)
        case .bool: scalars(as: Bool.self).map { $0 ? 1 : 0 }
        }
    }

    /// NumPy-like text: `13`, `[1.0, 2.0]`, `[[1, 2], [3, 4]]`.
    public var description: String {
        let values = doubleValues.map { value -> String in
            switch dtype {
            case .bool: value != 0 ? "true" : "false"
            case .float, .double, .half: "\(dtype == .float ? "\(Float(value))" : "\(value)")"
            default: String(Int64(value))
            }
        }
        return Self.nest(values[...], shape.dimensions[...])
    }

    private static func nest(_ values: ArraySlice<String>, _ dims: ArraySlice<Int>) -> String {
        guard let first = dims.first else { return values.first ?? "" }
        let stride = dims.dropFirst().reduce(1, *)
        let parts = (0..<first).map { i in
            nest(values.dropFirst(i * stride).prefix(stride), dims.dropFirst())
        }
        return "[" + parts.joined(separator: ", ") + "]"
    }
}

extension Tensor: Equatable {
    /// Same dtype, shape and bytes.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.dtype == rhs.dtype && lhs.shape == rhs.shape && lhs.bytes.elementsEqual(rhs.bytes)
    }
}
