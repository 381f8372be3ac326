import Dispatch
import Foundation
import Testing
import WeftProto
import WeftRuntime

@testable import WeftTransport

/// Large tensors of requests between processes of one host are lent: the receiver reads them out
/// of the sender's memory, once the sender proved which process it is.
@Suite struct PayloadLendingTests {
    /// A node that answers each request with its tensors, counting those that arrived lent.
    final class LentCountingNode: Sendable {
        let node: MessagingNode
        let lent = Counter()

        init(configuration: MessagingNode.Configuration = .init()) throws {
            node = try makeNode(configuration: configuration)
            node.setHandler { [weak node, lent] incoming in
                if incoming.envelope.tensors.contains(where: { $0.lentAddress != 0 }) { lent.increment() }
                node?.reply(to: incoming, WireMessage(envelope: Weft_Envelope(), tensors: incoming.tensors))
            }
        }
    }

    /// A tensor of `count` floats, each different.
    static func pattern(_ count: Int) -> Tensor {
        let tensor = Tensor(uninitialized: .float, shape: [count])
        tensor.withMutableElements(of: Float.self) { elements in
            for index in elements.indices { elements[index] = Float(index % 65_521) }
        }
        return tensor
    }

    /// Sends `tensors` to `server` until a request arrives lent (at most `attempts` requests);
    /// every reply must bring the tensors back unchanged.
    static func requestUntilLent(
        _ tensors: [Tensor],
        from client: MessagingNode,
        to server: LentCountingNode,
        attempts: Int = 100
    ) async throws {
        for _ in 0..<attempts {
            let reply = try await client.request(message(tensors: tensors), to: server.node.boundAddress, timeout: .seconds(10))
            #expect(reply.tensors == tensors)
            if server.lent.value > 0 { return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func largeTensors_areLentOnceTheSenderProvedItself_andArriveIntact() async throws {
        let server = try LentCountingNode()
        let client = try makeNode()
        defer {
            client.close()
            server.node.close()
        }
        let tensors = [Self.pattern(1 << 18), Tensor(Float(2.5)), try Tensor(strings: ["kept", "in frames"], shape: [2])]

        try await Self.requestUntilLent(tensors, from: client, to: server)

        #expect(server.lent.value > 0)
        let reply = try await client.request(message(tensors: tensors), to: server.node.boundAddress, timeout: .seconds(10))
        #expect(reply.tensors == tensors)
        #expect(server.lent.value >= 2)
    }

    @Test func blockingRequests_lendOnTheCallersOwnDealerToo() throws {
        let server = try LentCountingNode()
        let client = try makeNode()
        defer {
            client.close()
            server.node.close()
        }
        let tensors = [Self.pattern(1 << 18), Tensor(Int32(7))]

        // The first goes through the I/O thread and starts the proof; later ones take the
        // caller's own DEALER once it is connected.
        for _ in 0..<100 where server.lent.value < 3 {
            let reply = try client.requestAndWait(message(tensors: tensors), to: server.node.boundAddress, timeout: .seconds(10))
            #expect(reply.tensors == tensors)
            usleep(10_000)
        }

        #expect(server.lent.value >= 3)
        #expect(client.openDirectConnections >= 1)
    }

    @Test func aRequestLendingMoreThanTheIOThreadCopies_isReadAside() async throws {
        let asideReads = Counter()
        var configuration = MessagingNode.Configuration()
        configuration.readAside = { work in
            asideReads.increment()
            DispatchQueue.global().async(execute: work)
        }
        let server = try LentCountingNode(configuration: configuration)
        let client = try makeNode()
        defer {
            client.close()
            server.node.close()
        }
        let large = Self.pattern(IOLoop.asideLentBytes / 4 + 1)

        try await Self.requestUntilLent([large], from: client, to: server)

        #expect(server.lent.value == 1)
        #expect(asideReads.value == 1)
        // At the limit, the I/O thread reads it itself.
        _ = try await client.request(message(tensors: [Self.pattern(IOLoop.asideLentBytes / 4)]), to: server.node.boundAddress, timeout: .seconds(10))
        #expect(server.lent.value == 2)
        #expect(asideReads.value == 1)
    }

    @Test func aReceiverThatDoesNotLend_getsFrames() async throws {
        var configuration = MessagingNode.Configuration()
        configuration.lendsPayloads = false
        let server = try LentCountingNode(configuration: configuration)
        let client = try makeNode()
        defer {
            client.close()
            server.node.close()
        }

        try await Self.requestUntilLent([Self.pattern(1 << 17)], from: client, to: server, attempts: 10)

        #expect(server.lent.value == 0)
    }

    @Test func smallTensors_travelInFrames() async throws {
        let server = try LentCountingNode()
        let client = try makeNode()
        defer {
            client.close()
            server.node.close()
        }

        try await Self.requestUntilLent([Self.pattern(PayloadLending.minimumBytes / 4 - 1)], from: client, to: server, attempts: 10)

        #expect(server.lent.value == 0)
    }

    @Test func aProofNamingAnotherProcess_isRefused() async throws {
        let server = try LentCountingNode()
        let client = try makeNode()
        let other = Process()
        other.executableURL = URL(fileURLWithPath: "/bin/sleep")
        other.arguments = ["30"]
        try other.run()
        defer {
            other.terminate()
            client.close()
            server.node.close()
        }
        let challenge = try await client.request(message(.lendChallenge), to: server.node.boundAddress, timeout: .seconds(10))
        guard case .lendChallengeReply(let answer)? = challenge.envelope.body else {
            Issue.record("no nonce in \(challenge.envelope)")
            return
        }
        let held = HeldNonce(answer.nonce)
        var proof = Weft_Envelope()
        proof.lendProof = .with {
            $0.lender = .with {
                $0.pid = UInt32(other.processIdentifier)
                $0.secret = Data(repeating: 7, count: 16)
            }
            $0.nonce = answer.nonce
            $0.address = held.address
        }

        await #expect { _ = try await client.request(WireMessage(envelope: proof), to: server.node.boundAddress, timeout: .seconds(10)) }
            throws: { ($0 as? WeftError)?.code == .permissionDenied }
        // The nonce was spent: the same proof naming this process now fails too.
        proof.lendProof.lender.pid = UInt32(getpid())
        await #expect { _ = try await client.request(WireMessage(envelope: proof), to: server.node.boundAddress, timeout: .seconds(10)) }
            throws: { ($0 as? WeftError)?.code == .invalidArgument }
        withExtendedLifetime(held) {}
    }

    @Test func aLentTensorFromAnUnknownLender_isRefused_beforeAnythingIsRead() async throws {
        let server = try LentCountingNode()
        let client = try makeNode()
        defer {
            client.close()
            server.node.close()
        }
        let tensor = Self.pattern(1 << 16)
        var envelope = Weft_Envelope()
        envelope.ping = Weft_Ping()
        envelope.requestID = 77
        envelope.lender = .with {
            $0.pid = UInt32(getpid())
            $0.secret = Data(repeating: 1, count: 16)
        }
        let lent: [UInt8] = try WireCodec.header(for: WireMessage(envelope: envelope, tensors: [tensor]), lent: [true])
            .serializedBytes()

        await #expect {
            _ = try await client.requestRawFrames([lent], to: server.node.boundAddress, requestID: 77, timeout: .seconds(10))
        } throws: { error in
            guard let error = error as? WeftError else { return false }
            return error.code == .failedPrecondition && error.message.hasPrefix(PayloadLending.unknownLender)
        }
        #expect(server.lent.value == 0)
        withExtendedLifetime(tensor) {}
    }

    @Test func validate_givesLentTensorsNoFrames_andBoundsThem() throws {
        let tensors = [Tensor(uninitialized: .float, shape: [4]), Tensor(uninitialized: .float, shape: [6]), Tensor(Int32(3))]
        let header = WireCodec.header(for: WireMessage(envelope: Weft_Envelope(), tensors: tensors), lent: [false, true, false])

        let layouts = try WireCodec.validate(header, payloadSizes: [16, 4])

        #expect(layouts.map(\.frames) == [0..<1, 1..<1, 1..<2])
        #expect(layouts.map(\.lentAddress) == [nil, UInt64(UInt(bitPattern: tensors[1].buffer.base)), nil])
        #expect(layouts[1].byteCount == 24)
        #expect(throws: WeftError.self) { try WireCodec.validate(header, payloadSizes: [16, 24, 4]) }
        #expect { try WireCodec.validate(header, payloadSizes: [16, 4], maxSplitTensorBytes: 20) } throws: {
            ($0 as? WeftError)?.code == .resourceExhausted
        }
        var strings = WireCodec.header(for: WireMessage(envelope: Weft_Envelope(), tensors: [try Tensor(strings: ["a"], shape: [1])]))
        strings.tensors[0].lentAddress = 4096
        #expect(throws: WeftError.self) { try WireCodec.validate(strings, payloadSizes: []) }
    }
}
