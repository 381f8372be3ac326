import WeftProto

/// The element type of a tensor. Raw values are TensorFlow's `DataType` numbers.
public enum DType: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case float = 1
    case double = 2
    case int32 = 3
    case uint8 = 4
    case int16 = 5
    case int8 = 6
    case int64 = 9
    case bool = 10
    case uint16 = 17
    case half = 19
    case uint32 = 22
    case uint64 = 23

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .int8, .uint8: 1
        case .int16, .uint16, .half: 2
        case .float, .int32, .uint32: 4
        case .double, .int64, .uint64: 8
        }
    }

    /// TensorFlow's name as Python prints it (`float32`, `int64`), used by the conformance format.
    public var name: String {
        switch self {
        case .float: "float32"
        case .double: "float64"
        case .half: "float16"
        case .int8: "int8"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .uint8: "uint8"
        case .uint16: "uint16"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .bool: "bool"
        }
    }

    /// TensorFlow's C++ name as its error messages print it (`float`, `int32`).
    public var description: String {
        switch self {
        case .float: "float"
        case .double: "double"
        default: name
        }
    }

    /// Whether the type is a floating-point type.
    public var isFloatingPoint: Bool { self == .float || self == .double || self == .half }

    /// Whether arithmetic is defined on the type.
    public var isNumeric: Bool { self != .bool }

    /// Parses a Python-style name (`float32`, `float`, `int64`).
    public init?(name: String) {
        switch name {
        case "float32", "float": self = .float
        case "float64", "double": self = .double
        case "float16", "half": self = .half
        default:
            guard let match = DType.allCases.first(where: { $0.name == name }) else { return nil }
            self = match
        }
    }

    /// Converts from TensorFlow's enum; reference types map to their value type.
    public init(_ proto: Tensorflow_DataType) throws(WeftError) {
        let raw = proto.rawValue > 100 ? proto.rawValue - 100 : proto.rawValue
        guard let dtype = DType(rawValue: raw) else {
            throw WeftError(.unimplemented, "Weft does not support the TensorFlow data type \(proto)")
        }
        self = dtype
    }

    /// TensorFlow's enum for this type.
    public var proto: Tensorflow_DataType { Tensorflow_DataType(rawValue: rawValue) ?? .dtInvalid }

    /// TensorFlow's enum for a reference to a variable of this type (`DT_FLOAT_REF`).
    public var refProto: Tensorflow_DataType { Tensorflow_DataType(rawValue: rawValue + 100) ?? .dtInvalid }
}

/// A Swift type that can be a tensor element; its layout is the tensor's byte layout.
public protocol TensorElement: Sendable, BitwiseCopyable, Equatable {
    /// The dtype of tensors holding this type.
    static var dtype: DType { get }
}

extension Float: TensorElement { public static var dtype: DType { .float } }
extension Double: TensorElement { public static var dtype: DType { .double } }
extension Int32: TensorElement { public static var dtype: DType { .int32 } }
extension Int64: TensorElement { public static var dtype: DType { .int64 } }
extension Int16: TensorElement { public static var dtype: DType { .int16 } }
extension Int8: TensorElement { public static var dtype: DType { .int8 } }
extension UInt8: TensorElement { public static var dtype: DType { .uint8 } }
extension UInt16: TensorElement { public static var dtype: DType { .uint16 } }
extension UInt32: TensorElement { public static var dtype: DType { .uint32 } }
extension UInt64: TensorElement { public static var dtype: DType { .uint64 } }
extension Bool: TensorElement { public static var dtype: DType { .bool } }
extension Float16: TensorElement { public static var dtype: DType { .half } }
