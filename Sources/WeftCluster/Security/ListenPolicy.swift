import Logging
import WeftRuntime

/// Weft's protected mode (as Redis's): a process without keys serves only its own host.
///
/// Without CURVE anyone who reaches a socket can read and change every session's variables,
/// so a process without keys binds loopback only, and binding another address needs the
/// operator to say, with `--insecure` (or `security: {insecure: true}` in the cluster file),
/// that the network is trusted. That choice is logged as a warning every time a process starts.
public enum ListenPolicy {
    /// Throws `failedPrecondition` when `listen` is not a loopback address, the process has no
    /// keys, and `insecure` is not set; logs a warning when `insecure` lets it through.
    public static func check(_ listen: String, secured: Bool, insecure: Bool, logger: Logger) throws(WeftError) {
        try check(
            listen,
            local: isLocal(listen),
            exposure: "read and change every session's variables",
            loopback: "tcp://127.0.0.1:PORT",
            secured: secured,
            insecure: insecure,
            logger: logger
        )
    }

    /// The same rule for an HTTP endpoint (the dashboard, metrics) bound to `host`: without
    /// keys, and so without a token, it serves loopback only unless `insecure` is set.
    public static func checkHTTP(
        host: String,
        port: Int,
        flag: String,
        secured: Bool,
        insecure: Bool,
        logger: Logger
    ) throws(WeftError) {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        try check(
            "\(address) (--\(flag))",
            local: isLoopbackHost(host),
            exposure: "read the cluster's workers, sessions, graphs and timelines",
            loopback: "127.0.0.1:PORT",
            secured: secured,
            insecure: insecure,
            logger: logger
        )
    }

    private static func check(
        _ listen: String,
        local: Bool,
        exposure: String,
        loopback: String,
        secured: Bool,
        insecure: Bool,
        logger: Logger
    ) throws(WeftError) {
        guard !secured, !local else { return }
        guard insecure else {
            throw WeftError(
                .failedPrecondition,
                "refusing to listen on \(listen) without keys: any process that reaches it could \(exposure). "
                    + "Listen on loopback (\(loopback)), give the cluster file a "
                    + "'security' section with keys ('weft keys generate'), or pass --insecure on a network you trust"
            )
        }
        logger.warning(
            """
            listening on a non-loopback address without keys (--insecure): anyone who reaches it can \(exposure); \
            use a cluster file with a 'security' section
            """,
            metadata: ["transport.address": "\(listen)"]
        )
    }

    /// Whether only this host can reach `address`: a loopback TCP address, or a transport
    /// that never leaves the host (`ipc://`, `inproc://`).
    public static func isLocal(_ address: String) -> Bool {
        let prefix = "tcp://"
        guard address.hasPrefix(prefix) else { return address.hasPrefix("ipc://") || address.hasPrefix("inproc://") }
        let rest = address.dropFirst(prefix.count)
        let host = rest.lastIndex(of: ":").map { rest[..<$0] } ?? rest
        return isLoopbackHost(String(host))
    }

    /// `localhost`, `[::1]`, or an IPv4 address in 127.0.0.0/8.
    static func isLoopbackHost(_ host: String) -> Bool {
        if host == "localhost" || host == "[::1]" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "127" else { return false }
        return parts.allSatisfy { part in UInt8(part) != nil }
    }
}
