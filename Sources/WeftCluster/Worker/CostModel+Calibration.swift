import Foundation
import Weft
import WeftPlacement
import WeftRuntime

/// A worker measures its own rates at start-up and reports them to the coordinator, whose cost
/// model then prices each device by what it measured.
extension CostModel {
    /// The rates of this machine, measured by running small graphs in a local session, and its
    /// cores, which every worker on the machine shares. Inputs are fed, not constants, so the
    /// executor cannot fold the work away before it is timed.
    /// The tensors it makes are freed afterwards, with malloc's free pages, so an idle worker
    /// does not keep the calibration's megabytes.
    public static func measureRates() throws(WeftError) -> Rates {
        defer { TensorMemory.releaseUnused() }
        let size = 256
        let matrix = try Tensor([Float](repeating: 0.5, count: size * size), shape: [size, size])
        let matMulSeconds = try fastest(of: 5, feeding: matrix) { x in matMul(x, x, name: "product") }
        let elements = 2 << 20
        let vector = Tensor([Float](repeating: 1, count: elements))
        let addSeconds = try fastest(of: 5, feeding: vector) { x in add(x, x, name: "product") }
        let chain = 200
        let chainSeconds = try fastest(of: 5, feeding: Tensor(Float(1))) { x in
            var value = x
            for _ in 0..<chain { value = add(value, x) }
            return identity(value, name: "product")
        }
        let perOp = max(chainSeconds / Double(chain), 1e-7)
        return Rates(
            flopsPerSecond: 2 * Double(size * size * size) / max(matMulSeconds - perOp, 1e-7),
            bytesPerSecond: Double(3 * elements * 4) / max(addSeconds - perOp, 1e-7),
            secondsPerOp: perOp,
            cores: ProcessInfo.processInfo.activeProcessorCount
        )
    }

    /// The fastest of `runs` timed runs of the graph `build` makes from a placeholder fed
    /// `input`, after a warm-up run.
    private static func fastest(of runs: Int, feeding input: Tensor, _ build: (Output) -> Output) throws(WeftError)
        -> Double
    {
        let graph = Graph()
        let (x, product) = graph.asDefault { () -> (Output, Output) in
            let x = placeholder(input.dtype, shape: input.shape.dimensions.map { $0 }, name: "input")
            return (x, build(x))
        }
        let session = Session(graph: graph)
        defer { session.close() }
        _ = try session.run(product, feeding: [x: input])
        let clock = ContinuousClock()
        var best = Double.infinity
        for _ in 0..<runs {
            let start = clock.now
            _ = try session.run(product, feeding: [x: input])
            best = min(best, (clock.now - start) / .seconds(1))
        }
        return best
    }
}
