import Foundation
import Testing
import WeftTestKit

@testable import Weft

/// `weft run --feed NAME=FILE.npy --init OP --steps N`, with files written by NumPy itself.
@Suite struct RunFeedsTests {
    /// `y = x * 2` on a fed float `x`, `j = i` on a fed int32 `i`, and a variable `v` that only
    /// `v_init` sets to 2.
    static let graph = """
        node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } }
        node { name: "i" op: "Placeholder" attr { key: "dtype" value { type: DT_INT32 } } }
        node { name: "two" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }
          attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 2 } } } }
        node { name: "y" op: "Mul" input: "x" input: "two" attr { key: "T" value { type: DT_FLOAT } } }
        node { name: "j" op: "Identity" input: "i" attr { key: "T" value { type: DT_INT32 } } }
        node { name: "v" op: "VariableV2" attr { key: "dtype" value { type: DT_FLOAT } }
          attr { key: "shape" value { shape {} } } }
        node { name: "v_init" op: "Assign" input: "v" input: "two" attr { key: "T" value { type: DT_FLOAT } } }
        node { name: "z" op: "Identity" input: "v" attr { key: "T" value { type: DT_FLOAT } } }
        """

    /// A folder with the graph and NumPy files made by `script` (Python with `np` and `d`, the folder).
    private func folder(_ script: String) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("weft-feeds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Self.graph.write(to: folder.appendingPathComponent("graph.pbtxt"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import sys, numpy as np\nd = sys.argv[1]\n" + script, folder.path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestFailure("python3 with numpy failed: run scripts/install-deps")
        }
        return folder
    }

    @Test func feedsFromEveryNpyVersion_initAndSteps() throws {
        let folder = try folder(
            """
            x = np.array([[1.5, 2], [3, 4]], dtype=np.float32)
            np.save(d + "/x1.npy", x)
            for v in (2, 3):
                with open(d + "/x%d.npy" % v, "wb") as f:
                    np.lib.format.write_array(f, x, version=(v, 0))
            np.save(d + "/i.npy", np.array([7, -8, 9], dtype=np.int32))
            """
        )
        defer { try? FileManager.default.removeItem(at: folder) }
        let graph = folder.appendingPathComponent("graph.pbtxt").path
        for version in 1...3 {
            let (status, output) = try Fixtures.runWeft([
                "run", graph, "--local", "--fetch", "y:0", "--fetch", "j", "--fetch", "z", "--feed",
                "x:0=\(folder.path)/x\(version).npy", "--feed", "i=\(folder.path)/i.npy", "--init", "v_init",
                "--steps", "3",
            ])
            #expect(status == 0, "\(output)")
            let y = try Tensor([Float(3), 4, 6, 8], shape: [2, 2])
            #expect(output.contains("y:0 = \(y)"), "\(output)")
            #expect(output.contains("j = \(try Tensor([Int32(7), -8, 9], shape: [3]))"), "\(output)")
            #expect(output.contains("z = \(Tensor(Float(2)))"), "\(output)")
            for step in 1...3 { #expect(output.contains("step \(step): "), "\(output)") }
            #expect(!output.contains("step 4: "))
            #expect(output.contains("3 steps: min "), "\(output)")
        }
        // Without --init the variable has no value: the flag is what ran it.
        let (status, output) = try Fixtures.runWeft(["run", graph, "--local", "--fetch", "z"])
        #expect(status != 0 && output.contains("failedPrecondition"), "\(output)")
    }

    @Test func badNpyFiles_failWithInvalidArgumentNamingTheFile() throws {
        let folder = try folder(
            """
            good = open(d + "/good.npy", "wb"); np.save(good, np.zeros((2, 2), np.float32)); good.close()
            raw = open(d + "/good.npy", "rb").read()
            open(d + "/truncated.npy", "wb").write(raw[:-3])
            open(d + "/headerless.npy", "wb").write(raw[:9])
            open(d + "/magic.npy", "wb").write(b"NOTNUMPY" + raw[8:])
            np.save(d + "/bigendian.npy", np.zeros((2, 2), ">f4"))
            np.save(d + "/fortran.npy", np.asfortranarray(np.zeros((2, 3), np.float32)))
            np.save(d + "/objects.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
            np.save(d + "/strings.npy", np.array(["ab"]))
            with open(d + "/huge.npy", "wb") as f:
                header = {"descr": "<f4", "fortran_order": False, "shape": (2**62, 4)}
                np.lib.format.write_array_header_1_0(f, header)
                f.write(bytes(16))
            np.save(d + "/bool.npy", np.array([True, False]))
            b = bytearray(open(d + "/bool.npy", "rb").read()); b[-1] = 2
            open(d + "/badbool.npy", "wb").write(bytes(b))
            """
        )
        defer { try? FileManager.default.removeItem(at: folder) }
        let graph = folder.appendingPathComponent("graph.pbtxt").path
        let cases = [
            "truncated": "needs 16 bytes of data, the file holds 13",
            "headerless": "header",
            "magic": "magic string",
            "bigendian": "big-endian",
            "fortran": "Fortran order",
            "objects": "'|O'",
            "strings": "'<U2'",
            "huge": "needs more bytes than any file holds",
            "badbool": "not 0 or 1",
            "missing": "cannot read the NumPy file",
        ]
        for (name, reason) in cases {
            let file = "\(folder.path)/\(name).npy"
            let (status, output) = try Fixtures.runWeft([
                "run", graph, "--local", "--fetch", "y", "--feed", "x=\(file)",
            ])
            #expect(status != 0, "\(name): \(output)")
            #expect(output.contains("invalidArgument") && output.contains(file), "\(name): \(output)")
            #expect(output.contains(reason), "\(name): \(output)")
            #expect(!output.contains("Fatal error"), "\(name): \(output)")
        }
        let (status, output) = try Fixtures.runWeft(["run", graph, "--local", "--fetch", "y", "--feed", "x"])
        #expect(status != 0 && output.contains("NAME=FILE.npy"), "\(output)")
    }

    @Test func header_parsesNumPysDictionary() throws {
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }"
        let padded = dict + String(repeating: " ", count: 63 - dict.utf8.count) + "\n"
        bytes += [UInt8(padded.utf8.count), 0] + Array(padded.utf8)
        bytes += [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        let tensor = try Tensor(numpy: Data(bytes), source: "test.npy")
        #expect(tensor == (try Tensor([Int64(1), 2, -1], shape: [3])))
        #expect(throws: WeftError.self) { try Tensor(numpy: Data(bytes.dropLast()), source: "short.npy") }
    }
}
