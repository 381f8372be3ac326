import Foundation
import WeftRuntime

/// A graph made by TensorFlow with the values TensorFlow computed for it: one case of a
/// conformance folder (`NAME.pbtxt` + `NAME.json`, described in the folder's README).
public struct ConformanceCase: Sendable {
    /// What one step expects.
    public enum Expectation: Sendable {
        /// These fetched values (floats within 1e-5 relative).
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

    /// The case's name, its file name without extension.
    public var name: String
    /// The note from the JSON file.
    public var note: String
    /// The graph, as TensorFlow wrote it.
    public var graphText: String
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
                "the folder \(directory.path) holds no conformance case (NAME.json + NAME.pbtxt)"
            )
        }
        return cases
    }

    /// The case `name` of `directory`.
    public static func load(directory: URL, name: String) throws(WeftError) -> ConformanceCase {
        let json = directory.appendingPathComponent(name + ".json")
        let graph = directory.appendingPathComponent(name + ".pbtxt")
        do {
            let text = try String(contentsOf: graph, encoding: .utf8)
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: json))
            guard let root = object as? [String: Any], let sessions = root["sessions"] as? [[Any]] else {
                throw WeftError(.invalidArgument, "\(json.lastPathComponent) has no 'sessions' list")
            }
            return ConformanceCase(
                name: name,
                note: root["note"] as? String ?? "",
                graphText: text,
                sessions: try sessions.map { try $0.map(parseStep) }
            )
        } catch let error as WeftError {
            throw WeftError(error.code, "case \(name): \(error.message)")
        } catch {
            throw WeftError(.invalidArgument, "case \(name): \(error.localizedDescription)")
        }
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

    /// Reads `{"dtype": "float32", "shape": [2, 3], "values": [...]}`.
    static func parseValue(_ object: Any) throws -> Tensor {
        guard let value = object as? [String: Any], let dtypeName = value["dtype"] as? String,
            let shape = value["shape"] as? [Int], let values = value["values"] as? [Any]
        else { throw WeftError(.invalidArgument, "a value needs dtype, shape and values") }
        guard let dtype = DType(name: dtypeName) else {
            throw WeftError(.unimplemented, "dtype '\(dtypeName)' is not supported")
        }
        let numbers = values.map { ($0 as? NSNumber)?.doubleValue ?? .nan }
        return try Tensor(converting: numbers, to: dtype, shape: TensorShape(shape))
    }
}

extension Tensor {
    /// A tensor of `dtype` from double values, each converted (for tests, tools and files).
    public init(converting values: [Double], to dtype: DType, shape: TensorShape) throws(WeftError) {
        switch dtype {
        case .float: try self.init(values.map { Float($0) }, shape: shape)
        case .double: try self.init(values, shape: shape)
        case .half: try self.init(values.map { Float16($0) }, shape: shape)
        case .int8: try self.init(values.map { Int8($0) }, shape: shape)
        case .int16: try self.init(values.map { Int16($0) }, shape: shape)
        case .int32: try self.init(values.map { Int32($0) }, shape: shape)
        case .int64: try self.init(values.map { Int64($0) }, shape: shape)
        case .uint8: try self.init(values.map { UInt8($0) }, shape: shape)
        case .uint16: try self.init(values.map { UInt16($0) }, shape: shape)
        case .uint32: try self.init(values.map { UInt32($0) }, shape: shape)
        case .uint64: try self.init(values.map { UInt64($0) }, shape: shape)
        case .bool: try self.init(values.map { $0 != 0 }, shape: shape)
        }
    }
}
