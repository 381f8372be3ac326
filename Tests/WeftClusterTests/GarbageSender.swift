import Logging
import WeftProto
import WeftTransport

/// Sends malformed multipart messages to a process's ROUTER socket, as a broken or hostile
/// peer would: bytes that are not an envelope, a truncated field, an unknown message kind, a
/// wrong protocol version, tensor frames that do not match their headers, too many frames.
enum GarbageSender {
    static func send(to address: String) throws {
        let node = try MessagingNode(listen: "tcp://127.0.0.1:0", logger: Logger(label: "weft.tests.garbage"))
        defer { node.close() }
        for frames in try garbage() { node.sendRawFrames(frames, to: address) }
    }

    static func garbage() throws -> [[[UInt8]]] {
        let oversizedTensor = try envelope {
            $0.runStep = .init()
            $0.tensors = [
                .with {
                    $0.dtype = .dtDouble
                    $0.shape = [1 << 40, 1 << 40]
                }
            ]
        }
        return [
            [[0xFF, 0xFF, 0xFF, 0xFF]],
            [[]],
            [[0x0A, 0xFF]],
            [oversizedTensor, [1, 2, 3]],
            [try envelope { $0.session = "no body" }],
            [
                try envelope {
                    $0.ping = .init()
                    $0.protocolVersion = 0
                }
            ],
            [
                try envelope {
                    $0.runStep = .init()
                    $0.session = "no-such-session"
                }
            ],
            Array(repeating: [0x42], count: 5000),
        ]
    }

    static func envelope(_ configure: (inout Weft_Envelope) -> Void) throws -> [UInt8] {
        var envelope = Weft_Envelope()
        envelope.protocolVersion = WireProtocol.version
        configure(&envelope)
        return try envelope.serializedBytes()
    }
}
