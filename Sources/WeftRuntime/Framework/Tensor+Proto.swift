import ComplexModule
import Foundation
import WeftProto

extension Tensor {
    /// Reads TensorFlow's `TensorProto`: `tensor_content` bytes or the typed value lists, where
    /// fewer values than elements repeat the last one (TensorFlow's rule for constants). Sizes
    /// are checked before anything is allocated.
    public init(proto: Tensorflow_TensorProto) throws(WeftError) {
        let dtype = try DType(proto.dtype)
        let shape = try TensorShape(proto.tensorShape)
        let count = try shape.checkedElementCount(dtype: dtype)
        if dtype.isObject {
            self = try Self.objects(from: proto, dtype: dtype, shape: shape, count: count)
            return
        }
        if !proto.tensorContent.isEmpty {
            guard proto.tensorContent.count == count * dtype.byteSize else {
                throw WeftError(
                    .invalidArgument,
                    "tensor_content holds \(proto.tensorContent.count) bytes but a \(dtype) tensor of shape \(shape) needs \(count * dtype.byteSize)"
                )
            }
            try self.init(budgeted: dtype, shape: shape, count: count)
            let base = buffer.base
            proto.tensorContent.withUnsafeBytes { bytes in
                guard let source = bytes.baseAddress else { return }
                base.copyMemory(from: source, byteCount: bytes.count)
            }
            return
        }
        try self.init(budgeted: dtype, shape: shape, count: count)
        switch dtype {
        case .float: try fill(proto.floatVal, as: Float.self)
        case .double: try fill(proto.doubleVal, as: Double.self)
        case .int32, .qint32: try fill(proto.intVal, as: Int32.self)
        case .int16, .qint16: try fill(proto.intVal.map { Int16(truncatingIfNeeded: $0) }, as: Int16.self)
        case .int8, .qint8: try fill(proto.intVal.map { Int8(truncatingIfNeeded: $0) }, as: Int8.self)
        case .uint8, .quint8: try fill(proto.intVal.map { UInt8(truncatingIfNeeded: $0) }, as: UInt8.self)
        case .uint16, .quint16: try fill(proto.intVal.map { UInt16(truncatingIfNeeded: $0) }, as: UInt16.self)
        case .half:
            try fill(proto.halfVal.map { Float16(bitPattern: UInt16(truncatingIfNeeded: $0)) }, as: Float16.self)
        case .bfloat16:
            try fill(proto.halfVal.map { BFloat16(bitPattern: UInt16(truncatingIfNeeded: $0)) }, as: BFloat16.self)
        case .int64: try fill(proto.int64Val, as: Int64.self)
        case .bool: try fill(proto.boolVal, as: Bool.self)
        case .uint32: try fill(proto.uint32Val, as: UInt32.self)
        case .uint64: try fill(proto.uint64Val, as: UInt64.self)
        case .complex64: try fill(try Self.pairs(proto.scomplexVal).map { ComplexElement($0, $1) }, as: ComplexElement<Float>.self)
        case .complex128: try fill(try Self.pairs(proto.dcomplexVal).map { ComplexElement($0, $1) }, as: ComplexElement<Double>.self)
        case .string, .resource, .variant: break  // handled above
        }
    }

    /// An uninitialized tensor of `count` elements whose bytes count against the memory budget.
    private init(budgeted dtype: DType, shape: TensorShape, count: Int) throws(WeftError) {
        let buffer = try TensorBuffer(budgetedBytes: count * dtype.byteSize, shape: shape, dtype: dtype, node: nil)
        self.init(dtype: dtype, shape: shape, buffer: buffer)
    }

    /// Real and imaginary parts, interleaved in TensorFlow's `scomplex_val`/`dcomplex_val`.
    private static func pairs<T>(_ values: [T]) throws(WeftError) -> [(T, T)] {
        guard values.count.isMultiple(of: 2) else {
            throw WeftError(.invalidArgument, "a complex TensorProto holds an odd number (\(values.count)) of parts")
        }
        return stride(from: 0, to: values.count, by: 2).map { (values[$0], values[$0 + 1]) }
    }

