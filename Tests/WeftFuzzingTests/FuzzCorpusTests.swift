import Foundation
import Testing
import WeftFuzzing
import WeftTestKit

/// Every input of the committed fuzz corpus (`Tests/Fuzz/Corpus/<target>/`), crashes the
/// fuzzer once found among them, goes through the target's entry again, without a sanitizer.
///
/// Each target replays in its own process, the fuzz executable built without libFuzzer: the
/// memory budget is process-wide, and the corpus is checked under the budget it was fuzzed with
/// (`FuzzTarget.memoryLimit`), which the test process's own tests must not share.
@Suite struct FuzzCorpusTests {
    private static func executable(_ target: FuzzTarget) -> URL {
        let name =
            switch target {
            case .wireMessage: "WeftFuzzWireMessage"
            case .graphDef: "WeftFuzzGraphDef"
            case .partition: "WeftFuzzPartition"
            }
        return Fixtures.weftExecutable.deletingLastPathComponent().appendingPathComponent(name)
    }

    @Test(arguments: FuzzTarget.allCases)
    func corpus_replaysWithoutACrash(target: FuzzTarget) throws {
        let corpus = Fixtures.repository.appendingPathComponent("Tests/Fuzz/Corpus/\(target.rawValue)")
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus.path).filter { !$0.hasPrefix(".") }
        #expect(files.count >= 10, "the corpus of \(target.rawValue) has only \(files.count) inputs")
        let process = Process()
        process.executableURL = Self.executable(target)
        process.arguments = ["replay", corpus.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(output.suffix(2000))")
        #expect(output.contains("replayed \(files.count) inputs through \(target.rawValue)"), "\(output.suffix(2000))")
    }

    @Test func frameFormat_roundTrips() {
        let frames: [[UInt8]] = [[1, 2, 3], [], Array(repeating: 7, count: 300)]
        #expect(FrameFormat.frames(FrameFormat.input(frames)) == frames)
        // A length past the end takes what is left; a cut length prefix reads as it stands.
        #expect(FrameFormat.frames([5, 0, 0, 0, 9, 9]) == [[9, 9]])
        #expect(FrameFormat.frames([1]) == [[]])
    }
}
