import Hummingbird
import Prometheus

/// `GET /metrics`: the registry in Prometheus's text format, for a Prometheus server to scrape.
public enum MetricsEndpoint {
    /// The router: `refresh` sets the gauges that describe state (sessions, memory) just before
    /// each scrape, so nothing has to report them as they change. With `token`, a scrape must
    /// show it (Prometheus's `authorization: {credentials_file: …}`), else it gets 401.
    public static func router(
        registry: PrometheusCollectorRegistry,
        token: HTTPToken? = nil,
        refresh: @escaping @Sendable () -> Void
    ) -> Router<BasicRequestContext> {
        let router = accessControlledRouter(token: token)
        router.get("/metrics") { _, _ -> Response in
            refresh()
            var text: [UInt8] = []
            registry.emit(into: &text)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: text))
            )
        }
        return router
    }
}
