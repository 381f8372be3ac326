import WeftProto
import ComplexModule
import RealModule

/// The element type of a tensor. Raw values are TensorFlow's `DataType` numbers.
///
/// Numeric and `bool` tensors keep their elements as plain bytes. `string`, `resource` and
/// `variant` elements are Swift values (bytes of any length, resource handles, variant objects)
/// held beside the buffer; `isObject` tells them apart, and their `byteSize` is 0.
public enum DType: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case float = 1
    case double = 2
    case int32 = 3
    case uint8 = 4
    case int16 = 5
    case int8 = 6
    case string = 7
    case complex64 = 8
    case int64 = 9
    case bool = 10
    case qint8 = 11
    case quint8 = 12
    case qint32 = 13
    case bfloat16 = 14
    case qint16 = 15
    case quint16 = 16
    case uint16 = 17
    case complex128 = 18
    case half = 19
    case resource = 20
    case variant = 21
    case uint32 = 22
    case uint64 = 23

    /// Bytes per element in the buffer; 0 for the object types, whose elements are Swift values.
    public var byteSize: Int {
        switch self {
        case .bool, .int8, .uint8, .qint8, .quint8: 1
        case .int16, .uint16, .half, .bfloat16, .qint16, .quint16: 2
        case .float, .int32, .uint32, .qint32: 4
        case .double, .int64, .uint64, .complex64: 8
        case .complex128: 16
        case .string, .resource, .variant: 0
        }
    }

    /// Whether elements are Swift values (strings, resource handles, variants), not bytes.
    public var isObject: Bool { self == .string || self == .resource || self == .variant }

    /// TensorFlow's name as Python prints it (`float32`, `int64`), used by the conformance format.
    public var name: String {
        switch self {
        case .float: "float32"
        case .double: "float64"
        case .half: "float16"
        case .bfloat16: "bfloat16"
        case .int8: "int8"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .uint8: "uint8"
        case .uint16: "uint16"
        case .uint32: "uint32"
        case .uint64: "uint64"
        case .bool: "bool"
        case .string: "string"
        case .complex64: "complex64"
        case .complex128: "complex128"
        case .qint8: "qint8"
        case .quint8: "quint8"
        case .qint16: "qint16"
        case .quint16: "quint16"
        case .qint32: "qint32"
        case .resource: "resource"
        case .variant: "variant"
        }
    }

    /// TensorFlow's C++ name as its error messages print it (`float`, `int32`).
    public var description: String {
        switch self {
        case .float: "float"
        case .double: "double"
        case .string: "tstring"
        default: name
        }
    }

    /// Whether the type is a real floating-point type.
    public var isFloatingPoint: Bool { self == .float || self == .double || self == .half || self == .bfloat16 }

    /// Whether the type is a complex type.
    public var isComplex: Bool { self == .complex64 || self == .complex128 }

    /// Whether arithmetic is defined on the type.
    public var isNumeric: Bool { self != .bool && !isObject }

    /// Parses a Python-style name (`float32`, `float`, `int64`).
    public init?(name: String) {
        switch name {
        case "float32", "float": self = .float
        case "float64", "double": self = .double
        case "float16", "half": self = .half
        case "tstring", "bytes", "object": self = .string
        default:
            guard let match = DType.allCases.first(where: { $0.name == name }) else { return nil }
            self = match
        }
    }

    /// Converts from TensorFlow's enum; reference types map to their value type.
    public init(_ proto: Tensorflow_DataType) throws(WeftError) {
        let raw = proto.rawValue > 100 ? proto.rawValue - 100 : proto.rawValue
        guard let dtype = DType(rawValue: raw) else {
            throw WeftError(
                .unimplemented,
                "Weft does not support the TensorFlow data type \(proto) (DataType \(proto.rawValue)): float8, int4 and int2 types have no kernels here"
            )
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

extension BFloat16: TensorElement { public static var dtype: DType { .bfloat16 } }

/// A complex number as a tensor stores it: the real part, then the imaginary part (C++'s
/// `std::complex` layout). `complex` gives swift-numerics' `Complex` for arithmetic.
@frozen
public struct ComplexElement<RealType: ComplexComponent>: TensorElement, Hashable {
    /// The real part.
    public var real: RealType
    /// The imaginary part.
    public var imaginary: RealType

    /// Makes a complex number from its parts.
    public init(_ real: RealType, _ imaginary: RealType) {
        self.real = real
        self.imaginary = imaginary
    }

    /// Stores swift-numerics' complex number.
    public init(_ complex: Complex<RealType>) { self.init(complex.real, complex.imaginary) }

    /// The number as swift-numerics' `Complex`, for arithmetic.
    public var complex: Complex<RealType> { Complex(real, imaginary) }

    /// `complex64` or `complex128`.
    public static var dtype: DType { RealType.complexDType }
}

/// `Float` and `Double`, the parts of `complex64` and `complex128` elements.
public protocol ComplexComponent: Real, BitwiseCopyable, Hashable, Sendable {
    /// The dtype of complex numbers made of this type.
    static var complexDType: DType { get }
}

extension Float: ComplexComponent { public static var complexDType: DType { .complex64 } }
extension Double: ComplexComponent { public static var complexDType: DType { .complex128 } }
