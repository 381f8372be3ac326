import Foundation
import WeftRuntime
import WeftTransport

/// Durations as cluster files write them: a number and a unit, `250ms`, `1.5s`, `2m`.
public enum ConfigDuration {
    /// The longest duration a cluster file may write, in milliseconds: about a century.
    private static let longest: Double = 100 * 365.25 * 86_400_000

    /// Parses `250ms`, `1.5s`, `2m` or `1h`, or says what is wrong with the text.
    public static func parse(_ text: String) throws(WeftError) -> Duration {
        let units: [(suffix: String, milliseconds: Double)] = [
            ("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000),
        ]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for unit in units where trimmed.hasSuffix(unit.suffix) {
            let number = trimmed.dropLast(unit.suffix.count).trimmingCharacters(in: .whitespaces)
            guard let value = Double(number), value.isFinite, value > 0 else { break }
            // A positive duration stays positive (at least 1 ms); a century is more than any
            // timeout needs and keeps the conversion to whole milliseconds exact.
            let milliseconds = max(1, (value * unit.milliseconds).rounded())
            guard milliseconds <= Self.longest else { break }
            return .milliseconds(Int64(milliseconds))
        }
        throw WeftError(
            .invalidArgument,
            "'\(text)' is not a duration; write a positive number and a unit, up to a century: 250ms, 1.5s, 2m"
        )
    }

    /// `1500ms`, the form `parse` reads back.
    public static func format(_ duration: Duration) -> String {
        "\(duration.millisecondsRoundedUp)ms"
    }
}
