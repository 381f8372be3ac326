import WeftProto
import WeftRuntime

/// The name of an envelope's body case: what a message is, read from the body alone (the wire
/// carries no separate kind that could disagree with it). Builders, fault rules, permissions
/// and logs use it; handlers switch on `Weft_Envelope.body` itself.
public enum MessageKind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case registerWorker, heartbeat, leaveCluster, createSession, extendSession, runStep, cancelStep, closeSession
    case clusterStatus, keepAlive, registerPartition, runPartition, pushTensor, releaseSession, abortStep
    case measureLinks, ping, lendChallenge, lendProof
    case registerWorkerReply, heartbeatReply, createSessionReply, runStepReply, clusterStatusReply
    case runPartitionReply, measureLinksReply, lendChallengeReply, ack

    /// The kind of `body`.
    public init(_ body: Weft_Envelope.OneOf_Body) {
        switch body {
        case .registerWorker: self = .registerWorker
        case .heartbeat: self = .heartbeat
        case .leaveCluster: self = .leaveCluster
        case .createSession: self = .createSession
        case .extendSession: self = .extendSession
        case .runStep: self = .runStep
        case .cancelStep: self = .cancelStep
        case .closeSession: self = .closeSession
        case .clusterStatus: self = .clusterStatus
        case .keepAlive: self = .keepAlive
        case .registerPartition: self = .registerPartition
        case .runPartition: self = .runPartition
        case .pushTensor: self = .pushTensor
        case .releaseSession: self = .releaseSession
        case .abortStep: self = .abortStep
        case .measureLinks: self = .measureLinks
        case .ping: self = .ping
        case .lendChallenge: self = .lendChallenge
        case .lendProof: self = .lendProof
        case .lendChallengeReply: self = .lendChallengeReply
        case .registerWorkerReply: self = .registerWorkerReply
        case .heartbeatReply: self = .heartbeatReply
        case .createSessionReply: self = .createSessionReply
        case .runStepReply: self = .runStepReply
        case .clusterStatusReply: self = .clusterStatusReply
        case .runPartitionReply: self = .runPartitionReply
        case .measureLinksReply: self = .measureLinksReply
        case .ack: self = .ack
        }
    }

    /// Whether the body answers a request rather than making one.
    public var isReply: Bool {
        switch self {
        case .registerWorkerReply, .heartbeatReply, .createSessionReply, .runStepReply, .clusterStatusReply,
            .runPartitionReply, .measureLinksReply, .lendChallengeReply, .ack:
            return true
        default:
            return false
        }
    }

    /// The body of this kind with every field at its default, for a builder to fill in.
    public var emptyBody: Weft_Envelope.OneOf_Body {
        switch self {
        case .registerWorker: .registerWorker(.init())
        case .heartbeat: .heartbeat(.init())
        case .leaveCluster: .leaveCluster(.init())
        case .createSession: .createSession(.init())
        case .extendSession: .extendSession(.init())
        case .runStep: .runStep(.init())
        case .cancelStep: .cancelStep(.init())
        case .closeSession: .closeSession(.init())
        case .clusterStatus: .clusterStatus(.init())
        case .keepAlive: .keepAlive(.init())
        case .registerPartition: .registerPartition(.init())
        case .runPartition: .runPartition(.init())
        case .pushTensor: .pushTensor(.init())
        case .releaseSession: .releaseSession(.init())
        case .abortStep: .abortStep(.init())
        case .measureLinks: .measureLinks(.init())
        case .ping: .ping(.init())
        case .lendChallenge: .lendChallenge(.init())
        case .lendProof: .lendProof(.init())
        case .lendChallengeReply: .lendChallengeReply(.init())
        case .registerWorkerReply: .registerWorkerReply(.init())
        case .heartbeatReply: .heartbeatReply(.init())
        case .createSessionReply: .createSessionReply(.init())
        case .runStepReply: .runStepReply(.init())
        case .clusterStatusReply: .clusterStatusReply(.init())
        case .runPartitionReply: .runPartitionReply(.init())
        case .measureLinksReply: .measureLinksReply(.init())
        case .ack: .ack(.init())
        }
    }

    /// The body case's name, `runStep`.
    public var description: String { rawValue }
}

extension Weft_Envelope {
    /// What the message is, from its body; `nil` when it has none (refused either way).
    public var messageKind: MessageKind? { body.map(MessageKind.init) }

    /// Whether the body is a reply body.
    public var isReply: Bool { messageKind?.isReply ?? false }

    /// Throws `invalidArgument` unless the body is a request body: what a ROUTER serves.
    public func validateRequest() throws(WeftError) {
        guard let kind = messageKind else {
            throw WeftError(.invalidArgument, "the envelope has no body, so it is no request a handler serves")
        }
        guard !kind.isReply else {
            throw WeftError(.invalidArgument, "the envelope carries a \(kind) body, which is a reply, not a request")
        }
    }

    /// Throws `invalidArgument` unless the body is a reply body: what a DEALER takes.
    public func validateReply() throws(WeftError) {
        guard let kind = messageKind else {
            throw WeftError(.invalidArgument, "the envelope has no body, so it is no reply")
        }
        guard kind.isReply else {
            throw WeftError(.invalidArgument, "it is a \(kind) request, not a reply")
        }
    }
}
