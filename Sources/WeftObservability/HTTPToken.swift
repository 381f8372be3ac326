import Foundation
import Hummingbird
import WeftRuntime

#if canImport(Glibc)
import Glibc
#endif

/// The secret an HTTP client shows to read a secured cluster's dashboard and metrics.
///
/// A cluster with CURVE keys lets only listed keys into its sockets; its HTTP endpoints then
/// ask for this token instead, since a browser or a Prometheus server holds no CURVE key. It is
/// read from a file only its owner may read (mode 0600, checked as secret keys are), or made at
/// start and written to such a file, so whoever may read the process's keys may read the token.
public struct HTTPToken: Sendable, Hashable {
    /// The token's text: what follows `Bearer ` in a request's `Authorization` header.
    public let text: String

    /// Wraps a token; it must be 16 to 512 printable ASCII characters without spaces.
    public init(_ text: String) throws(WeftError) {
        guard (16...512).contains(text.utf8.count), text.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw WeftError(
                .invalidArgument,
                "an HTTP token is 16 to 512 printable ASCII characters without spaces, not \(text.utf8.count) bytes"
            )
        }
        self.text = text
    }

    /// 32 random bytes from the system's generator, in hex.
    public static func generate() -> HTTPToken {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let text = bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }
        .joined()
        // 64 hex digits always pass `init`'s checks.
        return HTTPToken(unchecked: text)
    }

    private init(unchecked text: String) { self.text = text }

    /// Reads the token from the first line of `path`, which only its owner may read or write.
    public init(contentsOfFile path: String) throws(WeftError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw WeftError(.notFound, "cannot read the HTTP token file \(path): \(String(cString: strerror(errno)))")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw WeftError(
                .permissionDenied,
                "the HTTP token file \(path) has mode 0\(String(mode, radix: 8)): other users may read it; "
                    + "run 'chmod 600 \(path)'"
            )
        }
        guard info.st_size <= 4096, let data = FileManager.default.contents(atPath: path) else {
            throw WeftError(
                .invalidArgument,
                "\(path) is not an HTTP token file: expected one line of at most 512 characters"
            )
        }
        let line = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first ?? ""
        do {
            try self.init(line.trimmingCharacters(in: .whitespaces))
        } catch {
            throw WeftError(.invalidArgument, "\(path): \(error.message)")
        }
    }

    /// Writes the token to `path` with mode 0600, replacing what was there; the file is made
    /// private before the token goes in.
    public func write(toFile path: String) throws(WeftError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw WeftError(.unavailable, "cannot write the HTTP token to \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let bytes = Array((text + "\n").utf8)
        let written = bytes.withUnsafeBytes { raw in
            fchmod(descriptor, 0o600) == 0 ? Glibc.write(descriptor, raw.baseAddress, raw.count) : -1
        }
        guard written == bytes.count else {
            throw WeftError(.unavailable, "cannot write the HTTP token to \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether `candidate` is this token, comparing every byte whatever the first difference,
    /// so the time taken tells nothing about how much of a guess was right.
    func matches(_ candidate: Substring) -> Bool {
        let expected = Array(text.utf8)
        let given = Array(candidate.utf8)
        var difference = UInt8(expected.count == given.count ? 0 : 1)
        for index in expected.indices {
            difference |= expected[index] ^ (index < given.count ? given[index] : 0)
        }
        return difference == 0
    }
}

/// Answers 401 to every request that does not carry the token, in an `Authorization: Bearer`
/// header or a `token` query parameter (for a browser opening the dashboard; the page then
/// sends it as a header). Nothing is kept between requests: no cookie, no session.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: HTTPToken

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        guard Self.presented(in: request).map(token.matches) == true else {
            return Response(
                status: .unauthorized,
                headers: [.wwwAuthenticate: #"Bearer realm="weft""#, .contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(
                    byteBuffer: ByteBuffer(
                        string: "this endpoint needs the cluster's HTTP token: send 'Authorization: Bearer TOKEN'\n"
                    )
                )
            )
        }
        return try await next(request, context)
    }

    /// The token a request shows: its bearer credentials, else its `token` query parameter.
    private static func presented(in request: Request) -> Substring? {
        if let header = request.headers[.authorization] {
            let scheme = "bearer "
            guard header.count > scheme.count, header.prefix(scheme.count).lowercased() == scheme else { return nil }
            return Substring(header.dropFirst(scheme.count).trimmingCharacters(in: .whitespaces))
        }
        return request.uri.queryParameters.get("token").map { Substring($0) }
    }
}

/// A router that serves only requests carrying `token`, when there is one.
func accessControlledRouter(token: HTTPToken?) -> Router<BasicRequestContext> {
    let router = Router()
    if let token { router.add(middleware: TokenMiddleware<BasicRequestContext>(token: token)) }
    return router
}
