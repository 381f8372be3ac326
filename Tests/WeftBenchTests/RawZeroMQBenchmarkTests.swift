import Testing
import WeftBench
import WeftRuntime

@Suite struct RawZeroMQBenchmarkTests {
    @Test func roundTripsAndBandwidth_measureAgainstAnEchoServer() throws {
        let server = try RawZeroMQBenchmark.serveEcho(listen: "tcp://127.0.0.1:0")
        defer { server.close() }

        let samples = try RawZeroMQBenchmark.roundTrips(to: server.address, iterations: 50, timeout: .seconds(5))
        #expect(samples.count == 50)
        #expect(samples.allSatisfy { $0 > .zero && $0 < .seconds(5) })

        let bytesPerSecond = try RawZeroMQBenchmark.bandwidth(
            to: server.address,
            payloadBytes: 4 << 20,
            iterations: 8,
            timeout: .seconds(30)
        )
        #expect(bytesPerSecond > 1_000_000)
    }

    @Test func measuringAStoppedServer_failsUnavailableWithinTheTimeout() throws {
        let server = try RawZeroMQBenchmark.serveEcho(listen: "tcp://127.0.0.1:0")
        let address = server.address
        server.close()
        let clock = ContinuousClock()
        let start = clock.now

        let error = #expect(throws: WeftError.self) {
            try RawZeroMQBenchmark.roundTrips(to: address, iterations: 1, timeout: .milliseconds(500))
        }

        #expect(error?.code == .unavailable)
        #expect(clock.now - start < .seconds(2))
    }

    @Test func serveEcho_onAnAddressInUse_fails() throws {
        let server = try RawZeroMQBenchmark.serveEcho(listen: "tcp://127.0.0.1:0")
        defer { server.close() }
        #expect(throws: WeftError.self) { try RawZeroMQBenchmark.serveEcho(listen: server.address) }
    }
}
