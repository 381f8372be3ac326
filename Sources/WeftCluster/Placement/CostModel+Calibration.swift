import Weft
import WeftRuntime
import WeftTransport

extension CostModel {
    /// A model whose rates are measured on this machine, through Weft's own kernels: a 256³
    /// float `MatMul` for arithmetic, an `AddV2` over 8 MB tensors for memory bandwidth, and a
    /// chain of scalar adds for the per-op overhead (each the fastest of a few runs). With
    /// `includingLink`, the link is measured too: round trips and bulk throughput to a ZeroMQ echo
    /// server on loopback, the path that workers on one host use. Takes well under a second.
    public static func calibrated(includingLink: Bool = true) throws(WeftError) -> CostModel {
        var model = CostModel(rates: try measureRates(), link: CostModel.default.link)
        if includingLink {
            let server = try RawZeroMQBenchmark.serveEcho(listen: "tcp://127.0.0.1:0")
            defer { server.close() }
            model.link = try measureLink(toEchoServer: server.address)
        }
        return model
    }

    /// The rates of this machine, measured by running small graphs in a local session.
    public static func measureRates() throws(WeftError) -> Rates {
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

    /// The link to a `RawZeroMQBenchmark` echo server at `address`: half the median round trip
    /// of a small message as latency, and the throughput of 4 MB messages as bandwidth.
    public static func measureLink(toEchoServer address: String) throws(WeftError) -> Link {
        let trips = try RawZeroMQBenchmark.roundTrips(to: address, iterations: 50, timeout: .seconds(5)).sorted()
        let bandwidth = try RawZeroMQBenchmark.bandwidth(
            to: address,
            payloadBytes: 4 << 20,
            iterations: 8,
            timeout: .seconds(30)
        )
        return Link(latency: seconds(trips[trips.count / 2]) / 2, bytesPerSecond: bandwidth)
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
            best = min(best, seconds(clock.now - start))
        }
        return best
    }
}
