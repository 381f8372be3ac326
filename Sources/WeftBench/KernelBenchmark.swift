import CBLAS
import Foundation
import Weft
import WeftRuntime

/// `weft bench local --kernels`: Conv2D against `cblas_sgemm` on the product it unrolls to, and
/// element-wise ops and a reduction against `memcpy` bandwidth, in the same run.
public enum KernelBenchmark {
    /// A graph of placeholders feeding one node, loaded from TensorFlow's text form.
    private static func graph(_ nodes: String) throws -> Graph {
        try Graph(graphDefText: nodes)
    }

    private static func placeholder(_ name: String) -> String {
        "node { name: \"\(name)\" op: \"Placeholder\" attr { key: \"dtype\" value { type: DT_FLOAT } } }\n"
    }

    private static func random(_ shape: TensorShape) throws -> Tensor {
        var generator = SystemRandomNumberGenerator()
        return try Tensor((0..<shape.elementCount).map { _ in Float.random(in: -1...1, using: &generator) }, shape: shape)
    }

    /// Conv2D, NHWC, SAME, stride 1, on `input` with `filter` [h, w, in, out] through a session.
    public static func conv2D(input: TensorShape, filter: TensorShape, iterations: Int) throws -> LocalBenchmark.Timing {
        let text =
            placeholder("x") + placeholder("w")
            + """
            node { name: "y" op: "Conv2D" input: "x" input: "w"
              attr { key: "T" value { type: DT_FLOAT } }
              attr { key: "strides" value { list { i: 1 i: 1 i: 1 i: 1 } } }
              attr { key: "padding" value { s: "SAME" } } }
            """
        let session = Session(graph: try graph(text))
        defer { session.close() }
        let feeds = ["x:0": try random(input), "w:0": try random(filter)]
        let (dims, f) = (input.dimensions, filter.dimensions)
        let flops = 2.0 * Double(dims[0] * dims[1] * dims[2]) * Double(f[0] * f[1] * f[2] * f[3])
        return try LocalBenchmark.measure("session Conv2D \(input) * \(filter)", iterations: iterations, warmup: 2, flops: flops) {
            _ = try session.run(fetches: ["y:0"], feeds: feeds)
        }
    }

    /// `cblas_sgemm` of the product Conv2D unrolls to: (N·H·W) × (kh·kw·in) by (kh·kw·in) × out.
    public static func unrolledSgemm(input: TensorShape, filter: TensorShape, iterations: Int) -> LocalBenchmark.Timing {
        let (dims, f) = (input.dimensions, filter.dimensions)
        let (m, k, n) = (dims[0] * dims[1] * dims[2], f[0] * f[1] * f[2], f[3])
        let a = Tensor(uninitialized: .float, shape: [m, k])
        let b = Tensor(uninitialized: .float, shape: [k, n])
        let c = Tensor(uninitialized: .float, shape: [m, n])
        a.buffer.base.initializeMemory(as: Float.self, repeating: 0.5, count: m * k)
        b.buffer.base.initializeMemory(as: Float.self, repeating: 0.25, count: k * n)
        let (pa, pb, pc) = (
            a.buffer.base.assumingMemoryBound(to: Float.self), b.buffer.base.assumingMemoryBound(to: Float.self),
            c.buffer.base.assumingMemoryBound(to: Float.self)
        )
        return LocalBenchmark.measure(
            "direct cblas_sgemm \(m)x\(k)x\(n)",
            iterations: iterations,
            warmup: 2,
            flops: 2.0 * Double(m) * Double(k) * Double(n)
        ) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, pa, Int32(k), pb, Int32(n), 0, pc, Int32(n))
        }
    }

    /// Bytes per second of `memcpy` over `count` floats.
    public static func memcpyBandwidth(count: Int, iterations: Int) -> Double {
        let source = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
        let target = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
        defer {
            source.deallocate()
            target.deallocate()
        }
        source.initializeMemory(as: UInt8.self, repeating: 1, count: count * 4)
        let timing = LocalBenchmark.measure("memcpy", iterations: iterations, warmup: 2) {
            target.copyMemory(from: source, byteCount: count * 4)
        }
        return 2.0 * Double(count * 4) / timing.statistics.median
    }

    /// Bytes per second an element-wise op or reduction on `count` floats moves through a
    /// session (each input read once, the output written once).
    public static func elementwise(_ op: String, count: Int, iterations: Int) throws -> (name: String, bytesPerSecond: Double) {
        let binary = ["AddV2", "Mul"].contains(op)
        var text = placeholder("x") + (binary ? placeholder("y") : "")
        let reduction = op == "Sum"
        if reduction {
            text += "node { name: \"axes\" op: \"Const\" attr { key: \"dtype\" value { type: DT_INT32 } } attr { key: \"value\" value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 1 } } int_val: 0 } } } }\n"
        }
        let inputs = binary ? "input: \"x\" input: \"y\"" : reduction ? "input: \"x\" input: \"axes\"" : "input: \"x\""
        text += "node { name: \"z\" op: \"\(op)\" \(inputs) attr { key: \"T\" value { type: DT_FLOAT } }"
            + (reduction ? " attr { key: \"Tidx\" value { type: DT_INT32 } } }" : " }")
        let session = Session(graph: try graph(text))
        defer { session.close() }
        var feeds = ["x:0": try random([count])]
        if binary { feeds["y:0"] = try random([count]) }
        let timing = try LocalBenchmark.measure(op, iterations: iterations, warmup: 2) {
            _ = try session.run(fetches: ["z:0"], feeds: feeds)
        }
        let bytes = Double(count * 4) * (binary ? 3 : reduction ? 1 : 2)
        return ("\(op) on \(count) floats", bytes / timing.statistics.median)
    }
}
