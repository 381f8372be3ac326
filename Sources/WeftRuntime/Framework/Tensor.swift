/// A value computed by a session: a dtype, a shape and the elements in row-major order.
///
/// Tensors are immutable values. Copying a `Tensor` shares its buffer; kernels write only into
/// buffers they allocate, or into an input's buffer that nothing else holds
/// (`isWritableInPlace()`), so sharing is safe across threads and processes' send paths.
public struct Tensor: Sendable, CustomStringConvertible {
    /// The element type.
    public let dtype: DType
    /// The shape.
    public let shape: TensorShape
    /// The bytes; `shape.elementCount * dtype.byteSize` of them are the elements.
    public private(set) var buffer: TensorBuffer

    /// Wraps an existing buffer. The buffer must hold at least the shape's bytes (or, for an
    /// object dtype, its elements): callers check sizes that come from outside first.
    public init(dtype: DType, shape: TensorShape, buffer: TensorBuffer) {
        precondition(buffer.byteCount >= shape.elementCount * dtype.byteSize, "buffer too small for tensor")
        precondition(
            !dtype.isObject || buffer.objects?.count == shape.elementCount,
            "object tensor without its elements"
        )
        self.dtype = dtype
        self.shape = shape
        self.buffer = buffer
    }

    /// Allocates a tensor whose elements the caller must initialize before sharing it. An
    /// object tensor's elements start as empty strings, empty handles or empty variants.
    public init(uninitialized dtype: DType, shape: TensorShape) {
        let count = shape.elementCount
        let buffer: TensorBuffer =
            switch dtype {
            case .string: TensorBuffer(objects: .strings(Array(repeating: [], count: count)))
            case .resource: TensorBuffer(objects: .handles(Array(repeating: ResourceHandle(), count: count)))
            case .variant: TensorBuffer(objects: .variants(Array(repeating: EmptyVariant(), count: count)))
            default: TensorBuffer(byteCount: count * dtype.byteSize)
            }
        self.init(dtype: dtype, shape: shape, buffer: buffer)
    }

    /// Makes a `string` tensor from byte strings in row-major order, or throws
    /// `resourceExhausted` (naming `node`) when they would pass this process's memory budget.
    public init(strings: [[UInt8]], shape: TensorShape, node: String? = nil) throws(WeftError) {
        try Self.checkCount(strings.count, shape)
        let buffer = try TensorBuffer(budgetedObjects: .strings(strings), shape: shape, dtype: .string, node: node)
        self.init(dtype: .string, shape: shape, buffer: buffer)
    }

    /// Makes a `string` tensor from text, each element its UTF-8 bytes.
    public init(strings: [String], shape: TensorShape) throws(WeftError) {
        try self.init(strings: strings.map { Array($0.utf8) }, shape: shape)
    }

    /// Makes a `resource` tensor, or throws `resourceExhausted` (naming `node`) when its elements
    /// would pass this process's memory budget.
    public init(handles: [ResourceHandle], shape: TensorShape, node: String? = nil) throws(WeftError) {
        try Self.checkCount(handles.count, shape)
        let buffer = try TensorBuffer(budgetedObjects: .handles(handles), shape: shape, dtype: .resource, node: node)
        self.init(dtype: .resource, shape: shape, buffer: buffer)
    }

    /// Makes a `variant` tensor, or throws `resourceExhausted` (naming `node`) when its elements
    /// would pass this process's memory budget.
    public init(variants: [any VariantValue], shape: TensorShape, node: String? = nil) throws(WeftError) {
        try Self.checkCount(variants.count, shape)
        let buffer = try TensorBuffer(budgetedObjects: .variants(variants), shape: shape, dtype: .variant, node: node)
        self.init(dtype: .variant, shape: shape, buffer: buffer)
    }

