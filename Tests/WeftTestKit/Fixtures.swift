import Foundation

/// Paths shared by the test suites.
public enum Fixtures {
    /// The repository's root folder.
    public static let repository: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// The repository's own conformance cases, made by TensorFlow (`scripts/conformance`), or
    /// `$WEFT_CONFORMANCE` when set.
    public static let conformance: URL = {
        if let path = ProcessInfo.processInfo.environment["WEFT_CONFORMANCE"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return repository.appendingPathComponent("Tests/Conformance")
    }()

    /// The prefix of the core cases (the seed, devices, dtypes), which the multi-process tests run
    /// on every placement strategy; `scripts/test` runs all cases distributed once.
    public static let coreCasePrefix = "core_"
}

extension Fixtures {
    /// The `weft` executable of the build under test (next to the test bundle).
    public static let weftExecutable: URL = {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            let candidate = url.appendingPathComponent("weft")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return repository.appendingPathComponent(".build/debug/weft")
    }()

    /// Runs the `weft` executable with `arguments` and returns its exit status and output.
    public static func runWeft(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = weftExecutable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
