import Foundation
import WeftRuntime

/// Durations as cluster files write them: a number and a unit, `250ms`, `1.5s`, `2m`.
public enum ConfigDuration {
    /// Parses `250ms`, `1.5s`, `2m` or `1h`, or says what is wrong with the text.
    public static func parse(_ text: String) throws(WeftError) -> Duration {
        let units: [(suffix: String, milliseconds: Double)] = [
            ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000),
        ]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for unit in units where trimmed.hasSuffix(unit.suffix) {
            let number = trimmed.dropLast(unit.suffix.count).trimmingCharacters(in: .whitespaces)
            guard let value = Double(number), value.isFinite, value > 0 else { break }
            return .milliseconds(Int((value * unit.milliseconds).rounded()))
        }
        throw WeftError(
            .invalidArgument,
            "'\(text)' is not a duration; write a positive number and a unit: 250ms, 1.5s, 2m"
        )
    }

    /// `1500ms`, the form `parse` reads back.
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return "\(seconds * 1_000 + attoseconds / 1_000_000_000_000_000)ms"
    }
}
