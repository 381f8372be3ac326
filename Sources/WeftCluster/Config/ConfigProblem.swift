/// One thing wrong with a cluster file, with its place: the key path (`jobs.worker[1].address`)
/// and, where the parser knows it, the line and column.
public struct ConfigProblem: Sendable, Hashable, CustomStringConvertible {
    /// The file's name as the user gave it, for messages.
    public var file: String
    /// The key path inside the file, like `jobs.worker[1].address`; empty for the whole file.
    public var path: String
    /// 1-based line, when known.
    public var line: Int?
    /// 1-based column, when known.
    public var column: Int?
    /// What is wrong and what to write instead.
    public var message: String

    /// Makes a problem.
    public init(file: String, path: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.file = file
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    /// `FILE:LINE:COLUMN: PATH: MESSAGE`, the form compilers use, so editors can jump to it.
    public var description: String {
        var place = file
        if let line { place += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        return "\(place): " + (path.isEmpty ? "" : "\(path): ") + message
    }
}
