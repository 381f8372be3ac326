import WeftProto
import WeftRuntime

/// The version of Weft's wire protocol that this build speaks.
public enum WireProtocol {
    /// Carried in every envelope's `protocolVersion`; a message with another version is refused.
    /// Bump it on any incompatible change to `wire.proto` or to the framing.
    public static let version: UInt32 = 4
}

/// One Weft message: a protobuf envelope and the tensors whose payloads travel as raw frames
/// after it, never through protobuf bytes.
public struct WireMessage: Sendable {
    /// The header. When the message is sent, the transport fills in `protocolVersion` and
    /// `tensors` (dtype and shape of each entry of `tensors`; names the caller set are kept).
    public var envelope: Weft_Envelope
    /// The tensors, in the order of `envelope.tensors`.
    public var tensors: [Tensor]

    /// Makes a message from an envelope and its tensors.
    public init(envelope: Weft_Envelope, tensors: [Tensor] = []) {
        self.envelope = envelope
        self.tensors = tensors
    }

    /// The error the envelope's status carries, or `nil` when its code is 0 (OK).
    public var error: WeftError? {
        guard envelope.status.code != 0 else { return nil }
        return WeftError(WeftError.Code(rawValue: envelope.status.code), envelope.status.message)
    }
}

/// A message that arrived on a node's ROUTER socket, with what it takes to answer it.
public struct IncomingMessage: Sendable {
    /// Identifies the requester to the node that received the message; pass it (or the whole
    /// `IncomingMessage`) to `MessagingNode.reply(to:_:)`, from any thread.
    public struct ReplyToken: Sendable, Hashable {
        /// The ROUTER's routing identity of the requester's connection.
        let identity: [UInt8]
        /// The request id the reply must carry; 0 for a message sent with `send(_:to:)`.
        public let requestID: UInt64
        /// The largest frame the requester takes a reply's tensor in; `nil` for any size.
        var frameBytes: Int? = nil

        /// Whether the sender waits for a reply: it used `request`, not `send`.
        public var expectsReply: Bool { requestID != 0 }
    }

    /// The message.
    public var message: WireMessage
    /// How to answer it.
    public let replyToken: ReplyToken
    /// The CURVE public key the sender proved it holds; `nil` on a node without keys.
    public let peerKey: CurveKey?

    /// The message's envelope.
    public var envelope: Weft_Envelope { message.envelope }
    /// The message's tensors.
    public var tensors: [Tensor] { message.tensors }
}
