import Foundation
import WeftRuntime

/// Memory sizes as flags and cluster files write them: `512MiB`, `4GiB`, `2GB`, `1048576`, or a
/// share of the machine's physical memory, `80%`.
public enum ConfigByteSize {
    private static let units: [(suffix: String, bytes: Double)] = [
        ("KiB", 0x1p10), ("MiB", 0x1p20), ("GiB", 0x1p30), ("TiB", 0x1p40),
        ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1), ("", 1),
    ]

    /// Parses a size (`512MiB`, `4GiB`, `2GB`, `1048576`) or a percentage of `physicalMemory`, or
    /// says what is wrong with the text.
    public static func parse(_ text: String, physicalMemory: Int = TensorMemory.physicalMemory) throws(WeftError) -> Int
    {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasSuffix("%") {
            if let percent = Double(trimmed.dropLast().trimmingCharacters(in: .whitespaces)), percent > 0,
                percent <= 100
            {
                return max(1, Int(Double(physicalMemory) * percent / 100))
            }
        } else if let unit = units.first(where: { trimmed.hasSuffix($0.suffix) }) {
            let number = trimmed.dropLast(unit.suffix.count).trimmingCharacters(in: .whitespaces)
            if let value = Double(number), value.isFinite, value > 0 {
                let bytes = (value * unit.bytes).rounded()
                // Below 2^63, so the conversion to `Int` is exact and cannot trap.
                if bytes >= 1, bytes < 0x1p63 { return Int(bytes) }
            }
        }
        throw WeftError(
            .invalidArgument,
            "'\(text)' is not a memory size; write a positive number of bytes with an optional unit "
                + "(512MiB, 4GiB, 2GB) or a share of physical memory (80%)"
        )
    }
}
