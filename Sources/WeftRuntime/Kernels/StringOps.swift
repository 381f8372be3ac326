#if canImport(Glibc)
import Glibc
#endif

/// Ops on `string` tensors and the ones that report through them: `Assert`, `StringFormat`,
/// `PrintV2` (what `tf.debugging.assert_*` and `tf.print` build), `StringJoin`.
enum StringOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [assert, stringFormat, printV2, stringJoin]

    /// `Assert`: an `invalidArgument` listing the data tensors when the condition is false.
    private static let assert = OpDefinition(
        "Assert",
        inputCount: nil,
        isStateful: true,
        outputTypes: OpDefinition.noOutputs,
        makeKernel: { node throws(WeftError) in
            let summarize = try node.attributes.int("summarize", default: 3)
            return ClosureKernel { context throws(WeftError) in
                guard let first = context.inputs.first else {
                    throw .invalidArgument("Assert needs a condition", node: context.node)
                }
                let condition = try first.read()
                guard condition.dtype == .bool, condition.elementCount == 1, let holds = condition.scalar(as: Bool.self)
                else {
                    throw .invalidArgument(
                        "In[0] expects to be a bool scalar, got \(condition.dtype) of shape \(condition.shape)",
                        node: context.node
                    )
                }
                if holds { return [] }
                var parts: [String] = []
                for index in context.inputs.indices.dropFirst() {
                    parts.append("[" + TensorSummary.legacy(try context.input(index), limit: summarize) + "]")
                }
                throw .invalidArgument("assertion failed: " + parts.joined(separator: " "), node: context.node)
            }
        }
    )

    /// `StringFormat`: the template with each placeholder replaced by a tensor, as `tf.strings.format`.
    private static let stringFormat = OpDefinition(
        "StringFormat",
        inputCount: nil,
        outputTypes: { _, _ in [OutputType(.string)] },
        makeKernel: { node throws(WeftError) in
            let template = try node.attributes.string("template", default: "%s")
            let placeholder = try node.attributes.string("placeholder", default: "%s")
            let summarize = try node.attributes.int("summarize", default: 3)
            let pieces = split(template, on: placeholder)
            guard pieces.count - 1 == node.dataInputs.count else {
                throw WeftError(
                    .invalidArgument,
                    "num placeholders in template and num inputs must match: \(pieces.count - 1) vs. \(node.dataInputs.count) (node '\(node.name)')"
                )
            }
            return ClosureKernel { context throws(WeftError) in
                var text = pieces[0]
                for index in context.inputs.indices {
                    text += TensorSummary.numpy(try context.input(index), edge: summarize) + pieces[index + 1]
                }
                return [.tensor(try Tensor(strings: [Array(text.utf8)], shape: .scalar, node: context.node))]
            }
        }
    )

    /// `PrintV2`: writes a scalar string to the process's standard error or output.
    private static let printV2 = OpDefinition(
        "PrintV2",
        inputCount: 1,
        isStateful: true,
        outputTypes: OpDefinition.noOutputs,
        makeKernel: { node throws(WeftError) in
            let stream = try node.attributes.string("output_stream", default: "stderr")
            let end = try node.attributes.string("end", default: "\n")
            guard ["stderr", "stdout", "log(info)", "log(warning)", "log(error)"].contains(stream) else {
                throw WeftError(
                    .invalidArgument,
                    "PrintV2 cannot write to '\(stream)': Weft writes to stderr, stdout or the log(...) streams (node '\(node.name)')"
                )
            }
            let descriptor: Int32 = stream == "stdout" ? 1 : 2
            return ClosureKernel { context throws(WeftError) in
                let input = try context.input(0)
                guard input.dtype == .string, input.elementCount == 1, let text = input.strings.first else {
                    throw .invalidArgument("Input is expected to be scalar, but got shape \(input.shape)", node: context.node)
                }
                let bytes = text + Array(end.utf8)
                // One write call, so lines of concurrent steps do not interleave.
                _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
                return []
            }
        }
    )

    /// `StringJoin`: element-wise concatenation of string tensors (scalars broadcast).
    private static let stringJoin = OpDefinition(
        "StringJoin",
        inputCount: nil,
        outputTypes: { _, _ in [OutputType(.string)] },
        makeKernel: { node throws(WeftError) in
            let separator = Array(try node.attributes.string("separator", default: "").utf8)
            return ClosureKernel { context throws(WeftError) in
                var inputs: [Tensor] = []
                for index in context.inputs.indices {
                    let input = try context.input(index)
                    guard input.dtype == .string else {
                        throw .invalidArgument("StringJoin takes string tensors, got \(input.dtype)", node: context.node)
                    }
                    inputs.append(input)
                }
                let shapes = Set(inputs.filter { $0.shape.rank > 0 }.map(\.shape))
                guard shapes.count <= 1 else {
                    throw .invalidArgument(
                        "Input shapes do not match: \(shapes.map(\.description).sorted().joined(separator: " vs. "))",
                        node: context.node
                    )
                }
                let shape = shapes.first ?? .scalar
                let columns = inputs.map(\.strings)
                try checkJoinedBytes(columns, shape: shape, separator: separator.count, node: context.node)
                let joined = (0..<shape.elementCount).map { row in
                    var out: [UInt8] = []
                    for (column, values) in columns.enumerated() {
                        if column > 0 { out += separator }
                        out += values.count == 1 ? values[0] : values[row]
                    }
                    return out
                }
                return [.tensor(try Tensor(strings: joined, shape: shape, node: context.node))]
            }
        }
    )

    /// Refuses a join whose strings would not fit in the memory budget left, before building
    /// them: every row's pieces and separators, counted with overflow checks.
    private static func checkJoinedBytes(_ columns: [[[UInt8]]], shape: TensorShape, separator: Int, node: String)
        throws(WeftError)
    {
        let rows = shape.elementCount
        var total = separator.multipliedReportingOverflow(by: max(columns.count - 1, 0))
        total = total.overflow ? total : total.partialValue.multipliedReportingOverflow(by: rows)
        for values in columns where !total.overflow {
            let bytes = values.reduce(0) { $0 &+ $1.count }
            // A scalar column repeats its one string on every row.
            let column =
                values.count == 1 ? bytes.multipliedReportingOverflow(by: rows) : (partialValue: bytes, overflow: false)
            total = column.overflow ? column : total.partialValue.addingReportingOverflow(column.partialValue)
        }
        guard total.overflow || total.partialValue > TensorMemory.limit - TensorMemory.liveBytes else { return }
        let bytes = total.overflow ? Int.max : total.partialValue
        throw TensorMemory.exhausted(bytes: bytes, shape: shape, dtype: .string, node: node)
    }

    /// `text` split at every occurrence of `separator` (which is not empty).
    private static func split(_ text: String, on separator: String) -> [String] {
        guard !separator.isEmpty else { return [text] }
        var pieces: [String] = []
        var rest = Substring(text)
        while let range = rest.firstRange(of: separator) {
            pieces.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        pieces.append(String(rest))
        return pieces
    }
}

