import Foundation
import WeftRuntime

extension Tensor {
    /// Reads a NumPy `.npy` file (format versions 1, 2 and 3), as `numpy.save` writes it.
    ///
    /// Arrays of booleans, signed and unsigned integers of 1 to 8 bytes, float16, float32,
    /// float64, complex64 and complex128 load, little-endian and in C order. Anything else, or
    /// a file whose header and data do not agree, throws `invalidArgument` naming the file;
    /// sizes are checked against the file's bytes before anything is allocated.
    public init(contentsOfNumPyFile path: String) throws(WeftError) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw WeftError(.invalidArgument, "cannot read the NumPy file \(path): \(error.localizedDescription)")
        }
        try self.init(numpy: data, source: path)
    }

    /// Reads the bytes of a `.npy` file; `source` names it in errors.
    public init(numpy data: Data, source: String) throws(WeftError) {
        let bytes = [UInt8](data)
        do {
            let header = try NumPyHeader(bytes)
            try self.init(numpyPayload: bytes[header.dataOffset...], header: header)
        } catch {
            throw WeftError(error.code, "\(source) is not a NumPy array Weft can read: \(error.message)")
        }
    }

    private init(numpyPayload payload: ArraySlice<UInt8>, header: NumPyHeader) throws(WeftError) {
        var needed = header.dtype.byteSize
        for size in header.shape {
            let (product, overflow) = needed.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw WeftError(.invalidArgument, "shape \(header.shape) needs more bytes than any file holds")
            }
            needed = product
        }
        guard needed == payload.count else {
            throw WeftError(
                .invalidArgument,
                "a \(header.dtype.name) array of shape \(header.shape) needs \(needed) bytes of data, the file holds \(payload.count)"
            )
        }
        if header.dtype == .bool, let bad = payload.first(where: { $0 > 1 }) {
            throw WeftError(.invalidArgument, "a bool element holds \(bad), not 0 or 1")
        }
        let shape = TensorShape(header.shape)
        _ = try shape.checkedElementCount(dtype: header.dtype)
        self.init(uninitialized: header.dtype, shape: shape)
        let base = buffer.base
        payload.withUnsafeBytes { source in
            guard let start = source.baseAddress else { return }
            base.copyMemory(from: start, byteCount: source.count)
        }
    }
}

/// The header of a `.npy` file: the magic string, the version, and a Python dict literal
/// naming the dtype (`descr`), the order and the shape.
struct NumPyHeader {
    var dtype: DType
    var shape: [Int]
    /// Where the array's bytes start.
    var dataOffset: Int

    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    init(_ bytes: [UInt8]) throws(WeftError) {
        guard bytes.count >= 10, Array(bytes[0..<6]) == Self.magic else {
            throw WeftError(.invalidArgument, "it does not start with NumPy's magic string \\x93NUMPY")
        }
        let major = bytes[6]
        let lengthBytes: Int
        switch major {
        case 1: lengthBytes = 2
        case 2, 3: lengthBytes = 4
        default: throw WeftError(.invalidArgument, "format version \(major).\(bytes[7]) is not 1, 2 or 3")
        }
        guard bytes.count >= 8 + lengthBytes else { throw WeftError(.invalidArgument, "its header is cut short") }
        let length = bytes[8..<(8 + lengthBytes)].reversed().reduce(0) { $0 << 8 | Int($1) }
        let start = 8 + lengthBytes
        guard length <= bytes.count - start else {
            throw WeftError(.invalidArgument, "its header claims \(length) bytes, past the end of the file")
        }
        dataOffset = start + length
        // Versions 1 and 2 write Latin-1, 3 UTF-8; the keys and values read here are ASCII.
        var parser = PythonLiteralParser(Array(bytes[start..<dataOffset]))
        let fields = try parser.dictionary()
        guard case .string(let descr)? = fields["descr"] else {
            throw WeftError(
                .invalidArgument,
                "its header has no dtype ('descr') Weft can read: \(fields["descr"].map { "\($0)" } ?? "none")"
            )
        }
        guard case .bool(let fortranOrder)? = fields["fortran_order"] else {
            throw WeftError(.invalidArgument, "its header has no 'fortran_order'")
        }
        guard !fortranOrder else {
            throw WeftError(.invalidArgument, "it is in Fortran order; save it in C order (numpy.ascontiguousarray)")
        }
        guard case .tuple(let shape)? = fields["shape"] else {
            throw WeftError(.invalidArgument, "its header has no 'shape'")
        }
        self.dtype = try Self.dtype(descr)
        self.shape = shape
    }

