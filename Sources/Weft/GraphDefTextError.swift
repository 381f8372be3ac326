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