/// TensorFlow's two ways of printing a tensor's values.
enum TensorSummary {
    /// `Tensor::SummarizeValue` (what `Assert` prints): the first `limit` elements in row-major
    /// order, nested brackets for rank > 1, `...` where it stops; strings unquoted.
    static func legacy(_ tensor: Tensor, limit: Int) -> String {
        let values = elements(tensor, quoted: false)
        let limit = limit < 0 ? values.count : limit
        guard tensor.shape.rank > 0 else { return values.first ?? "" }
        var result = ""
        var next = 0
        legacyDimension(0, tensor.shape.dimensions, values, limit, &next, &result)
        if values.count > limit { result += "..." }
        return result
    }

    private static func legacyDimension(
        _ dimension: Int,
        _ shape: [Int],
        _ values: [String],
        _ limit: Int,
        _ next: inout Int,
        _ result: inout String
    ) {
        guard next < limit else { return }
        if dimension == shape.count - 1 {
            for index in 0..<shape[dimension] {
                if next >= limit {
                    if dimension != 0 { result += "..." }
                    return
                }
                if index > 0 { result += " " }
                result += values[next]
                next += 1
            }
            return
        }
        for _ in 0..<shape[dimension] {
            let opened = next < limit
            if opened { result += "[" }
            legacyDimension(dimension + 1, shape, values, limit, &next, &result)
            if next < limit || opened { result += "]" }
        }
    }

