/// `StaticRegexFullMatch` and `RegexFullMatch`: whether each string matches a pattern as a
/// whole. The sharded `Saver` uses the first to pick its temporary file suffix (`^s3://.*`).
/// Patterns are compiled by Swift's `Regex`, whose syntax covers the common RE2 subset
/// (classes, anchors, repetition, alternation, groups); unlike RE2 it also accepts
/// backreferences and lookarounds, which TensorFlow would refuse.
enum RegexOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [staticRegexFullMatch, regexFullMatch]

    /// A compiled pattern; matching never mutates it, so kernels share it across threads.
    struct Pattern: @unchecked Sendable {
        let regex: Regex<AnyRegexOutput>

        init(_ text: String, node: String) throws(WeftError) {
            do {
                regex = try Regex(text)
                // The first match lowers the pattern to its program; do it now, before threads share it.
                _ = try regex.wholeMatch(in: "")
            } catch {
                throw WeftError(.invalidArgument, "Invalid pattern: \(text), error: \(error) (node '\(node)')")
            }
        }

        /// A bool tensor of the input's shape: element-wise whole matches.
        func matches(_ input: Tensor, node: String) throws(WeftError) -> Tensor {
            guard input.dtype == .string else {
                throw .invalidArgument("input must be a string tensor, got \(input.dtype)", node: node)
            }
            let result = Tensor(uninitialized: .bool, shape: input.shape)
            let strings = input.strings
            result.withMutableElements(of: Bool.self) { output in
                for index in output.indices {
                    output[index] = (try? regex.wholeMatch(in: String(decoding: strings[index], as: UTF8.self))) != nil
                }
            }
            return result
        }
    }

    private static let staticRegexFullMatch = OpDefinition(
        "StaticRegexFullMatch",
        inputCount: 1,
        outputTypes: { _, _ in [OutputType(.bool)] },
        makeKernel: { node throws(WeftError) in
            let pattern = try Pattern(try node.attributes.string("pattern"), node: node.name)
            return ClosureKernel { context throws(WeftError) in
                [.tensor(try pattern.matches(try context.input(0), node: context.node))]
            }
        }
    )

    private static let regexFullMatch = OpDefinition(
        "RegexFullMatch",
        inputCount: 2,
        outputTypes: { _, _ in [OutputType(.bool)] },
        makeKernel: { _ throws(WeftError) in
            ClosureKernel { context throws(WeftError) in
                let patternTensor = try context.input(1)
                guard patternTensor.dtype == .string, patternTensor.shape.rank == 0,
                    let text = patternTensor.strings.first
                else {
                    throw .invalidArgument(
                        "Pattern must be scalar, but received \(patternTensor.shape)",
                        node: context.node
                    )
                }
                let pattern = try Pattern(String(decoding: text, as: UTF8.self), node: context.node)
                return [.tensor(try pattern.matches(try context.input(0), node: context.node))]
            }
        }
    )
}
