import Logging
import WeftProto
import WeftRuntime

/// What a request that arrived on a ROUTER amounts to once read and checked: a message for the
/// handler, an error for its sender, or nothing to do.
///
/// Reading touches no socket and no state of the I/O thread, so it may run on another thread:
/// the I/O thread reads a request whose envelope takes long to parse aside (see `IOLoop`).
enum RequestReading: Sendable {
    /// A well-formed request, for the handler.
    case message(IncomingMessage)
    /// A malformed request: its sender gets `error` for request `requestID` (0 when the envelope
    /// cannot be read).
    case refused(requestID: UInt64, WeftError)
    /// A reply that arrived as a request: dropped, since answering it could start an endless
    /// exchange, and nobody waits for an answer anyway.
    case replyAsRequest(requestID: UInt64)
    /// A request that lends more than `inlineLentBytes`: read it off this thread.
    case lendsTooMuchToReadHere

    /// Reads `frames` (the envelope, then the payloads; at least one frame) from the connection
    /// `identity` names, with every check the transport makes before a handler sees a request.
    /// `peerKey` is the sender's admitted key, which a `secured` node requires. A request that
    /// lends more than `inlineLentBytes` is left unread.
    init(
        _ frames: ArraySlice<ReceivedFrame>,
        identity: [UInt8],
        peerKey: CurveKey?,
        secured: Bool,
        maxSplitTensorBytes: Int,
        lending: PayloadLending? = nil,
        inlineLentBytes: Int = .max,
        logger: Logger
    ) {
        guard let header = frames.first else {
            self = .refused(requestID: 0, WeftError(.invalidArgument, "the message has no envelope frame"))
            return
        }
        let envelope: Weft_Envelope
        do {
            envelope = try WireCodec.envelope(from: header.bytes)
        } catch {
            self = .refused(requestID: 0, error)
            return
        }
        guard Self.lentBytes(envelope) <= inlineLentBytes else {
            self = .lendsTooMuchToReadHere
            return
        }
        let message: WireMessage
        do throws(WeftError) {
            message = try WireCodec.decode(
                envelope,
                payloads: frames.dropFirst(),
                maxSplitTensorBytes: maxSplitTensorBytes,
                lent: try Self.lentReader(envelope, lending: lending),
                logger: logger
            )
            guard !envelope.isReply else {
                self = .replyAsRequest(requestID: envelope.requestID)
                return
            }
            try envelope.validateRequest()
        } catch {
            self = .refused(requestID: envelope.requestID, error)
            return
        }
        guard !secured || peerKey != nil else {
            self = .refused(
                requestID: envelope.requestID,
                WeftError(.unauthenticated, "the message carries no authenticated public key")
            )
            return
        }
        let token = IncomingMessage.ReplyToken(
            identity: identity,
            requestID: envelope.requestID,
            frameBytes: WireCodec.replyFrameBytes(asked: envelope.maxReplyFrameBytes)
        )
        self = .message(IncomingMessage(message: message, replyToken: token, peerKey: peerKey))
    }
}

extension RequestReading {
    /// The reader of the tensors `envelope` lends; `nil` when it lends none. Throws when this
    /// node does not know the lender it names.
    fileprivate static func lentReader(
        _ envelope: Weft_Envelope,
        lending: PayloadLending?
    ) throws(WeftError) -> LentPayloadReader? {
        guard envelope.tensors.contains(where: { $0.lentAddress != 0 }) else { return nil }
        guard let lending else { throw WeftError(.invalidArgument, "this node takes no lent tensors") }
        return try lending.reader(for: envelope.lender)
    }

    /// The bytes the tensors of `envelope` lend, saturating at `Int.max`; checked in full when
    /// they are read.
    fileprivate static func lentBytes(_ envelope: Weft_Envelope) -> Int {
        var total = 0
        for meta in envelope.tensors where meta.lentAddress != 0 {
            var bytes = (try? DType(meta.dtype))?.byteSize ?? 1
            for dimension in meta.shape {
                let (product, overflow) = bytes.multipliedReportingOverflow(by: Int(clamping: max(dimension, 0)))
                bytes = overflow ? .max : product
            }
            let (sum, overflow) = total.addingReportingOverflow(bytes)
            total = overflow ? .max : sum
        }
        return total
    }
}

/// What a reply that arrived on a DEALER amounts to once read: the request it answers and its
/// outcome, or nothing when its envelope cannot be read. Like `RequestReading`, it may be made
/// off the I/O thread.
enum ReplyReading: Sendable {
    /// The reply to request `requestID`: its message, or the error it carries or its defects.
    case reply(requestID: UInt64, Result<WireMessage, WeftError>)
    /// An envelope that cannot be read: no request can be told.
    case unreadable

    /// Reads `frames` (the envelope, then the payloads) that `address` sent.
    init(_ frames: ArraySlice<ReceivedFrame>, from address: String, maxSplitTensorBytes: Int, logger: Logger) {
        guard let header = frames.first, let envelope = try? WireCodec.envelope(from: header.bytes) else {
            self = .unreadable
            return
        }
        let result = WireCodec.reply(
            envelope,
            payloads: frames.dropFirst(),
            from: address,
            maxSplitTensorBytes: maxSplitTensorBytes,
            logger: logger
        )
        self = .reply(requestID: envelope.requestID, result)
    }
}

/// A received request (or reply) on its way from the I/O thread to the thread that reads it.
struct ReceivedRequest: @unchecked Sendable {
    // Sendable: the I/O thread keeps no reference to the frames once it hands them over, and
    // libzmq messages (unlike sockets) may be read and closed on any thread.
    let frames: [ReceivedFrame]
}