    private static func objects(
        from proto: Tensorflow_TensorProto,
        dtype: DType,
        shape: TensorShape,
        count: Int
    ) throws(WeftError) -> Tensor {
        switch dtype {
        case .string:
            return try Tensor(strings: try repeated(proto.stringVal.map { [UInt8]($0) }, count: count, shape), shape: shape)
        case .resource:
            return try Tensor(
                handles: try repeated(try proto.resourceHandleVal.map(ResourceHandle.init(proto:)), count: count, shape),
                shape: shape
            )
        default:
            guard proto.variantVal.isEmpty, count == 0 || proto.variantVal.isEmpty else {
                throw WeftError(.unimplemented, "Weft cannot read variant values from a TensorProto")
            }
            return Tensor(uninitialized: .variant, shape: shape)
        }
    }

    /// TensorFlow's rule for constants: fewer values than elements repeat the last.
    private static func repeated<T>(_ values: [T], count: Int, _ shape: TensorShape) throws(WeftError) -> [T] {
        guard values.count <= count else {
            throw WeftError(.invalidArgument, "\(values.count) values given for a tensor of shape \(shape)")
        }
        guard let last = values.last, values.count < count else { return values.isEmpty ? [] : values }
        return values + Array(repeating: last, count: count - values.count)
    }

    private func fill<Element: TensorElement>(_ values: [Element], as type: Element.Type) throws(WeftError) {
        guard values.count <= elementCount else {
            throw WeftError(.invalidArgument, "\(values.count) values given for a tensor of shape \(shape)")
        }
        guard let last = values.last else {
            // TensorFlow fills a constant given no values with zeros.
            buffer.base.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
            return
        }
        withMutableElements(of: type) { out in
            _ = out.initialize(from: values)
            if values.count < out.count { out[values.count...].initialize(repeating: last) }
        }
    }

    /// TensorFlow's `TensorProto` of this tensor: numbers as `tensor_content`, strings as
    /// `string_val`, handles as `resource_handle_val`. A variant tensor is written with its
    /// dtype and shape only: each variant type has its own encoding, which Weft does not write.
    public var proto: Tensorflow_TensorProto {
        var proto = Tensorflow_TensorProto()
        proto.dtype = dtype.proto
        proto.tensorShape = shape.proto
        switch dtype {
        case .string: proto.stringVal = strings.map { Data($0) }
        case .resource: proto.resourceHandleVal = handles.map(\.proto)
        case .variant: break
        default: proto.tensorContent = Data(bytes)
        }
        return proto
    }
}

extension TensorShape {
    /// The number of elements, or `resourceExhausted` when the shape's bytes overflow or pass
    /// this process's memory limit (`TensorMemory`): for shapes read from outside, before allocating.
    public func checkedElementCount(dtype: DType) throws(WeftError) -> Int {
        // An empty tensor has 0 elements however large its other sizes, as TensorFlow counts it.
        var count = dimensions.contains(0) ? 0 : 1
        for size in dimensions where count != 0 || size < 0 {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, size >= 0 else {
                throw WeftError(.resourceExhausted, "a \(dtype) tensor of shape \(self) has too many elements to allocate")
            }
            count = product
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: Swift.max(dtype.byteSize, 8))
        guard !overflow, bytes <= TensorMemory.limit else {
            throw WeftError(
                .resourceExhausted,
                "OOM when allocating tensor with shape\(self) and type \(dtype): more than this process's "
                    + "\(TensorMemory.limit)-byte memory limit"
            )
        }
        return count
    }
}

extension ResourceHandle {
    /// Reads TensorFlow's `ResourceHandleProto`.
    public init(proto: Tensorflow_ResourceHandleProto) throws(WeftError) {
        self.init(container: proto.container, name: proto.name, device: proto.device)
        if let first = proto.dtypesAndShapes.first {
            dtype = try DType(first.dtype)
            shape = PartialShape(first.shape)
        }
    }

    /// TensorFlow's `ResourceHandleProto` of this handle.
    public var proto: Tensorflow_ResourceHandleProto {
        var proto = Tensorflow_ResourceHandleProto()
        proto.container = container
        proto.name = name
        proto.device = device
        if let dtype {
            var entry = Tensorflow_ResourceHandleProto.DtypeAndShape()
            entry.dtype = dtype.proto
            entry.shape = shape?.proto ?? Tensorflow_TensorShapeProto()
            proto.dtypesAndShapes = [entry]
        }
        return proto
    }
}