    private static func checkCount(_ count: Int, _ shape: TensorShape) throws(WeftError) {
        guard count == shape.elementCount else {
            throw WeftError(
                .invalidArgument,
                "\(count) values cannot fill a tensor of shape \(shape), which holds \(shape.elementCount)"
            )
        }
    }

    /// The elements of a `string` tensor; empty for other dtypes.
    public var strings: [[UInt8]] {
        if case .strings(let values) = buffer.objects { return values }
        return []
    }

    /// The elements of a `resource` tensor; empty for other dtypes.
    public var handles: [ResourceHandle] {
        if case .handles(let values) = buffer.objects { return values }
        return []
    }

    /// The elements of a `variant` tensor; empty for other dtypes.
    public var variants: [any VariantValue] {
        if case .variants(let values) = buffer.objects { return values }
        return []
    }

    /// Makes a tensor from elements in row-major order.
    public init<Element: TensorElement>(_ elements: [Element], shape: TensorShape) throws(WeftError) {
        try Self.checkCount(elements.count, shape)
        self.init(copying: elements, shape: shape)
    }

    /// Makes a rank-1 tensor.
    public init<Element: TensorElement>(_ elements: [Element]) {
        self.init(copying: elements, shape: TensorShape([elements.count]))
    }

    /// Makes a scalar.
    public init<Element: TensorElement>(_ scalar: Element) {
        self.init(copying: [scalar], shape: .scalar)
    }

    /// A tensor of `shape` holding `elements`, whose count the caller made match.
    private init<Element: TensorElement>(copying elements: [Element], shape: TensorShape) {
        self.init(uninitialized: Element.dtype, shape: shape)
        elements.withUnsafeBytes { bytes in
            // An empty array may have no address; there is nothing to copy then.
            guard let source = bytes.baseAddress else { return }
            buffer.base.copyMemory(from: source, byteCount: bytes.count)
        }
    }

    /// Whether code that owns this tensor may write a new result into its buffer: nothing else
    /// holds the buffer (a variable, a feed, a constant or another consumer would), and the
    /// buffer is plain memory this process allocated rather than adopted (a received frame).
    package mutating func isWritableInPlace() -> Bool {
        buffer.isOwnAllocation && isKnownUniquelyReferenced(&buffer)
    }

    /// The number of elements.
    public var elementCount: Int { shape.elementCount }
    /// The number of payload bytes.
    public var byteCount: Int { shape.elementCount * dtype.byteSize }

    /// Reads the elements without copying. The type must match `dtype`: callers switch on the
    /// dtype first, so this is the package's own low-level access; users read `scalars(as:)`.
    package func withElements<Element: TensorElement, R>(
        of type: Element.Type,
        _ body: (UnsafeBufferPointer<Element>) throws -> R
    ) rethrows -> R {
        precondition(Element.dtype == dtype, "reading \(dtype) tensor as \(Element.dtype)")
        return try body(
            UnsafeBufferPointer(start: buffer.base.assumingMemoryBound(to: Element.self), count: elementCount)
        )
    }

