import Foundation
import Hummingbird
import Weft
import WeftCluster
import WeftRuntime

/// The coordinator's read-only web page and the JSON endpoints behind it:
///
/// - `GET /`: the page (workers, sessions, link matrix, recent steps with timelines, a
///   session's placement picture), which polls the endpoints below.
/// - `GET /api/cluster`: workers with health and memory, sessions, measured links.
/// - `GET /api/steps`: the coordinator's recent steps, newest first.
/// - `GET /api/steps/ID/trace`: one recent step's timeline as a Chrome trace.
/// - `GET /api/sessions/HANDLE/placement`: a session's graph with each node's worker, its name
///   scopes collapsed to at most `?limit=` boxes (default 80).
///
/// Nothing here changes the cluster. Bad requests get 400, unknown steps and sessions 404; with
/// a token, every request without it gets 401 (see `HTTPToken`).
public enum Dashboard {
    /// The router serving the page and its endpoints for `coordinator`, to clients that show
    /// `token` when there is one.
    public static func router(for coordinator: Coordinator, token: HTTPToken? = nil) -> Router<BasicRequestContext> {
        let router = accessControlledRouter(token: token)
        router.get("/") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: DashboardPage.html))
            )
        }
        router.get("/api/cluster") { _, _ in
            try json(ClusterView(coordinator.snapshot()))
        }
        router.get("/api/steps") { _, _ in
            try json(coordinator.snapshot().recentSteps.reversed().map(StepView.init))
        }
        router.get("/api/steps/:id/trace") { _, context in
            guard let text = context.parameters.get("id"), let id = UInt64(text) else {
                throw HTTPError(.badRequest, message: "a step id is a number")
            }
            guard let step = coordinator.snapshot().recentSteps.first(where: { $0.id == id }) else {
                throw HTTPError(.notFound, message: "step \(id) is not among the recent steps")
            }
            guard let statistics = step.statistics else {
                throw HTTPError(.notFound, message: "step \(id) was not timed: no timeline")
            }
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(data: ChromeTrace(statistics).jsonData()))
            )
        }
        router.get("/api/sessions/:handle/placement") { request, context in
            let handle = context.parameters.get("handle") ?? ""
            var limit = PlacementPicture.defaultLimit
            if let text = request.uri.queryParameters.get("limit") {
                guard let value = Int(text), (2...10_000).contains(value) else {
                    throw HTTPError(.badRequest, message: "limit is a number of boxes from 2 to 10000")
                }
                limit = value
            }
            guard let placement = coordinator.placement(ofSession: handle) else {
                throw HTTPError(.notFound, message: "no open session \(handle)")
            }
            return try json(PlacementPicture(placement, limit: limit))
        }
        return router
    }

    private static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(data: try encoder.encode(value)))
        )
    }
}

/// `/api/cluster`: the snapshot without the steps' statistics.
struct ClusterView: Encodable {
    var workers: [ClusterSnapshot.Worker]
    var sessions: [ClusterSnapshot.Session]
    var links: [ClusterSnapshot.Link]

    init(_ snapshot: ClusterSnapshot) {
        workers = snapshot.workers
        sessions = snapshot.sessions
        links = snapshot.links
    }
}

/// One line of `/api/steps`.
struct StepView: Encodable {
    var id: UInt64
    var session: String
    var step: UInt64
    var startedMicros: Int64
    var seconds: Double
    var error: String?
    /// `coordinator`, or `direct` for a step the client sent straight to its workers.
    var route: String
    /// Nodes timed, and the devices that ran them, when the step has a timeline.
    var nodes: Int
    var devices: [String]
    var hasTimeline: Bool

    init(_ record: StepRecord) {
        id = record.id
        session = record.session
        step = record.step
        startedMicros = record.startedMicros
        seconds = record.seconds
        error = record.error
        route = record.direct ? "direct" : "coordinator"
        nodes = record.statistics?.nodes.count ?? 0
        devices = Set(record.statistics?.nodes.map(\.device) ?? []).sorted()
        hasTimeline = record.statistics != nil
    }
}

extension ByteBuffer {
    fileprivate init(data: Data) {
        self.init(bytes: data)
    }
}
