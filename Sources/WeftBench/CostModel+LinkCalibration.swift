import WeftCluster
import WeftPlacement
import WeftRuntime

/// A whole cost model measured on this machine, link included: the reference the placement
/// benchmarks and their tests compare the cluster's own measurements against.
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
        return Link(latency: trips[trips.count / 2] / .seconds(1) / 2, bytesPerSecond: bandwidth)
    }
}
