import Foundation
import WeftRuntime

/// A graph made by TensorFlow with the values TensorFlow computed for it: one case of a
/// conformance folder (`NAME.pbtxt` or `NAME.pb`, and `NAME.json`, described in the folder's
/// README).
public struct ConformanceCase: Sendable {
    /// What one step expects.
    public enum Expectation: Sendable {
        /// These fetched values (floats within the case's tolerance).
        case values([String: Tensor])
        /// An error with this code; TensorFlow's message is kept for reports.
        case error(WeftError.Code, message: String)
    }

    /// One step of a session.
    public struct Step: Sendable {
        /// Tensor names and the values fed to them.
        public var feeds: [String: Tensor]
        /// Tensor names to fetch.
        public var fetches: [String]
        /// Node names to run.
        public var targets: [String]
        /// What TensorFlow gave.
        public var expectation: Expectation
    }

    /// How close a float must be to TensorFlow's: `|got - want| <= atol + rtol * max(|got|, |want|)`.
    public struct Tolerance: Sendable, Hashable {
        /// The relative part.
        public var relative: Double
        /// The absolute part, for values near zero.
        public var absolute: Double
        /// The default: float32 results computed the same way agree to about 1e-5.
        public static let standard = Tolerance(relative: 1e-5, absolute: 1e-7)
    }

    /// The graph as TensorFlow wrote it.
    public enum GraphFile: Sendable {
        /// Protobuf text form (`NAME.pbtxt`).
        case text(String)
        /// Binary form (`NAME.pb`).
        case binary(Data)
    }

    /// The case's name, its file name without extension.
    public var name: String
    /// The note from the JSON file.
    public var note: String
    /// The graph.
    public var graph: GraphFile
    /// How close floats must be.
    public var tolerance: Tolerance
    /// Sessions, each opened fresh and run step by step.
    public var sessions: [[Step]]

