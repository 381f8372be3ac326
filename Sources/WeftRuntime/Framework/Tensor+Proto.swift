import Foundation
import WeftProto

extension Tensor {
    /// Reads TensorFlow's `TensorProto`: `tensor_content` bytes or the typed value lists, where
    /// fewer values than elements repeat the last one (TensorFlow's rule for constants).
    public init(proto: Tensorflow_TensorProto) throws(WeftError) {
        let dtype = try DType(proto.dtype)
        let shape = try TensorShape(proto.tensorShape)
        self.init(uninitialized: dtype, shape: shape)
        let count = shape.elementCount
        if !proto.tensorContent.isEmpty {
            guard proto.tensorContent.count == count * dtype.byteSize else {
                throw WeftError(
                    .invalidArgument,
                    "tensor_content holds \(proto.tensorContent.count) bytes but a \(dtype) tensor of shape \(shape) needs \(count * dtype.byteSize)"
                )
            }
            let base = buffer.base
            proto.tensorContent.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            return
        }
        switch dtype {
        case .float: try fill(proto.floatVal, as: Float.self)
        case .double: try fill(proto.doubleVal, as: Double.self)
        case .int32: try fill(proto.intVal, as: Int32.self)
        case .int16: try fill(proto.intVal.map { Int16(truncatingIfNeeded: $0) }, as: Int16.self)
        case .int8: try fill(proto.intVal.map { Int8(truncatingIfNeeded: $0) }, as: Int8.self)
        case .uint8: try fill(proto.intVal.map { UInt8(truncatingIfNeeded: $0) }, as: UInt8.self)
        case .uint16: try fill(proto.intVal.map { UInt16(truncatingIfNeeded: $0) }, as: UInt16.self)
        case .half:
            try fill(proto.halfVal.map { Float16(bitPattern: UInt16(truncatingIfNeeded: $0)) }, as: Float16.self)
        case .int64: try fill(proto.int64Val, as: Int64.self)
        case .bool: try fill(proto.boolVal, as: Bool.self)
        case .uint32: try fill(proto.uint32Val, as: UInt32.self)
        case .uint64: try fill(proto.uint64Val, as: UInt64.self)
        }
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

    /// TensorFlow's `TensorProto` of this tensor, the payload as `tensor_content`.
    public var proto: Tensorflow_TensorProto {
        var proto = Tensorflow_TensorProto()
        proto.dtype = dtype.proto
        proto.tensorShape = shape.proto
        proto.tensorContent = Data(bytes)
        return proto
    }
}
