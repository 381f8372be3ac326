/// The one error type of Weft: a TensorFlow canonical code and a message a person can act on.
///
/// Codes and messages cross the wire unchanged, so an error raised by a kernel on a worker
/// reaches the client as it was thrown.
public struct WeftError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A TensorFlow canonical error code. `rawValue` is TensorFlow's number and is what the wire carries.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// TensorFlow's numeric code (`error_codes.proto`).
        public var rawValue: Int32
        /// Wraps a numeric code; unknown numbers are kept as they are.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// The operation was cancelled.
        public static let cancelled = Code(rawValue: 1)
        /// An error that fits no other code.
        public static let unknown = Code(rawValue: 2)
        /// The caller passed a bad argument: a wrong dtype, shape, name or graph.
        public static let invalidArgument = Code(rawValue: 3)
        /// A deadline passed before the operation completed.
        public static let deadlineExceeded = Code(rawValue: 4)
        /// Something that was asked for does not exist.
        public static let notFound = Code(rawValue: 5)
        /// Something that was to be created exists already.
        public static let alreadyExists = Code(rawValue: 6)
        /// The caller may not do this.
        public static let permissionDenied = Code(rawValue: 7)
        /// A resource (memory, a size limit) ran out.
        public static let resourceExhausted = Code(rawValue: 8)
        /// The system is not in the state the operation needs (an uninitialized variable).
        public static let failedPrecondition = Code(rawValue: 9)
        /// The operation was aborted, typically by a concurrent failure.
        public static let aborted = Code(rawValue: 10)
        /// A value lies outside its valid range.
        public static let outOfRange = Code(rawValue: 11)
        /// The operation is not implemented.
        public static let unimplemented = Code(rawValue: 12)
        /// An internal invariant broke: a bug in Weft.
        public static let `internal` = Code(rawValue: 13)
        /// A process that was needed could not be reached.
        public static let unavailable = Code(rawValue: 14)
        /// Data was lost or corrupted.
        public static let dataLoss = Code(rawValue: 15)
        /// The caller could not be authenticated.
        public static let unauthenticated = Code(rawValue: 16)

        private static let names: [Int32: String] = [
            1: "cancelled", 2: "unknown", 3: "invalidArgument", 4: "deadlineExceeded", 5: "notFound",
            6: "alreadyExists", 7: "permissionDenied", 8: "resourceExhausted", 9: "failedPrecondition",
            10: "aborted", 11: "outOfRange", 12: "unimplemented", 13: "internal", 14: "unavailable",
            15: "dataLoss", 16: "unauthenticated",
        ]

        /// Weft's name of the code, `failedPrecondition`.
        public var description: String { Self.names[rawValue] ?? "code\(rawValue)" }

        /// Parses Weft's name (`failedPrecondition`) or TensorFlow's (`FailedPrecondition`, `FAILED_PRECONDITION`).
        public init?(name: String) {
            let folded = name.replacingOccurrences(of: "_", with: "").lowercased()
            guard let match = Self.names.first(where: { $0.value.lowercased() == folded }) else { return nil }
            self.rawValue = match.key
        }
    }

    /// The canonical code.
    public var code: Code
    /// What happened and what to do about it.
    public var message: String

    /// Makes an error with a code and a message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`, as printed by the command-line tool.
    public var description: String { "\(code): \(message)" }

    /// Converts any error into a `WeftError`, keeping one that already is.
    public static func wrapping(_ error: any Error) -> WeftError {
        if let error = error as? WeftError { return error }
        return WeftError(.internal, "\(error)")
    }
}
