import Dispatch
import Foundation
import Synchronization
import WeftRuntime
import WeftTransport

/// What bare libzmq achieves between two endpoints, without Weft's envelopes, I/O thread or
/// validation: the baseline `weft bench` compares the messaging layer against.
///
/// One side runs `serveEcho(listen:)` (in this process or another); the other measures with
/// `roundTrips(to:iterations:payloadBytes:timeout:)` and `bandwidth(to:payloadBytes:iterations:timeout:)`.
/// Each measurement owns its DEALER socket (a `RawSocket`) on the calling thread and blocks
/// that thread.
///
/// The raw protocol: every message from a DEALER starts with a one-byte opcode frame. `E`
/// (echo): the server sends the whole message back. `S` (sink): the server counts the bytes of
/// the frames after the opcode. `F` (flush): the server answers `F` and the number of sunk
/// bytes since the last flush, as 8 little-endian bytes.
public enum RawZeroMQBenchmark {
    private static let echo: UInt8 = 0x45  // "E"
    private static let sink: UInt8 = 0x53  // "S"
    private static let flush: UInt8 = 0x46  // "F"

    /// A running echo and sink server; `close()` stops it.
    public final class EchoServer: Sendable {
        /// The address clients connect to.
        public let address: String
        private let context: ZMQContext
        private let finished: DispatchGroup

        fileprivate init(address: String, context: ZMQContext, finished: DispatchGroup) {
            self.address = address
            self.context = context
            self.finished = finished
        }

        /// Blocks until the server stops.
        public func wait() {
            finished.wait()
        }

        /// Stops the server and waits for its thread to end. Idempotent.
        public func close() {
            context.shutdown()
            finished.wait()
        }

        deinit {
            close()
        }
    }

    /// Starts an echo and sink server on its own thread and ZeroMQ context, listening on `listen`
    /// (`tcp://127.0.0.1:0` for any free port).
    public static func serveEcho(listen: String) throws(WeftError) -> EchoServer {
        let context = ZMQContext(ioThreads: 1, maxSockets: 64)
        let finished = DispatchGroup()
        let bound = Mutex<Result<String, WeftError>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        finished.enter()
        let thread = Thread {
            serve(context: context, listen: listen) { outcome in
                bound.withLock { $0 = outcome }
                ready.signal()
            }
            finished.leave()
        }
        thread.name = "weft.bench.echo"
        thread.start()
        ready.wait()
        switch bound.withLock({ $0 }) {
        case .success(let address): return EchoServer(address: address, context: context, finished: finished)
        case .failure(let error):
            finished.wait()
            throw error
        case nil: throw WeftError(.internal, "the echo server's thread reported nothing")
        }
    }

    /// Measures `iterations` round trips of a `payloadBytes`-byte message to the echo server at
    /// `address`, one at a time, after one unmeasured warm-up round trip; returns each duration.
    public static func roundTrips(
        to address: String,
        iterations: Int,
        payloadBytes: Int = 64,
        timeout: Duration = .seconds(10)
    ) throws(WeftError) -> [Duration] {
        let socket = try RawSocket.dealer(connectingTo: address, timeout: timeout)
        defer { socket.close() }
        let payload = [UInt8](repeating: 0x5A, count: payloadBytes)
        let message: [OutgoingFrame] = [.bytes([echo]), .bytes(payload)]
        let clock = ContinuousClock()
        var samples: [Duration] = []
        samples.reserveCapacity(iterations)
        for iteration in -1..<iterations {
            let start = clock.now
            try exchange(message, on: socket, address: address, timeout: timeout) { frames throws(WeftError) in
                guard frames.count == 2, frames[1].count == payloadBytes else {
                    throw WeftError(.dataLoss, "the echo from \(address) does not match the message sent")
                }
            }
            if iteration >= 0 { samples.append(clock.now - start) }
        }
        return samples
    }

    /// Measures one-way throughput to the sink at `address`: sends `iterations` messages of
    /// `payloadBytes` bytes (each sent from one shared buffer, without a copy), then waits until
    /// the server confirms it received every byte. Returns bytes per second.
    public static func bandwidth(
        to address: String,
        payloadBytes: Int = 16 << 20,
        iterations: Int = 32,
        timeout: Duration = .seconds(60)
    ) throws(WeftError) -> Double {
        let socket = try RawSocket.dealer(connectingTo: address, timeout: timeout)
        defer { socket.close() }
        let payload = Tensor(uninitialized: .uint8, shape: [payloadBytes])
        payload.buffer.base.initializeMemory(as: UInt8.self, repeating: 0xA5, count: payloadBytes)
        // Warm up: the connection is up and the counter is reset before the clock starts.
        try exchange([.bytes([flush])], on: socket, address: address, timeout: timeout) { _ throws(WeftError) in }
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<iterations {
            guard socket.send([.bytes([sink]), .tensor(payload)]) else {
                throw WeftError(.unavailable, "\(address) did not accept data within \(timeout)")
            }
        }
        let expected = UInt64(payloadBytes) * UInt64(iterations)
        try exchange([.bytes([flush])], on: socket, address: address, timeout: timeout) { frames throws(WeftError) in
            guard frames.count == 2, frames[1].count == 8 else {
                throw WeftError(.dataLoss, "the sink at \(address) sent a malformed count")
            }
            let received = UInt64(littleEndian: frames[1].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            guard received == expected else {
                throw WeftError(.dataLoss, "the sink at \(address) received \(received) bytes of \(expected)")
            }
        }
        return Double(expected) / max((clock.now - start) / .seconds(1), 1e-9)
    }

    // MARK: Client side

    private static func exchange(
        _ message: [OutgoingFrame],
        on socket: RawSocket,
        address: String,
        timeout: Duration,
        check: ([ReceivedFrame]) throws(WeftError) -> Void
    ) throws(WeftError) {
        guard socket.send(message) else {
            throw WeftError(.unavailable, "\(address) did not accept a connection within \(timeout)")
        }
        guard case .message(let frames) = socket.receive() else {
            throw WeftError(.unavailable, "\(address) did not answer within \(timeout)")
        }
        try check(frames)
    }

    // MARK: Server side

    /// Serves on this thread until the context shuts down; `report` learns once whether the
    /// socket is bound, and where.
    private static func serve(
        context: ZMQContext,
        listen: String,
        report: (Result<String, WeftError>) -> Void
    ) {
        let socket: RawSocket
        do {
            socket = try RawSocket.router(binding: listen, context: context)
        } catch {
            return report(.failure(error))
        }
        defer { socket.close() }
        report(.success(socket.address))
        var sunk: UInt64 = 0
        while true {
            let frames: [ReceivedFrame]
            switch socket.receive() {
            case .message(let received): frames = received
            case .timedOut, .interrupted: continue
            case .closed: return  // close() shut the context down
            }
            guard frames.count >= 2, frames[1].count == 1 else { continue }  // identity, opcode, …
            let identity = frames[0].array
            switch frames[1].withUnsafeBytes({ $0[0] }) {
            case echo:
                _ = socket.send(frames.dropFirst().map { .bytes($0.array) }, to: identity)
            case sink:
                sunk += frames.dropFirst(2).reduce(0) { $0 + UInt64($1.count) }
            case flush:
                let count = withUnsafeBytes(of: sunk.littleEndian) { Array($0) }
                _ = socket.send([.bytes([flush]), .bytes(count)], to: identity)
                sunk = 0
            default:
                continue
            }
        }
    }
}
