import ArgumentParser
import Foundation
import Logging
import WeftCluster
import WeftObservability
import WeftRuntime

/// Who the process is, for the rules its HTTP endpoints follow: with keys they ask for a token,
/// without keys they serve loopback only unless `insecure` (as `ListenPolicy` rules for sockets).
struct HTTPSecurity {
    /// The process's keys, when the cluster has them.
    var keys: ProcessSecurity?
    /// `--insecure` or the cluster file's `security: {insecure: true}`.
    var insecure: Bool
    /// The cluster file's `security.http_token_file`, which `--http-token-file` overrides.
    var tokenFile: String?
}

/// `--http-token-file`, shared by every process that serves HTTP.
struct HTTPTokenOptions: ParsableArguments {
    @Option(
        help: """
            With keys: the file (mode 0600) holding the token HTTP clients must show, as 'Authorization: Bearer \
            TOKEN' or, for the dashboard in a browser, '?token=TOKEN'. Default: the cluster file's \
            security.http_token_file, else a new token each start, written next to this process's secret key as \
            NAME.http-token.
            """
    )
    var httpTokenFile: String?

    /// The token the endpoints ask for: none without keys; with keys the one in this flag's file,
    /// else in the cluster file's, else a new one written (mode 0600) next to the process's
    /// secret key. Returns it and the file holding it.
    func token(for security: HTTPSecurity, logger: Logger) throws -> (HTTPToken, String)? {
        guard let keys = security.keys else {
            if httpTokenFile != nil {
                throw ValidationError(
                    "--http-token-file needs a cluster file with keys: without keys HTTP serves loopback only"
                )
            }
            return nil
        }
        if let file = httpTokenFile ?? security.tokenFile { return (try HTTPToken(contentsOfFile: file), file) }
        let file = Self.defaultFile(for: keys)
        let token = HTTPToken.generate()
        try token.write(toFile: file)
        logger.notice("HTTP token written", metadata: ["http.token_file": "\(file)"])
        return (token, file)
    }

    /// `DIR/NAME.http-token` beside the process's secret key file `DIR/NAME.key`.
    private static func defaultFile(for keys: ProcessSecurity) -> String {
        let cluster = keys.cluster
        let own = ([cluster.coordinator] + cluster.tasks.values).first { $0.publicKey == keys.keyPair.publicKey }
        let secret = URL(fileURLWithPath: own?.secretKeyFile ?? "weft.key")
        return secret.deletingPathExtension().appendingPathExtension("http-token").path
    }
}

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
    func serve(
        token: (HTTPToken, String)?,
        security: HTTPSecurity,
        refresh: @escaping @Sendable () -> Void
    ) throws -> (HTTPEndpoint, String)? {
        guard let metricsListen else { return nil }
        let logger = Logger(label: "weft.metrics")
        var address = try HTTPAddress(parsing: metricsListen)
        try ListenPolicy.checkHTTP(
            host: address.host,
            port: address.port,
            flag: "metrics-listen",
            secured: security.keys != nil,
            insecure: security.insecure,
            logger: logger
        )
        let registry = WeftMetrics.bootstrap()
        let endpoint = try HTTPEndpoint.start(
            MetricsEndpoint.router(registry: registry, token: token?.0, refresh: refresh),
            at: address,
            logger: logger
        )
        address.port = endpoint.port
        return (endpoint, "metrics on http://\(address)/metrics" + tokenNote(token))
    }
}

/// The coordinator's `--metrics-listen` and `--http`.
struct CoordinatorObservabilityOptions: ParsableArguments {
    @OptionGroup var metrics: MetricsOptions

    @Option(
        help: """
            Serve the read-only dashboard and its JSON endpoints at HOST:PORT, or PORT on loopback, like \
            127.0.0.1:8080. With keys it asks for a token (see --http-token-file); without keys it serves loopback \
            only, unless --insecure.
            """
    )
    var http: String?

    @OptionGroup var token: HTTPTokenOptions

    func validate() throws {
        try check(http, flag: "http")
        if token.httpTokenFile != nil && !samplesSteps {
            throw ValidationError("--http-token-file is for --http or --metrics-listen")
        }
    }

    /// Whether the coordinator should time a step now and then for the dashboard and metrics.
    var samplesSteps: Bool { http != nil || metrics.metricsListen != nil }

    /// Starts the metrics endpoint and the dashboard, as asked; call before `coordinator.start()`,
    /// so nothing it reports is lost. Returns them and a line to print about each.
    func serve(_ coordinator: Coordinator, security: HTTPSecurity) throws -> [(HTTPEndpoint, String)] {
        guard samplesSteps else { return [] }
        let token = try token.token(for: security, logger: Logger(label: "weft.http"))
        var endpoints: [(HTTPEndpoint, String)] = []
        do {
            if let served = try metrics.serve(
                token: token,
                security: security,
                refresh: {
                    StateGauges.refresh(coordinator)
                }
            ) {
                endpoints.append(served)
            }
            if let served = try serveDashboard(coordinator, token: token, security: security) {
                endpoints.append(served)
            }
        } catch {
            for (endpoint, _) in endpoints { endpoint.stop() }
            throw error
        }
        return endpoints
    }

    private func serveDashboard(
        _ coordinator: Coordinator,
        token: (HTTPToken, String)?,
        security: HTTPSecurity
    ) throws -> (HTTPEndpoint, String)? {
        guard let http else { return nil }
        let logger = Logger(label: "weft.dashboard")
        var address = try HTTPAddress(parsing: http)
        try ListenPolicy.checkHTTP(
            host: address.host,
            port: address.port,
            flag: "http",
            secured: security.keys != nil,
            insecure: security.insecure,
            logger: logger
        )
        let endpoint = try HTTPEndpoint.start(
            Dashboard.router(for: coordinator, token: token?.0),
            at: address,
            logger: logger
        )
        address.port = endpoint.port
        return (endpoint, "dashboard on http://\(address)/" + tokenNote(token))
    }
}

/// A worker's `--metrics-listen` and its token.
struct WorkerObservabilityOptions: ParsableArguments {
    @OptionGroup var metrics: MetricsOptions
    @OptionGroup var token: HTTPTokenOptions

    func validate() throws {
        if token.httpTokenFile != nil && metrics.metricsListen == nil {
            throw ValidationError("--http-token-file is for --metrics-listen")
        }
    }

    /// Starts the metrics endpoint when asked; returns it and the line to print about it.
    func serve(_ worker: Worker, security: HTTPSecurity) throws -> (HTTPEndpoint, String)? {
        guard metrics.metricsListen != nil else { return nil }
        let token = try token.token(for: security, logger: Logger(label: "weft.http"))
        return try metrics.serve(token: token, security: security) { StateGauges.refresh(worker) }
    }
}

/// What an endpoint's line says about its token: where it is, so no secret reaches the output.
private func tokenNote(_ token: (HTTPToken, String)?) -> String {
    token.map { " (token in \($0.1))" } ?? ""
}

private func check(_ address: String?, flag: String) throws {
    guard let address else { return }
    do {
        _ = try HTTPAddress(parsing: address)
    } catch {
        throw ValidationError("--\(flag): \(error.message)")
    }
}