    /// Writes the elements of a tensor this code just allocated and has not yet shared; the
    /// type must match `dtype`, as for `withElements(of:_:)`.
    package func withMutableElements<Element: TensorElement, R>(
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

    /// The elements copied into an array; `invalidArgument` when `Element` is not the type of
    /// `dtype`.
    public func scalars<Element: TensorElement>(as type: Element.Type = Element.self) throws(WeftError) -> [Element] {
        guard Element.dtype == dtype else {
            throw WeftError(.invalidArgument, "cannot read a \(dtype) tensor as \(Element.self) (\(Element.dtype))")
        }
        return elements(as: type)
    }

    /// The elements copied into an array, for callers that have checked `dtype` already.
    package func elements<Element: TensorElement>(as type: Element.Type = Element.self) -> [Element] {
        withElements(of: type) { Array($0) }
    }

    /// The single element of a scalar or one-element tensor; `nil` for any other shape, or when
    /// `Element` is not the type of `dtype`.
    public func scalar<Element: TensorElement>(as type: Element.Type = Element.self) -> Element? {
        elementCount == 1 && Element.dtype == dtype ? withElements(of: type) { $0[0] } : nil
    }

    /// The elements as doubles, whatever the dtype (bools as 0 and 1, complex numbers as their
    /// real part): for comparisons and printing. Empty for object dtypes.
    public var doubleValues: [Double] {
        switch dtype {
        case .float: elements(as: Float.self).map(Double.init)
        case .double: elements(as: Double.self)
        case .half: elements(as: Float16.self).map(Double.init)
        case .bfloat16: elements(as: BFloat16.self).map { Double($0.float) }
        case .int8, .qint8: integers(Int8.self)
        case .int16, .qint16: integers(Int16.self)
        case .int32, .qint32: integers(Int32.self)
        case .int64: elements(as: Int64.self).map(Double.init)
        case .uint8, .quint8: integers(UInt8.self)
        case .uint16, .quint16: integers(UInt16.self)
        case .uint32: elements(as: UInt32.self).map(Double.init)
        case .uint64: elements(as: UInt64.self).map(Double.init)
        case .bool: elements(as: Bool.self).map { $0 ? 1 : 0 }
        case .complex64: elements(as: ComplexElement<Float>.self).map { Double($0.real) }
        case .complex128: elements(as: ComplexElement<Double>.self).map(\.real)
        case .string, .resource, .variant: []
        }
    }

    /// The imaginary parts of a complex tensor; zeros for real dtypes.
    public var imaginaryValues: [Double] {
        switch dtype {
        case .complex64: elements(as: ComplexElement<Float>.self).map { Double($0.imaginary) }
        case .complex128: elements(as: ComplexElement<Double>.self).map(\.imaginary)
        default: Array(repeating: 0, count: dtype.isObject ? 0 : elementCount)
        }
    }

    /// Reads the raw bytes as `T`, for dtypes that share a layout with a Swift integer
    /// (the quantized types).
    private func integers<T: FixedWidthInteger>(_ type: T.Type) -> [Double] {
        let raw = UnsafeRawBufferPointer(start: buffer.base, count: byteCount)
        return (0..<elementCount).map {
            Double(raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self))
        }
    }

    /// NumPy-like text: `13`, `[1.0, 2.0]`, `[[1, 2], [3, 4]]`, `["a", "b"]`.
    public var description: String {
        let values: [String]
        switch dtype {
        case .string: values = strings.map { "\"" + String(decoding: $0, as: UTF8.self) + "\"" }
        case .resource: values = handles.map { "<resource \($0.container)/\($0.name)>" }
        case .variant: values = variants.map { "<\($0.typeName)>" }
        case .complex64, .complex128:
            values = zip(doubleValues, imaginaryValues).map { "(\($0)\($1 < 0 ? "-" : "+")\(Swift.abs($1))j)" }
        // Exactly, from the integers: a double holds 53 bits, and 2^64 - 1 becomes 2^64.
        case .int64: values = elements(as: Int64.self).map { String($0) }
        case .uint64: values = elements(as: UInt64.self).map { String($0) }
        default:
            values = doubleValues.map { value -> String in
                switch dtype {
                case .bool: value != 0 ? "true" : "false"
                case .float, .half, .bfloat16: "\(Float(value))"
                case .double: "\(value)"
                default: String(Int64(value))
                }
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
        guard lhs.dtype == rhs.dtype, lhs.shape == rhs.shape else { return false }
        switch (lhs.buffer.objects, rhs.buffer.objects) {
        case (nil, nil): return lhs.bytes.elementsEqual(rhs.bytes)
        case (.strings(let a), .strings(let b)): return a == b
        case (.handles(let a), .handles(let b)): return a == b
        case (.variants(let a), .variants(let b)): return zip(a, b).allSatisfy { $0.isEqual(to: $1) }
        default: return false
        }
    }
}
