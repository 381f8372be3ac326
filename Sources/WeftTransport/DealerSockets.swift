import CZeroMQ
import WeftRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening a DEALER to a peer with the monitor that reports its connection's events: the same
/// sockets for the I/O thread's connections and for the ones blocked callers use themselves
/// (`DirectDealers`).
enum DealerSockets {
    /// Monitor events a node reacts to.
    static let monitoredEvents =
        ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
        | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH

    /// A DEALER connecting to `address` and the reading end of its monitor, both owned by the
    /// calling thread.
    static func open(to address: String, core: NodeCore) throws(WeftError) -> (dealer: Socket, monitor: Socket) {
        let configuration = core.configuration
        let dealer = try Socket(context: core.context, type: ZMQ_DEALER, role: "DEALER to \(address)")
        let monitor: Socket
        do {
            // Queue nothing for a peer that is not connected: sends fail with EAGAIN instead, so a
            // request to a dead peer never sits in a socket queue past its deadline.
            try dealer.set(ZMQ_IMMEDIATE, 1 as Int32)
            try dealer.set(ZMQ_RECONNECT_IVL, Int32(clamping: configuration.reconnectInterval.millisecondsRoundedUp))
            try dealer.set(
                ZMQ_RECONNECT_IVL_MAX,
                Int32(clamping: configuration.maxReconnectInterval.millisecondsRoundedUp)
            )
            try dealer.set(ZMQ_CONNECT_TIMEOUT, Int32(clamping: configuration.connectTimeout.millisecondsRoundedUp))
            try IOLoop.configureCommon(
                dealer,
                configuration,
                ipv6: address.contains("["),
                pings: true,
                secured: core.security != nil
            )
            if let security = core.security { try secure(dealer, to: address, security, core: core) }
            let endpoint = "inproc://weft.monitor.\(core.serial).\(core.makeSocketSerial())"
            try dealer.monitor(endpoint, events: monitoredEvents)
            monitor = try Socket(context: core.context, type: ZMQ_PAIR, role: "monitor of \(address)")
            do {
                // Connected before the DEALER connects, so no event is lost.
                try monitor.connect(endpoint)
                try dealer.connect(address)
            } catch {
                monitor.close()
                throw error
            }
        } catch let error as ZMQFailure {
            dealer.close()
            switch error.errno {
            case EINVAL, EPROTONOSUPPORT, ENOCOMPATPROTO:
                throw WeftError(
                    .invalidArgument,
                    "cannot connect to '\(address)': \(error.reason); write tcp://HOST:PORT"
                )
            default:
                throw WeftError(.unavailable, "cannot connect to \(address): \(error.reason)")
            }
        } catch {
            dealer.close()
            throw WeftError.wrapping(error)
        }
        return (dealer, monitor)
    }

    /// The event a monitor message reports (its first frame starts with the event's number).
    static func event(_ frames: [ReceivedFrame]) -> Int32? {
        guard let first = frames.first, first.count >= 6 else { return nil }
        return Int32(first.bytes.loadUnaligned(as: UInt16.self))
    }

    /// Makes the DEALER a CURVE client that expects the key known for `address`.
    private static func secure(
        _ dealer: Socket,
        to address: String,
        _ security: MessagingNode.Security,
        core: NodeCore
    ) throws(WeftError) {
        guard let serverKey = core.state.withLock({ $0.serverKeys[address] }) else {
            throw WeftError(
                .unauthenticated,
                "no public key is known for \(address): list the process there in the cluster file's security section"
            )
        }
        try dealer.set(ZMQ_CURVE_SERVERKEY, bytes: serverKey.bytes)
        try dealer.set(ZMQ_CURVE_PUBLICKEY, bytes: security.keyPair.publicKey.bytes)
        try dealer.set(ZMQ_CURVE_SECRETKEY, bytes: security.keyPair.secretKey.bytes)
    }
}
