import Foundation
import SwiftProtobuf
import WeftProto

/// Finds where a GraphDef in text form stops parsing, since swift-protobuf's text decoder says
/// what went wrong (`unknownField`) but not where.
enum GraphDefTextError {
    /// `line N: 'text of the line'` for the first line whose addition makes the text fail to
    /// parse, or `nil` when no prefix fails (the whole text is only truncated).
    static func locate(in text: String) -> String? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        // Each prefix of whole lines, closed with the braces it left open, parses unless it
        // holds the bad line; so the first failing prefix ends at it.
        var low = 0
        var high = lines.count
        guard !parses(lines.prefix(high)) else { return nil }
        while low < high {
            let middle = (low + high) / 2
            if parses(lines.prefix(middle + 1)) { low = middle + 1 } else { high = middle }
        }
        guard low < lines.count else { return nil }
        let line = lines[low].trimmingCharacters(in: .whitespaces)
        let field = line.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
        let subject = field.isEmpty ? "" : " (field '\(field)')"
        return "line \(low + 1)\(subject): \(line.prefix(120))"
    }

    private static func parses(_ lines: ArraySlice<Substring>) -> Bool {
        var text = lines.joined(separator: "\n")
        text += String(repeating: "\n}", count: openBraces(in: text))
        return (try? Tensorflow_GraphDef(textFormatString: text)) != nil
    }

    /// Braces opened and not closed, outside strings and comments (`{` and `<` both open a message).
    private static func openBraces(in text: String) -> Int {
        var depth = 0
        var quote: Character?
        var escaped = false
        var comment = false
        for character in text {
            if comment {
                comment = character != "\n"
            } else if let open = quote {
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == open || character == "\n" {
                    quote = nil
                }
            } else {
                switch character {
                case "\"", "'": quote = character
                case "#": comment = true
                case "{", "<": depth += 1
                case "}", ">": depth = max(0, depth - 1)
                default: break
                }
            }
        }
        return depth
    }
}

/// TensorFlow's text writer leaves out a map entry's key or value when it is the default
/// (`arg_attr { value { … } }` for argument 0); swift-protobuf's text reader requires both.
/// This writes the defaults back into the integer-keyed maps of a function library.
enum GraphDefTextMaps {
    /// The maps with integer keys (and values, for the second) that TensorFlow writes.
    private static let entries: [Substring: (key: Bool, value: Bool)] = [
        "arg_attr": (true, false), "resource_arg_unique_id": (true, true),
    ]

    /// `text` with every such entry's missing `key: 0` (and `value: 0`) written in, or `nil`
    /// when nothing was missing.
    static func completed(_ text: String) -> String? {
        guard text.contains("arg_attr") || text.contains("resource_arg_unique_id") else { return nil }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var changed = false
        var index = 0
        while index < lines.count {
            let trimmed = lines[index].drop { $0 == " " }
            guard trimmed.hasSuffix(" {"), let need = entries[trimmed.dropLast(2)] else {
                index += 1
                continue
            }
            let indent = String(repeating: " ", count: lines[index].count - trimmed.count + 2)
            let (hasKey, hasValue) = topLevelFields(lines, from: index + 1)
            var inserted: [Substring] = []
            if need.key && !hasKey { inserted.append(Substring(indent + "key: 0")) }
            if need.value && !hasValue { inserted.append(Substring(indent + "value: 0")) }
            lines.insert(contentsOf: inserted, at: index + 1)
            changed = changed || !inserted.isEmpty
            index += 1 + inserted.count
        }
        return changed ? lines.joined(separator: "\n") : nil
    }

    /// Whether the entry starting at line `start` has `key` and `value` fields of its own.
    private static func topLevelFields(_ lines: [Substring], from start: Int) -> (Bool, Bool) {
        var depth = 0
        var (key, value) = (false, false)
        for line in lines[start...] {
            let trimmed = line.drop { $0 == " " }
            if trimmed.hasPrefix("}") {
                if depth == 0 { break }
                depth -= 1
                continue
            }
            if depth == 0 {
                key = key || trimmed.hasPrefix("key:") || trimmed.hasPrefix("key ")
                value = value || trimmed.hasPrefix("value:") || trimmed.hasPrefix("value ")
            }
            if trimmed.hasSuffix("{") { depth += 1 }
        }
        return (key, value)
    }
}
