import Foundation
import Testing
import WeftRuntime
import WeftTestKit

@testable import Weft

/// A fresh directory under the system's temporary folder.
func temporaryDirectory(_ name: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("weft-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

/// Whether two tensors hold the same bits: dtype, shape and every byte (or string).
func bitIdentical(_ a: Tensor, _ b: Tensor) -> Bool {
    guard a.dtype == b.dtype, a.shape == b.shape else { return false }
    if a.dtype == .string { return a.strings == b.strings }
    return a.bytes.elementsEqual(b.bytes)
}

@Suite struct SaverTests {
    /// The checkpoint tf1.train.Saver wrote (scripts/conformance/cases_optimizers.py).
    static let tensorFlowDirectory = Fixtures.conformance.appendingPathComponent("checkpoints/tf_saver").path

    /// The values TensorFlow saved, by variable name.
    static func tensorFlowValues() throws -> [String: Tensor] {
        let url = Fixtures.conformance.appendingPathComponent("checkpoints/tf_saver.json")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let values = try #require(root["values"] as? [String: Any])
        return try values.mapValues { try ConformanceCase.parseValue($0) }
    }

    /// Variables named, typed and shaped as `values`, all zero (empty strings), in a new graph.
    static func zeroVariables(like values: [String: Tensor]) throws -> (Graph, [String: Variable]) {
        let graph = Graph()
        let variables = try graph.asDefault {
            try values.mapValues { value in
                let zero =
                    value.dtype == .string
                    ? try Tensor(strings: [String](repeating: "", count: value.elementCount), shape: value.shape)
                    : try Tensor(
                        converting: [Double](repeating: 0, count: value.elementCount),
                        to: value.dtype,
                        shape: value.shape
                    )
                return zero
            }.map { name, zero in (name, Variable(zero, name: name)) }
        }
        return (graph, Dictionary(uniqueKeysWithValues: variables))
    }

    /// Restores TensorFlow's checkpoint bit-exact, saves it with Weft and restores that too.
    /// With `WEFT_CHECKPOINT_EXPORT` set, Weft's checkpoint goes there for TensorFlow to read
    /// (scripts/conformance/check_weft_checkpoint.py).
    @Test func tensorFlowCheckpoint_restoresBitExact_andRoundTrips() throws {
        let expected = try Self.tensorFlowValues()
        let latest = try #require(latestCheckpoint(in: Self.tensorFlowDirectory))
        #expect(latest == Self.tensorFlowDirectory + "/model-7")
        let (graph, variables) = try Self.zeroVariables(like: expected)
        let saver = try graph.asDefault { try Saver() }
        #expect(saver.names == expected.keys.sorted())
        let exportDirectory = ProcessInfo.processInfo.environment["WEFT_CHECKPOINT_EXPORT"]
        let directory = try exportDirectory ?? temporaryDirectory("tf-round-trip")
        defer { if exportDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
        try Session(graph: graph).run { session in
            try saver.restore(session, from: latest)
            for (name, value) in expected {
                let restored = try session.run(try #require(variables[name]))
                #expect(bitIdentical(restored, value), "\(name): \(restored), expected \(value)")
            }
            let written = try saver.save(session, to: directory + "/model", globalStep: 7)
            #expect(written == directory + "/model-7")
        }
        let (other, copies) = try Self.zeroVariables(like: expected)
        try Session(graph: other).run { session in
            try other.asDefault { try Saver() }.restore(session, from: try #require(latestCheckpoint(in: directory)))
            for (name, value) in expected {
                let copy = try #require(copies[name])
                #expect(bitIdentical(try session.run(copy), value), "\(name)")
            }
        }
    }

    @Test func saveAndRestore_roundTripIntoAnotherSession() throws {
        let directory = try temporaryDirectory("round-trip")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let graph = Graph()
        let (w, step, bump, saver) = try graph.asDefault {
            let w = Variable([[Float(1), 2], [3, 4]], name: "w")
            let step = Variable(Int64(5), name: "step")
            let bump = group([
                w.assignAdd(constant([[Float(1), 1], [1, 1]])).operation, step.assignAdd(Int64(10)).operation,
            ])
            return (w, step, bump, try Saver())
        }
        let initialize = graph.asDefault { globalVariablesInitializer() }
        try Session(graph: graph).run { session in
            try session.run(initialize)
            try session.run(bump)
            try saver.save(session, to: directory + "/model")
        }
        try Session(graph: graph).run { session in
            try saver.restore(session, from: directory + "/model")
            #expect(try session.run(w).scalars(as: Float.self) == [2, 3, 4, 5])
            #expect(try session.run(step).scalar(as: Int64.self) == 15)
        }
        let state = try #require(try CheckpointState.read(in: directory))
        #expect(
            state
                == CheckpointState(
                    modelCheckpointPath: directory + "/model",
                    allModelCheckpointPaths: [directory + "/model"]
                )
        )
    }

    @Test func maxToKeep_deletesTheOldestCheckpoints() throws {
        let directory = try temporaryDirectory("max-to-keep")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let graph = Graph()
        let saver = try graph.asDefault {
            _ = Variable([Float(1)], name: "v")
            return try Saver(maxToKeep: 2)
        }
        try Session(graph: graph).run { session in
            try session.run(graph.asDefault { globalVariablesInitializer() })
            for step in 1...4 { try saver.save(session, to: directory + "/model", globalStep: step) }
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(
            files == [
                "checkpoint", "model-3.data-00000-of-00001", "model-3.index", "model-4.data-00000-of-00001",
                "model-4.index",
            ]
        )
        #expect(saver.lastCheckpoints == [directory + "/model-3", directory + "/model-4"])
        let state = try #require(try CheckpointState.read(in: directory))
        #expect(state.allModelCheckpointPaths == saver.lastCheckpoints)
        #expect(latestCheckpoint(in: directory) == directory + "/model-4")
    }

    @Test func save_withTheGlobalStepVariable_namesTheCheckpointAfterItsValue() throws {
        let directory = try temporaryDirectory("global-step")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let graph = Graph()
        let (advance, saver) = try graph.asDefault {
            let step = createGlobalStep()
            return (step.assignAdd(Int64(3)), try Saver())
        }
        let step = try #require(graph.builtVariables.first { $0.name == "global_step" })
        try Session(graph: graph).run { session in
            try session.run(graph.asDefault { globalVariablesInitializer() })
            try session.run(advance)
            #expect(try saver.save(session, to: directory + "/model", globalStep: step) == directory + "/model-3")
        }
        #expect(latestCheckpoint(in: directory) == directory + "/model-3")
    }

    @Test func maxToKeepZero_keepsEveryCheckpoint() throws {
        let directory = try temporaryDirectory("keep-all")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let graph = Graph()
        let saver = try graph.asDefault {
            _ = Variable([Float(1)], name: "v")
            return try Saver(maxToKeep: 0)
        }
        try Session(graph: graph).run { session in
            try session.run(graph.asDefault { globalVariablesInitializer() })
            for step in 1...3 { try saver.save(session, to: directory + "/model", globalStep: step) }
        }
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".index") }.count == 3
        )
        #expect(try CheckpointState.read(in: directory)?.allModelCheckpointPaths == [directory + "/model-3"])
    }

    @Test func latestCheckpoint_isNilWithoutStateOrFiles() throws {
        let directory = try temporaryDirectory("latest")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(latestCheckpoint(in: directory) == nil)
        try CheckpointState(modelCheckpointPath: directory + "/gone", allModelCheckpointPaths: [])
            .write(in: directory)
        #expect(latestCheckpoint(in: directory) == nil)
        try "not a checkpoint state {".write(toFile: directory + "/checkpoint", atomically: true, encoding: .utf8)
        #expect(latestCheckpoint(in: directory) == nil)
        #expect(throws: WeftError.self) { try CheckpointState.read(in: directory) }
    }

    @Test func checkpointState_writesPathsRelativeToARelativeDirectory() throws {
        #expect(CheckpointState.relativePath("train/model-1", from: "train") == "model-1")
        #expect(CheckpointState.relativePath("other/model-1", from: "train/run") == "../../other/model-1")
        #expect(CheckpointState.relativePath("./train/./model", from: "train/") == "model")
        #expect(Saver.directory(of: "model") == "")
        #expect(Saver.directory(of: "/model") == "/")
        #expect(Saver.directory(of: "a//b/model") == "a//b")
        let directory = try temporaryDirectory("relative")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try CheckpointState(modelCheckpointPath: "model-2", allModelCheckpointPaths: ["model-1", "model-2"])
            .write(in: directory)
        let text = try String(contentsOfFile: directory + "/checkpoint", encoding: .utf8)
        #expect(text.contains("model_checkpoint_path: \"model-2\""))
        #expect(try CheckpointState.read(in: directory)?.modelCheckpointPath == directory + "/model-2")
    }

    @Test func restore_ofAMissingCheckpoint_isNotFound() throws {
        let graph = Graph()
        let saver = try graph.asDefault {
            _ = Variable([Float(1)], name: "v")
            return try Saver()
        }
        let error = try #require(throws: WeftError.self) {
            try saver.restore(Session(graph: graph), from: "/tmp/weft-no-such-checkpoint/model")
        }
        #expect(error.code == .notFound)
    }

    @Test func save_intoAMissingDirectory_isNotFound() throws {
        let graph = Graph()
        let saver = try graph.asDefault {
            _ = Variable([Float(1)], name: "v")
            return try Saver()
        }
        try Session(graph: graph).run { session in
            try session.run(graph.asDefault { globalVariablesInitializer() })
            let path = "/tmp/weft-no-such-directory-\(UUID().uuidString)/deeper/model"
            let error = try #require(throws: WeftError.self) { try saver.save(session, to: path) }
            #expect(error == WeftError(.notFound, "Parent directory of \(path) doesn't exist, can't save."))
        }
    }

    @Test func saver_ofVariablesOfTwoGraphs_isInvalidArgument() {
        let first = Graph().asDefault { Variable([Float(1)], name: "a") }
        let second = Graph().asDefault { Variable([Float(1)], name: "b") }
        #expect(throws: WeftError(.invalidArgument, "the variable 'b' belongs to another graph than the others")) {
            try Saver(variables: [first, second])
        }
    }

    @Test func saver_withoutVariables_isInvalidArgument() {
        #expect(throws: WeftError(.invalidArgument, "No variables to save")) { try Graph().asDefault { try Saver() } }
    }

    @Test func restore_ofAnotherShape_fails() throws {
        let directory = try temporaryDirectory("shape")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = Graph()
        let saver = try first.asDefault {
            _ = Variable([Float(1), 2], name: "v")
            return try Saver()
        }
        try Session(graph: first).run { session in
            try session.run(first.asDefault { globalVariablesInitializer() })
            try saver.save(session, to: directory + "/model")
        }
        let second = Graph()
        let other = try second.asDefault {
            _ = Variable([Float(1), 2, 3], name: "v")
            return try Saver()
        }
        #expect(throws: WeftError.self) { try other.restore(Session(graph: second), from: directory + "/model") }
    }

    @Test func sharded_writesAShardPerDevice_andRestores() throws {
        let directory = try temporaryDirectory("sharded")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let graph = Graph()
        let (a, b, saver) = try graph.asDefault {
            let a = graph.device("/job:ps/task:0") { Variable([Float(1), 2], name: "a") }
            let b = graph.device("/job:ps/task:1") { Variable([Int32(3)], name: "b") }
            return (a, b, try Saver(sharded: true))
        }
        try Session(graph: graph).run { session in
            try session.run(graph.asDefault { globalVariablesInitializer() })
            #expect(try saver.save(session, to: directory + "/model", globalStep: 1) == directory + "/model-1")
        }
        let reader = try TensorBundle.Reader(prefix: directory + "/model-1")
        #expect(reader.header.numShards == 2)
        #expect(reader.entries["a"]?.shardID == 0)
        #expect(reader.entries["b"]?.shardID == 1)
        #expect(!FileManager.default.fileExists(atPath: directory + "/model-1_temp"))
        let (status, output) = try Fixtures.runWeft(["checkpoint", "inspect", directory, "--verify"])
        #expect(status == 0, "\(output)")
        let listing = output.split(separator: "\n")
        #expect(listing.contains { $0.hasPrefix("a ") && $0.contains(" shard 0 ") })
        #expect(listing.contains { $0.hasPrefix("b ") && $0.contains(" shard 1 ") })
        #expect(listing.last == "2 tensors, 12 bytes in 2 shard(s), every checksum verified")
        try Session(graph: graph).run { session in
            try saver.restore(session, from: directory + "/model-1")
            #expect(try session.run(a).scalars(as: Float.self) == [1, 2])
            #expect(try session.run(b).scalars(as: Int32.self) == [3])
        }
    }

    @Test func inspect_listsEveryTensorWithItsChecksum() throws {
        let (status, output) = try Fixtures.runWeft(["checkpoint", "inspect", Self.tensorFlowDirectory, "--verify"])
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").map(String.init)
        let reader = try TensorBundle.Reader(prefix: Self.tensorFlowDirectory + "/model-7")
        for summary in reader.summaries {
            let line = try #require(lines.first { $0.hasPrefix(summary.name + " ") }, "\(summary.name)")
            let dtype = try #require(summary.dtype)
            #expect(line.contains(" \(dtype.name) "))
            #expect(line.contains(InspectFormat.hex(summary.crc32c)))
        }
        #expect(lines.contains { $0.contains("w ") && $0.contains("float32  [2,3]") })
        #expect(lines.last?.hasPrefix("6 tensors") == true)
        #expect(lines.last?.contains("every checksum verified") == true)
    }

    @Test func inspect_ofACorruptCheckpoint_fails() throws {
        let directory = try temporaryDirectory("corrupt")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for file in ["model-7.index", "model-7.data-00000-of-00001"] {
            try FileManager.default.copyItem(
                atPath: Self.tensorFlowDirectory + "/" + file,
                toPath: directory + "/" + file
            )
        }
        let data = directory + "/model-7.data-00000-of-00001"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: data))
        bytes[0] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: data))
        let listed = try Fixtures.runWeft(["checkpoint", "inspect", directory + "/model-7"])
        #expect(listed.status == 0)
        let verified = try Fixtures.runWeft(["checkpoint", "inspect", directory + "/model-7.index", "--verify"])
        #expect(verified.status != 0)
        #expect(verified.output.contains("Checksum does not match"))
    }
}

/// The checksum as `weft checkpoint inspect` prints it.
enum InspectFormat {
    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "crc32c=0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
