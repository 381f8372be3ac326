import CProcessMemory
import Foundation
import Metrics
import Synchronization
import WeftProto
import WeftRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tensor payloads between two processes of one host without the network stack: a request's
/// large tensors stay in the sender's memory, and the receiver copies them out of it itself
/// (`process_vm_readv`). That is one copy where TCP over loopback makes two, and neither
/// process's libzmq I/O thread touches the bytes. The sender holds a lent tensor until its
/// request is answered; the receiver reads it before the request reaches the handler, so before
/// any answer. Only requests lend: nothing answers a reply.
///
/// A receiver reads only from a process that proved, once, that it is the process it names.
/// The lender asks for a nonce (`LendChallenge`), holds it in its memory and names its pid and
/// the nonce's address (`LendProof`); the receiver finds the nonce there, in that process, and
/// checks that the process shares its network namespace (the cluster's notion of a host, so
/// workers in namespaces that stand for hosts keep their links). The proof carries a secret the
/// lender chose, which its later messages name it by: a peer cannot make the receiver read
/// another process's memory by naming that process's pid. When the proof fails (another host, a
/// container's pid namespace, a kernel that forbids the read) the route keeps sending frames.
final class PayloadLending: Sendable {
    /// Tensors smaller than this travel in frames: for them the read's system call and the
    /// sender's wait for the answer cost more than the copies it saves.
    static let minimumBytes = 64 << 10
    /// Nonces handed out and not yet proved that a node keeps, oldest dropped first.
    static let mostNonces = 64
    /// Lenders a node remembers; past this it forgets them all, and they prove themselves again.
    static let mostLenders = 4096
    /// The prefix of the error a receiver answers a lent tensor with when it does not know the
    /// lender (it restarted): the sender then proves itself again.
    static let unknownLender = "the lender of this request's tensors has not proved itself to"

    /// How requests to one address carry their large tensors.
    enum Route: Equatable {
        /// A proof is under way; frames meanwhile.
        case proving
        /// Lent.
        case lending
        /// In frames: the receiver refused the proof or does not lend.
        case frames
    }

    /// What a request to an address does with its large tensors.
    enum Decision: Equatable {
        case lend
        case frames
        /// Frames, and this caller starts the route's proof.
        case prove
    }

    /// This process as a lender: its pid and its secret.
    let lender: Weft_Lender
    private let enabled: Bool
    private let routes = Mutex<[String: Route]>([:])
    private let proofs = Mutex(Proofs())
    /// This process's network namespace (`net:[inode]`); `nil` when it cannot be read, and then
    /// this node takes no proof.
    private let namespace: String?

    private struct Proofs {
        var nonces: [[UInt8]] = []
        /// Secrets of the lenders that proved themselves, by pid.
        var lenders: [UInt32: [UInt8]] = [:]
    }

    /// The secret this process lends under. One per process, not per node: a receiver knows a
    /// lender by its pid, and the nodes of one process (a `LocalCluster`'s) must not replace
    /// each other's proofs there.
    private static let processSecret = Data(randomBytes())

    /// A node's lending; with `enabled` false it neither lends nor takes proofs.
    init(enabled: Bool) {
        self.enabled = enabled
        self.lender = .with {
            $0.pid = UInt32(truncatingIfNeeded: getpid())
            $0.secret = Self.processSecret
        }
        self.namespace = Self.networkNamespace(of: "self")
    }

    // MARK: Lending

    /// How a request to `address` carries tensors of at least `minimumBytes`.
    func decide(for address: String) -> Decision {
        guard enabled else { return .frames }
        return routes.withLock { routes in
            switch routes[address] {
            case .lending: return .lend
            case .proving, .frames: return .frames
            case nil:
                routes[address] = .proving
                return .prove
            }
        }
    }

    /// Whether `tensor` is lent by a request to a route that lends.
    static func lends(_ tensor: Tensor) -> Bool {
        !tensor.dtype.isObject && tensor.byteCount >= minimumBytes
    }

    /// Records how the proof to `address` ended.
    func settle(_ address: String, _ route: Route) {
        routes.withLock { $0[address] = route }
    }

    /// Forgets the route to `address` (its connection was lost, or its process forgot this
    /// one): the next large request proves this process again.
    func forget(_ address: String) {
        _ = routes.withLock { $0.removeValue(forKey: address) }
    }

    /// Forgets the route to `address` when `error` is its process's answer that it does not
    /// know this one as a lender (it restarted there).
    func forget(_ address: String, ifUnknownLender error: WeftError) {
        guard error.code == .failedPrecondition, error.message.hasPrefix(Self.unknownLender) else { return }
        forget(address)
    }