    /// Every case in `directory`, sorted by name.
    public static func load(directory: URL) throws(WeftError) -> [ConformanceCase] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw WeftError(
                .notFound,
                "cannot list the conformance folder \(directory.path): \(error.localizedDescription)"
            )
        }
        let cases = try names.filter { $0.hasSuffix(".json") }.sorted().map { (file) throws(WeftError) in
            try load(directory: directory, name: String(file.dropLast(5)))
        }
        guard !cases.isEmpty else {
            throw WeftError(
                .notFound,
                "the folder \(directory.path) holds no conformance case (NAME.json + NAME.pbtxt or NAME.pb)"
            )
        }
        return cases
    }

    /// The case `name` of `directory`.
    public static func load(directory: URL, name: String) throws(WeftError) -> ConformanceCase {
        let json = directory.appendingPathComponent(name + ".json")
        let text = directory.appendingPathComponent(name + ".pbtxt")
        let binary = directory.appendingPathComponent(name + ".pb")
        do {
            let graph: GraphFile =
                FileManager.default.fileExists(atPath: binary.path)
                ? .binary(try Data(contentsOf: binary)) : .text(try String(contentsOf: text, encoding: .utf8))
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: json))
            guard let root = object as? [String: Any], let sessions = root["sessions"] as? [[Any]] else {
                throw WeftError(.invalidArgument, "\(json.lastPathComponent) has no 'sessions' list")
            }
            let tolerance = root["tolerance"] as? [String: Any]
            return ConformanceCase(
                name: name,
                note: root["note"] as? String ?? "",
                graph: graph,
                tolerance: Tolerance(
                    relative: (tolerance?["rtol"] as? NSNumber)?.doubleValue ?? Tolerance.standard.relative,
                    absolute: (tolerance?["atol"] as? NSNumber)?.doubleValue ?? Tolerance.standard.absolute
                ),
                sessions: try sessions.map { try $0.map(parseStep) }
            )
        } catch let error as WeftError {
            throw WeftError(error.code, "case \(name): \(error.message)")
        } catch {
            throw WeftError(.invalidArgument, "case \(name): \(error.localizedDescription)")
        }
    }

    /// The cases of `directory` that Weft cannot pass yet, with the reason, from its
    /// `pending.txt` (`NAME  reason` per line, `#` comments): runners report them as skipped
    /// while they fail, so the gap stays visible without failing the run.
    public static func pending(directory: URL) -> [String: String] {
        let file = directory.appendingPathComponent("pending.txt")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [:] }
        var pending: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard let name = parts.first else { continue }
            pending[String(name)] = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        }
        return pending
    }

    private static func parseStep(_ object: Any) throws -> Step {
        guard let step = object as? [String: Any] else { throw WeftError(.invalidArgument, "a step is not an object") }
        let feeds = try (step["feeds"] as? [String: Any] ?? [:]).mapValues(parseValue)
        let expectation: Expectation
        if let error = step["error"] as? [String: Any] {
            let codeName = error["code"] as? String ?? ""
            guard let code = WeftError.Code(name: codeName) else {
                throw WeftError(.invalidArgument, "unknown error code '\(codeName)'")
            }
            expectation = .error(code, message: error["message"] as? String ?? "")
        } else {
            expectation = .values(try (step["expect"] as? [String: Any] ?? [:]).mapValues(parseValue))
        }
        return Step(
            feeds: feeds,
            fetches: step["fetches"] as? [String] ?? [],
            targets: step["targets"] as? [String] ?? [],
            expectation: expectation
        )
    }

    /// Reads `{"dtype": "float32", "shape": [2, 3], "values": [...]}`: numbers, with NaN and
    /// infinities as `"nan"`, `"inf"`, `"-inf"`; complex numbers as `[re, im]`; strings as text
    /// or `{"base64": …}`.
    static func parseValue(_ object: Any) throws -> Tensor {
        guard let value = object as? [String: Any], let dtypeName = value["dtype"] as? String,
            let shape = value["shape"] as? [Int], let values = value["values"] as? [Any]
        else { throw WeftError(.invalidArgument, "a value needs dtype, shape and values") }
        guard let dtype = DType(name: dtypeName) else {
            throw WeftError(.unimplemented, "dtype '\(dtypeName)' is not supported")
        }
        let tensorShape = TensorShape(shape)
        guard shape.allSatisfy({ $0 >= 0 }), try tensorShape.checkedElementCount(dtype: dtype) == values.count else {
            throw WeftError(
                .invalidArgument,
                "a \(dtypeName) value of shape \(shape) cannot hold \(values.count) values"
            )
        }
        switch dtype {
        case .string:
            return try Tensor(strings: try values.map(parseBytes), shape: tensorShape)
        case .complex64, .complex128:
            let parts = try values.map { item throws -> (Double, Double) in
                guard let pair = item as? [Any], pair.count == 2 else {
                    throw WeftError(.invalidArgument, "a complex value must be [re, im], got \(item)")
                }
                return (parseNumber(pair[0]), parseNumber(pair[1]))
            }
            let tensor = try Tensor(parts.map { ComplexElement($0.0, $0.1) }, shape: tensorShape)
            return try Tensor(converting: tensor, to: dtype)
        // 64-bit integers read exactly: a double holds only 53 bits.
        case .int64:
            return try Tensor(values.map { ($0 as? NSNumber)?.int64Value ?? 0 }, shape: tensorShape)
        case .uint64:
            return try Tensor(values.map { ($0 as? NSNumber)?.uint64Value ?? 0 }, shape: tensorShape)
        default:
            let numbers = values.map(parseNumber)
            if let range = integerRange(dtype),
                let bad = numbers.first(where: { !range.contains($0) || $0 != $0.rounded() })
            {
                throw WeftError(.invalidArgument, "\(bad) is not a \(dtypeName) value")
            }
            return try Tensor(converting: numbers, to: dtype, shape: tensorShape)
        }
    }

    /// The values an integer dtype narrower than 64 bits holds, which a double holds exactly:
    /// an expected value outside it is a broken case, not a number to convert.
    private static func integerRange(_ dtype: DType) -> ClosedRange<Double>? {
        switch dtype {
        case .int8, .qint8: -128...127
        case .uint8, .quint8: 0...255
        case .int16, .qint16: -32_768...32_767
        case .uint16, .quint16: 0...65_535
        case .int32, .qint32: -2_147_483_648...2_147_483_647
        case .uint32: 0...4_294_967_295
        default: nil
        }
    }

    private static func parseNumber(_ item: Any) -> Double {
        if let number = item as? NSNumber { return number.doubleValue }
        switch item as? String {
        case "inf": return .infinity
        case "-inf": return -.infinity
        default: return .nan
        }
    }

    private static func parseBytes(_ item: Any) throws -> [UInt8] {
        if let text = item as? String { return Array(text.utf8) }
        guard let encoded = (item as? [String: Any])?["base64"] as? String, let data = Data(base64Encoded: encoded)
        else { throw WeftError(.invalidArgument, "a string value must be text or {\"base64\": …}, got \(item)") }
        return [UInt8](data)
    }
}