    /// NumPy-like, as `tf.strings.format` prints: every dimension in brackets, rows on their own
    /// lines, only the first and last `edge` entries of a long dimension; strings quoted.
    static func numpy(_ tensor: Tensor, edge: Int) -> String {
        let values = elements(tensor, quoted: true)
        let shape = tensor.shape.dimensions
        let edge = edge < 0 ? Int.max / 2 : edge
        var result = ""
        numpyDimension(0, shape, values, edge, start: 0, &result)
        return result
    }

    private static func numpyDimension(
        _ dimension: Int,
        _ shape: [Int],
        _ values: [String],
        _ edge: Int,
        start: Int,
        _ result: inout String
    ) {
        guard dimension < shape.count else {
            if start < values.count { result += values[start] }
            return
        }
        let count = shape[dimension]
        let stride = shape[(dimension + 1)...].reduce(1, *)
        result += "["
        let head = min(edge, count)
        let shown = Array(0..<head) + Array(max(head, count - edge)..<count)
        for (position, index) in shown.enumerated() {
            if position > 0 { spacing(dimension, shape.count, &result) }
            if position == head && count > 2 * edge {
                result += "..."
                spacing(dimension, shape.count, &result)
            }
            numpyDimension(dimension + 1, shape, values, edge, start: start + stride * index, &result)
        }
        result += "]"
    }

    private static func spacing(_ dimension: Int, _ rank: Int, _ result: inout String) {
        if dimension == rank - 1 {
            result += " "
            return
        }
        result += String(repeating: "\n", count: rank - dimension - 1) + String(repeating: " ", count: dimension + 1)
    }

    /// Each element as TensorFlow prints it: numbers in the shortest of `%.6g`/`%.9g` (floats;
    /// `%.15g`/`%.17g` for doubles) that reads back exactly, bools as 1 and 0.
    private static func elements(_ tensor: Tensor, quoted: Bool) -> [String] {
        switch tensor.dtype {
        case .string:
            return tensor.strings.map { quoted ? "\"" + String(decoding: $0, as: UTF8.self) + "\"" : String(decoding: $0, as: UTF8.self) }
        case .float, .half, .bfloat16:
            return tensor.doubleValues.map { shortest($0, digits: (6, 9)) { Double(Float($0) ?? .nan) } }
        case .double:
            return tensor.doubleValues.map { shortest($0, digits: (15, 17)) { Double($0) ?? .nan } }
        case .int64:
            return tensor.elements(as: Int64.self).map(String.init)
        case .uint64:
            return tensor.elements(as: UInt64.self).map(String.init)
        case .complex64, .complex128:
            return zip(tensor.doubleValues, tensor.imaginaryValues).map { real, imaginary in
                "(" + shortest(real, digits: (6, 9)) { Double($0) ?? .nan } + (imaginary < 0 ? "" : "+")
                    + shortest(imaginary, digits: (6, 9)) { Double($0) ?? .nan } + "j)"
            }
        case .resource:
            return tensor.handles.map { "<resource \($0.container)/\($0.name)>" }
        case .variant:
            return tensor.variants.map { "<\($0.typeName)>" }
        default:
            return tensor.doubleValues.map { String(Int64($0)) }
        }
    }

    private static func shortest(_ value: Double, digits: (Int, Int), reading: (String) -> Double) -> String {
        let short = format(value, digits.0)
        if value.isNaN || reading(short) == value { return short }
        return format(value, digits.1)
    }

    private static func format(_ value: Double, _ digits: Int) -> String {
        var buffer = [CChar](repeating: 0, count: 48)
        _ = withVaList([digits, value]) { vsnprintf(&buffer, buffer.count, "%.*g", $0) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
