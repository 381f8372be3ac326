import WeftProto
import WeftRuntime
import WeftTransport

/// Building the messages the cluster's processes exchange.
extension WireMessage {
    /// A request with an empty body of `kind`, which `configure` may fill in.
    static func make(
        _ kind: MessageKind,
        session: String = "",
        step: UInt64 = 0,
        tensors: [Tensor] = [],
        _ configure: (inout Weft_Envelope) -> Void = { _ in }
    ) -> WireMessage {
        var envelope = Weft_Envelope()
        envelope.body = kind.emptyBody
        envelope.session = session
        envelope.step = step
        configure(&envelope)
        return WireMessage(envelope: envelope, tensors: tensors)
    }

    /// A reply: an acknowledgement unless `configure` sets a reply body.
    static func reply(
        session: String = "",
        step: UInt64 = 0,
        tensors: [Tensor] = [],
        _ configure: (inout Weft_Envelope) -> Void = { _ in }
    ) -> WireMessage {
        make(.ack, session: session, step: step, tensors: tensors, configure)
    }

    /// An empty successful reply.
    static let ok = WireMessage.reply()

    /// A reply carrying `error`.
    static func failure(_ error: WeftError) -> WireMessage {
        reply {
            $0.status = .with {
                $0.code = error.code.rawValue
                $0.message = error.message
            }
        }
    }
}
