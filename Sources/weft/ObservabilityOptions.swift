import ArgumentParser
import Logging
import WeftCluster
import WeftObservability

/// `--metrics-listen`: a process that serves Prometheus metrics.
struct MetricsOptions: ParsableArguments {
    @Option(
        help: "Serve Prometheus metrics (GET /metrics) at HOST:PORT, or PORT on loopback, like 127.0.0.1:9100."
    )
    var metricsListen: String?

    func validate() throws {
        try check(metricsListen, flag: "metrics-listen")
    }

    /// Makes swift-metrics report to a registry and serves it, when the flag asks; `refresh`
    /// sets the state gauges before each scrape. Call before the process reports anything.
    /// Returns the endpoint and the line to print about it.
    func serve(refresh: @escaping @Sendable () -> Void) throws -> (HTTPEndpoint, String)? {
        guard let metricsListen else { return nil }
        var address = try HTTPAddress(parsing: metricsListen)
        let registry = WeftMetrics.bootstrap()
        let endpoint = try HTTPEndpoint.start(
            MetricsEndpoint.router(registry: registry, refresh: refresh),
            at: address,
            logger: Logger(label: "weft.metrics")
        )
        address.port = endpoint.port
        return (endpoint, "metrics on http://\(address)/metrics")
    }
}

/// The coordinator's `--metrics-listen` and `--http`.
struct CoordinatorObservabilityOptions: ParsableArguments {
    @OptionGroup var metrics: MetricsOptions

    @Option(
        help: """
            Serve the read-only dashboard and its JSON endpoints at HOST:PORT, or PORT on loopback, like \
            127.0.0.1:8080. It has no access control: keep it on loopback, or behind a proxy that checks who asks.
            """
    )
    var http: String?

    func validate() throws {
        try check(http, flag: "http")
    }

    /// Whether the coordinator should time a step now and then for the dashboard and metrics.
    var samplesSteps: Bool { http != nil || metrics.metricsListen != nil }

    /// Starts the metrics endpoint; call before `coordinator.start()`, so nothing it reports is lost.
    func serveMetrics(for coordinator: Coordinator) throws -> (HTTPEndpoint, String)? {
        try metrics.serve { StateGauges.refresh(coordinator) }
    }

    /// Starts the dashboard, when asked; returns it and the line to print about it.
    func serveDashboard(_ coordinator: Coordinator) throws -> (HTTPEndpoint, String)? {
        guard let http else { return nil }
        var address = try HTTPAddress(parsing: http)
        let endpoint = try HTTPEndpoint.start(
            Dashboard.router(for: coordinator),
            at: address,
            logger: Logger(label: "weft.dashboard")
        )
        address.port = endpoint.port
        return (endpoint, "dashboard on http://\(address)/")
    }
}

private func check(_ address: String?, flag: String) throws {
    guard let address else { return }
    do {
        _ = try HTTPAddress(parsing: address)
    } catch {
        throw ValidationError("--\(flag): \(error.message)")
    }
}
