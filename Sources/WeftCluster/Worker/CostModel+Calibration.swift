import Weft
import WeftPlacement
import WeftRuntime

/// A worker measures its own rates at start-up and reports them to the coordinator, whose cost
/// model then prices each device by what it measured.
extension CostModel {
    /// The rates of this machine, measured by running small graphs in a local session.
    /// The tensors it makes are freed afterwards, with malloc's free pages, so an idle worker
    /// does not keep the calibration's megabytes.
    public static func measureRates() throws(WeftError) -> Rates {
        defer { TensorMemory.releaseUnused() }
        let size = 256
        let matMulSeconds = try fastest(of: 5) { () throws(WeftError) -> Graph in
            let graph = Graph()
            graph.asDefault {
                // count matches
                let a = constant(try! Tensor([Float](repeating: 0.5, count: size * size), shape: [size, size]))
                _ = matMul(a, a, name: "product")
            }
            return graph
        }
        let elements = 2 << 20
        let addSeconds = try fastest(of: 5) { () throws(WeftError) -> Graph in
            let graph = Graph()
            graph.asDefault {
                let x = constant(Tensor([Float](repeating: 1, count: elements)))
                _ = add(x, x, name: "product")
            }
            return graph
        }
        let chain = 200
        let chainSeconds = try fastest(of: 5) { () throws(WeftError) -> Graph in
            let graph = Graph()
            graph.asDefault {
                let one = constant(Float(1))
                var value = one
                for _ in 0..<chain { value = add(value, one) }
                _ = identity(value, name: "product")
            }
            return graph
        }
        let perOp = max(chainSeconds / Double(chain), 1e-7)
        return Rates(
            flopsPerSecond: 2 * Double(size * size * size) / max(matMulSeconds - perOp, 1e-7),
            bytesPerSecond: Double(3 * elements * 4) / max(addSeconds - perOp, 1e-7),
            secondsPerOp: perOp
        )
    }

    /// The fastest of `runs` timed runs of the graph's `product` node, after a warm-up run.
    private static func fastest(of runs: Int, _ build: () throws(WeftError) -> Graph) throws(WeftError) -> Double {
        let graph = try build()
        let session = Session(graph: graph)
        defer { session.close() }
        let product = try graph.tensor(named: "product")
        _ = try session.run(product)
        let clock = ContinuousClock()
        var best = Double.infinity
        for _ in 0..<runs {
            let start = clock.now
            _ = try session.run(product)
            best = min(best, (clock.now - start) / .seconds(1))
        }
        return best
    }
}
