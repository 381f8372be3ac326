import WeftRuntime

/// A ZeroMQ TCP endpoint as written in cluster files and on command lines: `tcp://HOST:PORT`.
public struct ClusterAddress: Sendable, Hashable, CustomStringConvertible {
    /// The host: a DNS name, an IPv4 address, or `*`/`0.0.0.0` (bind to every interface).
    public var host: String
    /// The TCP port; 0 asks the system for a free one when binding.
    public var port: Int

    /// Parses `tcp://HOST:PORT`, or says what is wrong with the text so a person can fix it.
    public init(parsing text: String) throws(WeftError) {
        let prefix = "tcp://"
        guard text.hasPrefix(prefix) else {
            throw WeftError(
                .invalidArgument,
                "'\(text)' is not an address; write tcp://HOST:PORT, like tcp://10.0.0.1:7070"
            )
        }
        let rest = text.dropFirst(prefix.count)
        guard let colon = rest.lastIndex(of: ":"), !rest[..<colon].isEmpty else {
            throw WeftError(
                .invalidArgument,
                "'\(text)' needs a host and a port: write tcp://HOST:PORT, like tcp://10.0.0.1:7070"
            )
        }
        guard let port = Int(rest[rest.index(after: colon)...]), (0...65_535).contains(port) else {
            throw WeftError(.invalidArgument, "'\(text)' has no valid port; a port is a number from 1 to 65535")
        }
        let host = String(rest[..<colon])
        guard host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "*" || $0 == "_" }) else {
            throw WeftError(.invalidArgument, "'\(host)' in '\(text)' is not a host name or IPv4 address")
        }
        self.host = host
        self.port = port
    }

    /// Whether the host means "every interface": right for binding, never for reaching a process.
    public var isWildcard: Bool { host == "*" || host == "0.0.0.0" }

    /// `tcp://HOST:PORT`.
    public var description: String { "tcp://\(host):\(port)" }

    /// The address to bind for a process others reach at `address`: every interface, same port.
    /// Binding every interface (not the advertised name) is what works behind NAT, in
    /// containers, and where the advertised name is a DNS alias of the host. A loopback address
    /// binds itself: no other host could reach the process anyway, and a process without keys
    /// may bind only loopback (`ListenPolicy`).
    public static func wildcardListen(for address: String) -> String {
        guard let parsed = try? ClusterAddress(parsing: address) else { return address }
        if ListenPolicy.isLoopbackHost(parsed.host) { return address }
        return "tcp://0.0.0.0:\(parsed.port)"
    }
}
