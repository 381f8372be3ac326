import Foundation
import WeftRuntime

/// The command line of a fuzz executable built without libFuzzer: replays inputs (a crash
/// found by `scripts/fuzz`, or a whole corpus) through the target's entry, and writes the
/// seeds a corpus starts from.
public enum FuzzReplay {
    /// `replay PATH…` runs every file (directories: every file in them, sorted) and prints how
    /// many ran; `seed DIR CONFORMANCE_DIR` writes the seed inputs. Exits 64 on bad usage.
    public static func main(_ target: FuzzTarget, arguments: [String] = Array(CommandLine.arguments.dropFirst())) {
        TensorMemory.setLimit(FuzzTarget.memoryLimit)
        switch (arguments.first ?? "", arguments.count) {
        case ("replay", 2...):
            let files = arguments.dropFirst().flatMap(inputFiles)
            for file in files {
                guard let data = FileManager.default.contents(atPath: file.path) else {
                    fail("cannot read \(file.path)")
                }
                target.run(Array(data))
            }
            print("replayed \(files.count) inputs through \(target.rawValue)")
        case ("seed", 3):
            let directory = URL(fileURLWithPath: arguments[1], isDirectory: true)
            let seeds = FuzzSeeds.inputs(for: target, conformance: URL(fileURLWithPath: arguments[2]))
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                for (name, input) in seeds {
                    try Data(input).write(to: directory.appendingPathComponent(name))
                }
            } catch {
                fail("cannot write seeds: \(error)")
            }
            print("wrote \(seeds.count) seeds for \(target.rawValue)")
        default:
            fail("usage: replay PATH... | seed DIR CONFORMANCE_DIR")
        }
    }

    private static func inputFiles(_ path: String) -> [URL] {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            fail("no such file: \(path)")
        }
        guard isDirectory.boolValue else { return [url] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { url.appendingPathComponent($0) }
    }

    private static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(64)
    }
}
