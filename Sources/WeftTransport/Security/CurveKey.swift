import CZeroMQ
import WeftRuntime

/// A CURVE key (Curve25519, as ZeroMQ's CurveZMQ uses it): 32 bytes, written in Z85 as 40
/// printable characters.
public struct CurveKey: Sendable, Hashable, CustomStringConvertible {
    /// The 32 bytes.
    public let bytes: [UInt8]

    /// Wraps 32 bytes; any other count is `invalidArgument`.
    public init(bytes: [UInt8]) throws(WeftError) {
        guard bytes.count == 32 else {
            throw WeftError(.invalidArgument, "a CURVE key has 32 bytes, not \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// Decodes a key's 40 Z85 characters; anything else is `invalidArgument` saying why.
    public init(z85 text: String) throws(WeftError) {
        guard text.utf8.count == 40 else {
            throw WeftError(
                .invalidArgument,
                "a CURVE key is 40 Z85 characters (32 bytes), not \(text.utf8.count) characters"
            )
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        let decoded = bytes.withUnsafeMutableBufferPointer { buffer in
            zmq_z85_decode(buffer.baseAddress, text) != nil
        }
        guard decoded else { throw WeftError(.invalidArgument, "'\(text)' is not Z85 text") }
        self.bytes = bytes
    }

    /// The key in Z85.
    public var z85: String {
        var text = [CChar](repeating: 0, count: 41)
        bytes.withUnsafeBufferPointer { _ = zmq_z85_encode(&text, $0.baseAddress, 32) }
        return String(decoding: text.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The key in Z85, so a public key reads the same in logs, files and status.
    public var description: String { z85 }

    /// Whether this libzmq was built with CURVE (Debian's is, with libsodium).
    public static var isAvailable: Bool { zmq_has("curve") == 1 }
}

/// A process's CURVE key pair: its public key, which peers list, and the secret key that
/// proves it is the holder.
public struct CurveKeyPair: Sendable, Hashable, CustomStringConvertible {
    /// The key others name this process by.
    public let publicKey: CurveKey
    /// The key only this process holds.
    public let secretKey: CurveKey

    /// The pair of `secretKey`, its public key derived from it.
    public init(secretKey: CurveKey) throws(WeftError) {
        var text = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&text, secretKey.z85) == 0 else {
            throw ZMQFailure.current("cannot derive a CURVE public key").error(.unimplemented)
        }
        self.publicKey = try CurveKey(z85: String(decoding: text.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        self.secretKey = secretKey
    }

    /// A new random pair from libsodium; `unimplemented` when this libzmq has no CURVE.
    public static func generate() throws(WeftError) -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else {
            throw ZMQFailure.current("cannot make a CURVE key pair (is libzmq built with libsodium?)")
                .error(.unimplemented)
        }
        let secret = try CurveKey(z85: String(decoding: secretText.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        return try CurveKeyPair(secretKey: secret)
    }

    /// Names the public key only: a secret key never reaches a log.
    public var description: String { "key pair \(publicKey)" }
}
