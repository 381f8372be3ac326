import Foundation
import Logging

/// Writes each log record to standard error as one line of JSON, for log collectors
/// (`weft coordinator --log-format json`):
///
///     {"label":"weft.worker","level":"warning","message":"…","metadata":{"worker.device":"…"},
///      "source":"WeftCluster","time":"2026-12-01T17:58:03.123Z"}
public struct JSONLogHandler: LogHandler {
    /// The least severe level written.
    public var logLevel: Logger.Level = .info
    /// Metadata every record of this logger carries.
    public var metadata: Logger.Metadata = [:]
    /// Supplies metadata at each record (a trace's identifiers, say).
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let write: @Sendable (Data) -> Void

    /// A handler for the logger `label`, writing to standard error.
    public init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.init(label: label, metadataProvider: metadataProvider) { FileHandle.standardError.write($0) }
    }

    /// A handler writing each line to `write`: for tests.
    public init(
        label: String,
        metadataProvider: Logger.MetadataProvider? = nil,
        write: @escaping @Sendable (Data) -> Void
    ) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    /// One metadata value by key.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one record as a line.
    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var record: [String: Any] = [
            "time": Self.timestamp(),
            "level": event.level.rawValue,
            "label": label,
            "message": event.message.description,
            "source": event.source,
        ]
        if !merged.isEmpty { record["metadata"] = merged.mapValues(Self.json) }
        if let error = event.error { record["error"] = "\(error)" }
        guard var line = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else { return }
        line.append(UInt8(ascii: "\n"))
        write(line)
    }

    private static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): convertible.description
        case .array(let array): array.map(json)
        case .dictionary(let dictionary): dictionary.mapValues(json)
        }
    }

    /// Now in UTC as RFC 3339 with milliseconds.
    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        let date = String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d",
            parts.tm_year + 1900,
            parts.tm_mon + 1,
            parts.tm_mday,
            parts.tm_hour,
            parts.tm_min,
            parts.tm_sec
        )
        return date + String(format: ".%03dZ", Int(now.tv_nsec / 1_000_000))
    }
}