    /// The dtype of a NumPy type string like `<f4` or `|b1`.
    static func dtype(_ descr: String) throws(WeftError) -> DType {
        let order = descr.first
        let code = String(descr.dropFirst())
        let types: [String: DType] = [
            "b1": .bool, "i1": .int8, "i2": .int16, "i4": .int32, "i8": .int64, "u1": .uint8, "u2": .uint16,
            "u4": .uint32, "u8": .uint64, "f2": .half, "f4": .float, "f8": .double, "c8": .complex64,
            "c16": .complex128,
        ]
        guard let dtype = types[code],
            order == "<" || order == "|" || order == "=" || (order == ">" && dtype.byteSize == 1)
        else {
            let why =
                order == ">" ? "it is big-endian; save it little-endian (array.astype('<…'))" : "Weft has no such dtype"
            throw WeftError(.invalidArgument, "dtype '\(descr)': \(why)")
        }
        return dtype
    }
}

/// The few Python literals a `.npy` header holds: a dict of strings, booleans and tuples of
/// integers.
struct PythonLiteralParser {
    enum Value: Equatable, CustomStringConvertible {
        case string(String)
        case bool(Bool)
        case tuple([Int])
        /// Anything else (a list describing a structured dtype, a number), kept as its text.
        case other(String)

        var description: String {
            switch self {
            case .string(let text): "'\(text)'"
            case .bool(let value): value ? "True" : "False"
            case .tuple(let values): "(\(values.map(String.init).joined(separator: ", ")))"
            case .other(let text): text
            }
        }
    }

    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Parses `{'key': value, …}`.
    mutating func dictionary() throws(WeftError) -> [String: Value] {
        try expect(UInt8(ascii: "{"))
        var fields: [String: Value] = [:]
        while true {
            skipSpace()
            if peek == UInt8(ascii: "}") { break }
            guard case .string(let key) = try value() else { throw problem("a dict key that is not a string") }
            skipSpace()
            try expect(UInt8(ascii: ":"))
            fields[key] = try value()
            skipSpace()
            guard peek == UInt8(ascii: ",") else { break }
            position += 1
        }
        skipSpace()
        try expect(UInt8(ascii: "}"))
        return fields
    }

    private var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipSpace() {
        while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D { position += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws(WeftError) {
        skipSpace()
        guard peek == byte else { throw problem("'\(Character(Unicode.Scalar(byte)))'") }
        position += 1
    }

    private func problem(_ expected: String) -> WeftError {
        WeftError(.invalidArgument, "its header is not the dict numpy writes: expected \(expected) at byte \(position)")
    }

    private mutating func value() throws(WeftError) -> Value {
        skipSpace()
        guard let first = peek else { throw problem("a value") }
        switch first {
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            position += 1
            let start = position
            while let byte = peek, byte != first { position += 1 }
            guard peek == first else { throw problem("the end of a string") }
            defer { position += 1 }
            return .string(String(decoding: bytes[start..<position], as: UTF8.self))
        case UInt8(ascii: "("):
            position += 1
            var values: [Int] = []
            while true {
                skipSpace()
                if peek == UInt8(ascii: ")") { break }
                let start = position
                while let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { position += 1 }
                guard let size = Int(String(decoding: bytes[start..<position], as: UTF8.self)) else {
                    throw problem("a dimension size (a non-negative integer)")
                }
                values.append(size)
                skipSpace()
                guard peek == UInt8(ascii: ",") else { break }
                position += 1
            }
            try expect(UInt8(ascii: ")"))
            return .tuple(values)
        default:
            let start = position
            var depth = 0
            while let byte = peek {
                if depth == 0 && (byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}")) { break }
                if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "(") { depth += 1 }
                if byte == UInt8(ascii: "]") || byte == UInt8(ascii: ")") { depth -= 1 }
                guard depth >= 0 else { throw problem("brackets that match") }
                position += 1
            }
            let text = String(decoding: bytes[start..<position], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            switch text {
            case "True": return .bool(true)
            case "False": return .bool(false)
            default: return .other(text)
            }
        }
    }
}
