import Foundation
import Testing
import WeftProto
import WeftTestKit

@testable import WeftRuntime

/// A fresh folder for one test's checkpoint files.
private func scratch() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("weft-ckpt-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

/// The checkpoint TensorFlow wrote (`scripts/conformance/cases_checkpoint.py`).
private let fixture = Fixtures.conformance.appendingPathComponent("checkpoints/tf_mixed").path

/// The tensors of `fixture`, as TensorFlow saved them.
private func fixtureTensors() throws -> [(String, Tensor)] {
    let cube = (0..<24).map { Double($0) / 7 }
    return [
        ("a_float", Tensor([Float(1.5), -2.25, 3.0e-8])),
        ("b_int64", try Tensor([Int64(1), -2, 1 << 40, -(1 << 62)], shape: [2, 2])),
        ("c_string", try Tensor(strings: [[], Array("hello".utf8), Array("hé".utf8), [0, 255]], shape: [4])),
        ("d_bool", Tensor([true, false, true])),
        ("e_cube", try Tensor(cube, shape: [2, 3, 4])),
        ("f_empty", try Tensor([Float](), shape: [0, 3])),
        ("g_scalar_string", try Tensor(strings: ["scalar"], shape: .scalar)),
        ("h_int32", Tensor(Int32(-7))),
    ]
}

private func write(_ tensors: [(String, Tensor)], to prefix: String) throws {
    var writer = try TensorBundle.Writer(prefix: prefix)
    for (name, tensor) in tensors { try writer.add(name, tensor) }
    try writer.finish()
}

/// The error reading every tensor of `prefix`, or nil when all read and equal `expected`.
private func readError(_ prefix: String, expected: [(String, Tensor)]) -> WeftError? {
    do throws(WeftError) {
        let reader = try TensorBundle.Reader(prefix: prefix)
        for (name, tensor) in expected where try reader.tensor(name) != tensor {
            return WeftError(.internal, "\(name) read back different")
        }
        return nil
    } catch {
        return error
    }
}

@Suite struct CheckpointTests {
    @Test func crc32cKnownValues() {
        // RFC 3720's test vector, and the masking TensorFlow applies (mask, then unmask).
        #expect(Crc32c.extend(0, Array(repeating: UInt8(0), count: 32)) == 0x8A91_36AA)
        #expect(Crc32c.extend(0, Array("123456789".utf8)) == 0xE306_9283)
        #expect(Crc32c.unmask(Crc32c.mask(0x1234_5678)) == 0x1234_5678)
        #expect(Crc32c.mask(0x1234_5678) != 0x1234_5678)
    }

    @Test func everyDTypeRoundTrips() throws {
        var tensors: [(String, Tensor)] = []
        for dtype in DType.allCases where !dtype.isObject {
            let tensor = Tensor(uninitialized: dtype, shape: [2, 3])
            let bytes = UnsafeMutableRawBufferPointer(start: tensor.buffer.base, count: tensor.byteCount)
            for index in bytes.indices {
                bytes[index] = dtype == .bool ? UInt8(index % 2) : UInt8(truncatingIfNeeded: index &* 37 &+ 11)
            }
            tensors.append(("t_\(dtype)", tensor))
        }
        let long = [UInt8](repeating: 7, count: 300)  // a two-byte length varint
        tensors.append(("strings", try Tensor(strings: [[], long, Array("ü".utf8), [0]], shape: [2, 2])))
        tensors.append(("empty_strings", try Tensor(strings: [[UInt8]](), shape: [0])))
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let prefix = directory + "/model"
        try write(tensors, to: prefix)
        #expect(readError(prefix, expected: tensors) == nil)
    }

    @Test func readsTensorFlowsCheckpoint() throws {
        #expect(readError(fixture, expected: try fixtureTensors()) == nil)
        let reader = try TensorBundle.Reader(prefix: fixture)
        #expect(reader.entries.count == 8)
        #expect(reader.header.numShards == 1)
    }

    @Test func writesTensorFlowsBytes() throws {
        // Same tensors, same order: the files must be TensorFlow's byte for byte.
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let prefix = directory + "/model"
        try write(try fixtureTensors(), to: prefix)
        for suffix in [".index", ".data-00000-of-00001"] {
            let ours = try Data(contentsOf: URL(fileURLWithPath: prefix + suffix))
            let theirs = try Data(contentsOf: URL(fileURLWithPath: fixture + suffix))
            #expect(ours == theirs, "\(suffix) differs from TensorFlow's")
        }
    }

    @Test func manyEntriesSpanSeveralBlocks() throws {
        // Over 256 KiB of index entries: several data blocks, shortened index keys, restarts.
        let names = (0..<20000).map { "layer_\($0 % 97)/some/variable/name/\($0)" }
        let tensors = names.sorted().map { ($0, Tensor(Int32($0.count))) }
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let prefix = directory + "/model"
        try write(tensors, to: prefix)
        let indexSize = try FileManager.default.attributesOfItem(atPath: prefix + ".index")[.size] as? Int
        #expect((indexSize ?? 0) > 256 * 1024)
        #expect(readError(prefix, expected: tensors) == nil)
    }

    @Test func flippedBytesAreDataLoss() throws {
        let expected = try fixtureTensors()
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for suffix in [".index", ".data-00000-of-00001"] {
            let original = try Data(contentsOf: URL(fileURLWithPath: fixture + suffix))
            for position in original.indices {
                let prefix = directory + "/flip"
                try FileManager.default.copyItem(atPath: fixture + ".index", toPath: prefix + ".index")
                try FileManager.default.copyItem(
                    atPath: fixture + ".data-00000-of-00001",
                    toPath: prefix + ".data-00000-of-00001"
                )
                var corrupted = original
                corrupted[position] ^= 0x40
                try corrupted.write(to: URL(fileURLWithPath: prefix + suffix))
                let error = readError(prefix, expected: expected)
                // The footer's padding is the only unchecked part of the files.
                let inPadding = suffix == ".index" && position >= original.count - 48 && position < original.count - 8
                if inPadding {
                    #expect(error == nil || error?.code == .dataLoss)
                } else {
                    #expect(error?.code == .dataLoss, "byte \(position) of \(suffix): \(String(describing: error))")
                }
                try FileManager.default.removeItem(atPath: prefix + ".index")
                try FileManager.default.removeItem(atPath: prefix + ".data-00000-of-00001")
            }
        }
    }

    @Test func truncatedFilesAreDataLoss() throws {
        let expected = try fixtureTensors()
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for suffix in [".index", ".data-00000-of-00001"] {
            let original = try Data(contentsOf: URL(fileURLWithPath: fixture + suffix))
            for length in [0, 1, original.count / 2, original.count - 1] {
                let prefix = directory + "/cut\(length)\(suffix)"
                try FileManager.default.copyItem(atPath: fixture + ".index", toPath: prefix + ".index")
                try FileManager.default.copyItem(
                    atPath: fixture + ".data-00000-of-00001",
                    toPath: prefix + ".data-00000-of-00001"
                )
                try original.prefix(length).write(to: URL(fileURLWithPath: prefix + suffix))
                #expect(readError(prefix, expected: expected)?.code == .dataLoss, "\(suffix) cut to \(length)")
            }
        }
    }

    @Test func hugeEntriesAreRefusedBeforeAllocating() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let prefix = directory + "/huge"
        try write([("small", Tensor([Float(1)]))], to: prefix)
        func entry(_ dtype: DType, _ shape: TensorShape, size: Int64) -> Tensorflow_BundleEntryProto {
            var entry = Tensorflow_BundleEntryProto()
            entry.dtype = dtype.proto
            entry.shape = shape.proto
            entry.size = size
            return entry
        }
        let entries = [
            "floats": entry(.float, [1 << 58], size: 1 << 60),
            "overflow": entry(.double, [1 << 40, 1 << 40], size: 4),
            "strings": entry(.string, [1 << 40], size: 4),
            "past_end": entry(.float, [1], size: 4),
        ]
        var moved = entries
        moved["past_end"]?.offset = 1 << 50
        try TensorBundle.writeIndex(prefix: prefix, header: TensorBundle.header(shards: 1), entries: moved)
        let reader = try TensorBundle.Reader(prefix: prefix)
        for name in entries.keys {
            #expect(throws: WeftError.self) { try reader.tensor(name) }
            #expect(throwsCode(.dataLoss) { _ = try reader.tensor(name) }, "\(name)")
        }
    }

    @Test func missingCheckpointAndKeyAreNotFound() throws {
        #expect(throwsCode(.notFound) { _ = try TensorBundle.Reader(prefix: "/nonexistent-weft-folder/none") })
        let reader = try TensorBundle.Reader(prefix: fixture)
        #expect(throwsCode(.notFound) { _ = try reader.tensor("no_such_tensor") })
    }

    @Test func saveAndRestoreKernels() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let prefix = try Tensor(strings: [directory + "/model"], shape: .scalar)
        let names = try Tensor(strings: ["b", "a"], shape: [2])
        let slices = try Tensor(strings: ["", ""], shape: [2])
        let a = Tensor([Int64(3), 4])
        let b = try Tensor(strings: ["x"], shape: [1])
        _ = try KernelHarness.run(
            "SaveV2",
            [prefix, names, slices, b, a],
            ["dtypes": types([.string, .int64])],
            setT: false
        )
        let restored = try KernelHarness.run(
            "RestoreV2",
            [prefix, try Tensor(strings: ["a", "b"], shape: [2]), slices],
            ["dtypes": types([.int64, .string])],
            setT: false
        )
        #expect(restored.count == 2 && restored[0] == a && restored[1] == b)
        let wrongType = KernelHarness.error(
            "RestoreV2",
            [prefix, try Tensor(strings: ["a"], shape: [1]), try Tensor(strings: [""], shape: [1])],
            ["dtypes": types([.float])]
        )
        #expect(wrongType?.code == .invalidArgument)
        let sliced = KernelHarness.error(
            "SaveV2",
            [prefix, try Tensor(strings: ["a"], shape: [1]), try Tensor(strings: ["2 0,1"], shape: [1]), a]
        )
        #expect(sliced?.code == .unimplemented)
        let duplicate = KernelHarness.error(
            "SaveV2",
            [prefix, try Tensor(strings: ["a", "a"], shape: [2]), slices, a, a]
        )
        #expect(duplicate?.code == .invalidArgument)
    }

    @Test func mergeJoinsShards() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try write([("x", Tensor([Float(1), 2]))], to: directory + "/tmp/part-00000-of-00002")
        try write([("y", try Tensor(strings: ["why"], shape: [1]))], to: directory + "/tmp/part-00001-of-00002")
        let sources = try Tensor(
            strings: [directory + "/tmp/part-00000-of-00002", directory + "/tmp/part-00001-of-00002"],
            shape: [2]
        )
        let destination = try Tensor(strings: [directory + "/model"], shape: .scalar)
        _ = try KernelHarness.run("MergeV2Checkpoints", [sources, destination], setT: false)
        #expect(
            readError(
                directory + "/model",
                expected: [("x", Tensor([Float(1), 2])), ("y", try Tensor(strings: ["why"], shape: [1]))]
            )
                == nil
        )
        #expect(FileManager.default.fileExists(atPath: directory + "/model.data-00001-of-00002"))
        #expect(
            !FileManager.default.fileExists(atPath: directory + "/tmp"),
            "delete_old_dirs removes the emptied folder"
        )
    }

    @Test func shardedNames() throws {
        let base = try Tensor(strings: ["/ckpt/model"], shape: .scalar)
        let name = try KernelHarness.run1(
            "ShardedFilename",
            [base, Tensor(Int32(3)), Tensor(Int32(123456))],
            setT: false
        )
        #expect(name.strings == [Array("/ckpt/model-00003-of-123456".utf8)])
        let spec = try KernelHarness.run1("ShardedFilespec", [base, Tensor(Int32(12))], setT: false)
        #expect(spec.strings == [Array("/ckpt/model-?????-of-00012".utf8)])
    }

    private func types(_ dtypes: [DType]) -> Tensorflow_AttrValue {
        var value = Tensorflow_AttrValue()
        value.list.type = dtypes.map(\.proto)
        return value
    }

    private func throwsCode(_ code: WeftError.Code, _ body: () throws -> Void) -> Bool {
        do {
            try body()
            return false
        } catch let error as WeftError {
            return error.code == code
        } catch {
            return false
        }
    }
}
