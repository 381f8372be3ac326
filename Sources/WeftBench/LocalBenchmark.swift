import CBLAS
import Foundation
import Weft
import WeftRuntime

/// `weft bench local`: the cost of a local step that reads a variable, and MatMul through a
/// session against a direct `cblas_sgemm` call on the same sizes.
public enum LocalBenchmark {
    /// Timing of one measured operation.
    public struct Timing: Sendable {
        /// What was measured.
        public var name: String
        /// Seconds per call, summarised.
        public var statistics: Statistics
        /// Floating-point operations per call, for GFLOP/s; zero when not meaningful.
        public var flops: Double

        /// Billions of floating-point operations per second at the median.
        public var gigaflops: Double { flops / statistics.median / 1e9 }
    }

    /// Times `body` `iterations` times after `warmup` untimed calls.
    public static func measure(
        _ name: String,
        iterations: Int,
        warmup: Int,
        flops: Double = 0,
        _ body: () throws -> Void
    ) rethrows -> Timing {
        Timing(
            name: name,
            statistics: Statistics(try samples(iterations: iterations, warmup: warmup, body)),
            flops: flops
        )
    }

    /// Seconds each of `iterations` calls of `body` took, after `warmup` untimed calls.
    static func samples(iterations: Int, warmup: Int, _ body: () throws -> Void) rethrows -> [Double] {
        for _ in 0..<warmup { try body() }
        var samples: [Double] = []
        samples.reserveCapacity(iterations)
        let clock = ContinuousClock()
        for _ in 0..<iterations {
            let start = clock.now
            try body()
            samples.append((clock.now - start) / .seconds(1))
        }
        return samples
    }

    /// `sess.run(variable)` on the seed graph (`foo` = 42, initialised).
    public static func seedRead(iterations: Int) throws -> Timing {
        let graph = Graph()
        let (variable, initialize) = graph.asDefault { () -> (Variable, Weft.Operation) in
            let variable = Variable(42, name: "foo")
            return (variable, globalVariablesInitializer())
        }
        let session = Session(graph: graph)
        defer { session.close() }
        try session.run(initialize)
        return try measure("seed read: sess.run(foo)", iterations: iterations, warmup: 1000) {
            _ = try session.run(variable)
        }
    }

    /// A `size`³ float MatMul through a session (inputs fed as constants of the graph).
    public static func sessionMatMul(size: Int, iterations: Int) throws -> Timing {
        let graph = Graph()
        let (a, b) = (randomMatrix(size), randomMatrix(size))
        let product = graph.asDefault { matMul(constant(a, name: "a"), constant(b, name: "b")) }
        // The kernel is what is measured: constant folding would compute the product only once.
        let session = Session(graph: graph, optimizations: .none)
        defer { session.close() }
        return try measure(
            "session MatMul \(size)x\(size)x\(size)",
            iterations: iterations,
            warmup: 2,
            flops: 2 * pow(Double(size), 3)
        ) { _ = try session.run(product) }
    }

    /// The same product by a direct `cblas_sgemm` call into a preallocated buffer, with one
    /// OpenBLAS thread per core, as a program that calls OpenBLAS itself gets by default (Weft
    /// keeps OpenBLAS single-threaded and splits large products itself).
    public static func directSgemm(size: Int, iterations: Int) -> Timing {
        let threads = openblas_get_num_threads()
        openblas_set_num_threads(Int32(ProcessInfo.processInfo.activeProcessorCount))
        defer { openblas_set_num_threads(threads) }
        let (a, b) = (randomMatrix(size), randomMatrix(size))
        let c = Tensor(uninitialized: .float, shape: [size, size])
        let n = Int32(size)
        let (pa, pb, pc) = (
            a.buffer.base.assumingMemoryBound(to: Float.self), b.buffer.base.assumingMemoryBound(to: Float.self),
            c.buffer.base.assumingMemoryBound(to: Float.self)
        )
        return measure(
            "direct cblas_sgemm \(size)x\(size)x\(size)",
            iterations: iterations,
            warmup: 2,
            flops: 2 * pow(Double(size), 3)
        ) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, pa, n, pb, n, 0, pc, n)
        }
    }

    static func randomMatrix(_ size: Int) -> Tensor {
        var generator = SystemRandomNumberGenerator()
        let values = (0..<size * size).map { _ in Float.random(in: -1...1, using: &generator) }
        return try! Tensor(values, shape: [size, size])  // the count matches the shape
    }
}