    /// The proof of a nonce a receiver sent, and the nonce in this process's memory, which the
    /// caller keeps until the receiver answered.
    func proof(of nonce: Data) -> (message: WireMessage, held: HeldNonce) {
        let held = HeldNonce(nonce)
        var envelope = Weft_Envelope()
        envelope.lendProof = .with {
            $0.lender = lender
            $0.nonce = nonce
            $0.address = held.address
        }
        return (WireMessage(envelope: envelope), held)
    }

    // MARK: Receiving

    /// The answer to a `LendChallenge`: a fresh nonce.
    func challenge() -> WireMessage {
        let nonce = Self.randomBytes()
        proofs.withLock { proofs in
            if proofs.nonces.count >= Self.mostNonces { proofs.nonces.removeFirst() }
            proofs.nonces.append(nonce)
        }
        var envelope = Weft_Envelope()
        envelope.lendChallengeReply = .with { $0.nonce = Data(nonce) }
        return WireMessage(envelope: envelope)
    }

    /// Checks a `LendProof` and remembers its lender; throws why it is refused.
    func verify(_ proof: Weft_LendProof) throws(WeftError) {
        guard enabled, let namespace else {
            throw WeftError(.failedPrecondition, "this process does not take lent tensors")
        }
        let known = proofs.withLock { proofs in
            guard let index = proofs.nonces.firstIndex(of: Array(proof.nonce)) else { return false }
            proofs.nonces.remove(at: index)
            return true
        }
        guard known else { throw WeftError(.invalidArgument, "the proof names a nonce this process did not hand out") }
        let pid = proof.lender.pid
        guard pid > 0, pid <= Int32.max, proof.lender.secret.count == 16 else {
            throw WeftError(.invalidArgument, "the proof names no valid process or secret")
        }
        guard Self.networkNamespace(of: "\(pid)") == namespace else {
            throw WeftError(
                .failedPrecondition,
                "process \(pid) is not in this process's network namespace, or its namespace cannot be read here"
            )
        }
        var found = [UInt8](repeating: 0, count: proof.nonce.count)
        let copied = found.withUnsafeMutableBytes { into in
            weft_process_memory_read(pid_t(pid), into.baseAddress, proof.address, into.count)
        }
        guard copied == found.count, found == Array(proof.nonce) else {
            let reason = copied < 0 ? String(cString: strerror(errno)) : "another value is there"
            throw WeftError(.permissionDenied, "cannot find the nonce in process \(pid): \(reason)")
        }
        proofs.withLock { proofs in
            if proofs.lenders.count >= Self.mostLenders { proofs.lenders.removeAll() }
            proofs.lenders[pid] = Array(proof.lender.secret)
        }
    }

    /// Reads lent payloads from the process `lender` names, once it proved itself.
    func reader(for lender: Weft_Lender) throws(WeftError) -> LentPayloadReader {
        let secret = proofs.withLock { $0.lenders[lender.pid] }
        guard enabled, let secret, secret == Array(lender.secret) else {
            throw WeftError(.failedPrecondition, "\(Self.unknownLender) process \(getpid()) (it names process \(lender.pid))")
        }
        return LentPayloadReader(pid: pid_t(lender.pid))
    }

    private static func randomBytes() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// The network namespace of `/proc/<process>`, as its link reads (`net:[4026531840]`).
    private static func networkNamespace(of process: String) -> String? {
        var link = [CChar](repeating: 0, count: 128)
        let count = readlink("/proc/\(process)/ns/net", &link, link.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: link[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A nonce in memory of its own, for a receiver to find there; freed with this object.
final class HeldNonce: @unchecked Sendable {
    // Sendable: written once, before its address is shared, and read only by other processes.
    private let memory: UnsafeMutableRawBufferPointer

    init(_ nonce: Data) {
        memory = .allocate(byteCount: max(nonce.count, 1), alignment: 16)
        memory.copyBytes(from: nonce)
    }

    deinit { memory.deallocate() }

    /// Where the nonce is.
    var address: UInt64 { UInt64(UInt(bitPattern: memory.baseAddress)) }
}

/// Copies the payloads a verified lender lends into buffers of this process.
struct LentPayloadReader {
    let pid: pid_t

    /// A buffer holding the `byteCount` bytes at `address` of the lender. The caller bounded
    /// `byteCount` by the message size limit.
    func read(address: UInt64, byteCount: Int) throws(WeftError) -> TensorBuffer {
        let buffer = TensorBuffer(byteCount: byteCount)
        guard byteCount > 0 else { return buffer }
        let copied = weft_process_memory_read(pid, buffer.base, address, byteCount)
        guard copied == byteCount else {
            let reason = copied < 0 ? String(cString: strerror(errno)) : "it stopped short"
            throw WeftError(
                .unavailable,
                "cannot read a lent tensor of \(byteCount) bytes from process \(pid): \(reason)"
            )
        }
        Counter(label: "weft_lent_bytes_total").increment(by: byteCount)
        return buffer
    }
}
