import WeftProto
import WeftRuntime
import WeftTransport

/// Building the messages the cluster's processes exchange.
extension WireMessage {
    /// A message of `kind` with `body` set by `configure`.
    static func make(
        _ kind: Weft_Kind,
        session: String = "",
        step: UInt64 = 0,
        tensors: [Tensor] = [],
        _ configure: (inout Weft_Envelope) -> Void = { _ in }
    ) -> WireMessage {
        var envelope = Weft_Envelope()
        envelope.kind = kind
        envelope.session = session
        envelope.step = step
        configure(&envelope)
        return WireMessage(envelope: envelope, tensors: tensors)
    }

    /// An empty successful reply.
    static let ok = WireMessage.make(.reply)

    /// A reply carrying `error`.
    static func failure(_ error: WeftError) -> WireMessage {
        make(.reply) {
            $0.status = .with {
                $0.code = error.code.rawValue
                $0.message = error.message
            }
        }
    }
}
