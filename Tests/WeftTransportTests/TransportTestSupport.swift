import Dispatch
import Glibc
import Logging
import Synchronization
import WeftProto
import WeftRuntime
import WeftTransport

/// A logger for tests: quiet unless something is wrong.
let testLogger: Logger = {
    var logger = Logger(label: "weft.transport.tests")
    logger.logLevel = .warning
    return logger
}()

/// A node on a free loopback port.
func makeNode(configuration: MessagingNode.Configuration = .init()) throws -> MessagingNode {
    try MessagingNode(listen: "tcp://127.0.0.1:0", configuration: configuration, logger: testLogger)
}

/// A node that answers every request with the request's own session, step and tensors, and
/// counts what it served.
final class EchoNode: Sendable {
    let node: MessagingNode
    private let served = Counter()

    init(configuration: MessagingNode.Configuration = .init()) throws {
        node = try makeNode(configuration: configuration)
        node.setHandler { [weak node, served] incoming in
            served.increment()
            var envelope = Weft_Envelope()
            envelope.session = incoming.envelope.session
            envelope.step = incoming.envelope.step
            envelope.tensors = incoming.envelope.tensors
            node?.reply(to: incoming, WireMessage(envelope: envelope, tensors: incoming.tensors))
        }
    }

    var address: String { node.boundAddress }
    var servedCount: Int { served.value }

    func close() { node.close() }
}

/// A message with an empty body of `kind` and `tensors`.
func message(_ kind: MessageKind = .ping, session: String = "", step: UInt64 = 0, tensors: [Tensor] = []) -> WireMessage {
    var envelope = Weft_Envelope()
    envelope.body = kind.emptyBody
    envelope.session = session
    envelope.step = step
    return WireMessage(envelope: envelope, tensors: tensors)
}

/// The serialized bytes of an envelope, for hand-made frames.
func envelopeBytes(_ configure: (inout Weft_Envelope) -> Void) throws -> [UInt8] {
    var envelope = Weft_Envelope()
    envelope.protocolVersion = WireProtocol.version
    configure(&envelope)
    return try envelope.serializedBytes()
}

/// Waits until `condition` holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// A count shared between threads.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)

    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// A TCP listener on loopback that answers every connection with an HTTP error and closes it:
/// a peer that does not speak ZMTP.
final class NotZeroMQListener: Sendable {
    let address: String
    private let descriptor: Int32
    private let done = DispatchGroup()

    init() throws {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw WeftError(.internal, "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(socketDescriptor, generic, length) == 0 && listen(socketDescriptor, 16) == 0
                    && getsockname(socketDescriptor, generic, &length) == 0
            }
        }
        guard bound else {
            Glibc.close(socketDescriptor)
            throw WeftError(.internal, "cannot listen on loopback")
        }
        descriptor = socketDescriptor
        self.address = "tcp://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        DispatchQueue.global().async(group: done) { [descriptor] in
            let answer = Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8)
            while true {
                let connection = accept(descriptor, nil, nil)
                guard connection >= 0 else { return }  // closed
                _ = answer.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
                Glibc.close(connection)
            }
        }
    }

    /// Stops accepting and waits for the accepting thread to end.
    func close() {
        shutdown(descriptor, Int32(SHUT_RDWR))
        Glibc.close(descriptor)
        done.wait()
    }
}
