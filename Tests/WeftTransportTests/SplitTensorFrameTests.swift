import CZeroMQ
import Testing
import WeftProto
import WeftRuntime

#if canImport(Glibc)
import Glibc
#endif

@testable import WeftTransport

/// Tensors that travel as several frames: a reply keeps to the frame size its requester asks for
/// (so no frame outlasts the requester's heartbeat timeout), nodes with CURVE can split large
/// payloads so encryption, the wire and decryption overlap, and every node joins what arrives split.
@Suite struct SplitTensorFrameTests {
    @Test func validate_assignsSplitFramesByTheAnnouncedSizes() throws {
        let header = WireCodec.header(
            for: WireMessage(
                envelope: Weft_Envelope(),
                tensors: [
                    Tensor(uninitialized: .float, shape: [6]), Tensor([Int32]()), Tensor(Int64(1)),
                    Tensor(uninitialized: .uint8, shape: [5]),
                ]
            )
        )
        let layouts = try WireCodec.validate(header, payloadSizes: [8, 8, 8, 0, 8, 2, 3])
        #expect(layouts.map(\.frames) == [0..<3, 3..<4, 4..<5, 5..<7])
    }

    @Test func validate_refusesSplitFramesThatDoNotAddUp() {
        let header = WireCodec.header(
            for: WireMessage(envelope: Weft_Envelope(), tensors: [Tensor(uninitialized: .float, shape: [6])])
        )
        #expect(
            throws: WeftError(.invalidArgument, "tensor 0 of type float and shape [6] needs 24 bytes, but its 2 payload frames have 16")
        ) {
            try WireCodec.validate(header, payloadSizes: [8, 8])
        }
        // Past the tensor's size, and empty parts, do not count as a split.
        #expect(throws: WeftError.self) { try WireCodec.validate(header, payloadSizes: [8, 8, 16]) }
        #expect(throws: WeftError.self) { try WireCodec.validate(header, payloadSizes: [8, 0, 16]) }
        // Frames left over after the last tensor.
        #expect(throws: WeftError.self) { try WireCodec.validate(header, payloadSizes: [8, 16, 4]) }
    }

    @Test func validate_boundsASplitTensorByTheFrameCap() {
        let header = WireCodec.header(
            for: WireMessage(envelope: Weft_Envelope(), tensors: [Tensor(uninitialized: .uint8, shape: [96])])
        )
        #expect {
            try WireCodec.validate(header, payloadSizes: [32, 32, 32], maxSplitTensorBytes: 64)
        } throws: { error in
            (error as? WeftError)?.code == .resourceExhausted
        }
        // Whole, the frame meets libzmq's own cap instead.
        #expect(throws: Never.self) { try WireCodec.validate(header, payloadSizes: [96], maxSplitTensorBytes: 64) }
    }

    @Test func securedNodes_splitLargeTensors_andTheReceiverJoinsThem() async throws {
        var configuration = MessagingNode.Configuration()
        configuration.encryptedTensorFrameBytes = 4096
        let serverKeys = try CurveKeyPair.generate()
        let clientKeys = try CurveKeyPair.generate()
        let server = try MessagingNode(
            listen: "tcp://127.0.0.1:0",
            configuration: configuration,
            security: MessagingNode.Security(keyPair: serverKeys, admitted: [clientKeys.publicKey]),
            logger: testLogger
        )
        defer { server.close() }
        server.setHandler { [weak server] incoming in
            var envelope = Weft_Envelope()
            envelope.tensors = incoming.envelope.tensors
            server?.reply(to: incoming, WireMessage(envelope: envelope, tensors: incoming.tensors))
        }
        let client = try MessagingNode(
            listen: "tcp://127.0.0.1:0",
            configuration: configuration,
            security: MessagingNode.Security(
                keyPair: clientKeys,
                admitted: [],
                serverKeys: [server.boundAddress: serverKeys.publicKey]
            ),
            logger: testLogger
        )
        defer { client.close() }
        let large = Tensor(uninitialized: .float, shape: [1 << 18, 3])  // 3 MiB: 768 frames
        large.withMutableElements(of: Float.self) { elements in
            for index in elements.indices { elements[index] = Float(index % 10007) }
        }
        let odd = Tensor(uninitialized: .uint8, shape: [10_001])  // a short last frame
        odd.withMutableElements(of: UInt8.self) { elements in
            for index in elements.indices { elements[index] = UInt8(truncatingIfNeeded: index * 7) }
        }
        let tensors = [large, Tensor([Int32]()), odd, try Tensor(strings: ["split", "frames"], shape: [2]), Tensor(Float(2.5))]

        let reply = try await client.request(message(tensors: tensors), to: server.boundAddress, timeout: .seconds(30))

        #expect(reply.tensors == tensors)
    }

    @Test func aSocketAskedForSmallFrames_sendsATensorInFramesOfAtMostThatSize() throws {
        let context = ZMQContext(ioThreads: 1, maxSockets: 16)
        let receiver = try Socket(context: context, type: ZMQ_PAIR, role: "receiver")
        let sender = try Socket(context: context, type: ZMQ_PAIR, role: "sender")
        defer {
            sender.close()
            receiver.close()
        }
        try receiver.bind("inproc://split-frames")
        try sender.connect("inproc://split-frames")
        let tensor = Tensor(uninitialized: .uint8, shape: [10_000])

        #expect(sender.send([.bytes([1]), .tensor(tensor)], blocking: true, frameBytes: 4096) == .sent)
        guard case .message(let frames) = receiver.receive(blocking: true) else {
            Issue.record("nothing arrived")
            return
        }
        #expect(frames.map(\.count) == [1, 4096, 4096, 1808])
        #expect(sender.send([.tensor(tensor)], blocking: true) == .sent)
        guard case .message(let whole) = receiver.receive(blocking: true) else {
            Issue.record("nothing arrived")
            return
        }
        #expect(whole.map(\.count) == [10_000])
    }

    @Test func theReplyFrameSizeARequestAsksFor_hasAFloor() {
        #expect(WireCodec.replyFrameBytes(asked: 0) == nil)
        #expect(WireCodec.replyFrameBytes(asked: 1) == WireCodec.minimumReplyFrameBytes)
        #expect(WireCodec.replyFrameBytes(asked: 64 << 20) == 64 << 20)
        #expect(WireCodec.replyFrameBytes(asked: .max) == .max)
    }

    @Test func aRequesterAskingForSmallReplyFrames_getsItsTensorsBack_throughTheIOThreadAndItsOwnDealer() async throws {
        var configuration = MessagingNode.Configuration()
        configuration.replyFrameBytes = WireCodec.minimumReplyFrameBytes
        let server = try EchoNode()
        let client = try makeNode(configuration: configuration)
        defer {
            client.close()
            server.close()
        }
        let large = Tensor(uninitialized: .int32, shape: [300_007])  // 19 frames, the last one short
        large.withMutableElements(of: Int32.self) { elements in
            for index in elements.indices { elements[index] = Int32(truncatingIfNeeded: index &* 31) }
        }
        let tensors = [large, Tensor(Float(2.5))]

        let reply = try await client.request(message(tensors: tensors), to: server.address, timeout: .seconds(30))
        #expect(reply.tensors == tensors)
        // The first blocking request goes through the I/O thread, the later ones on the caller's DEALER.
        for _ in 0..<3 {
            let blocking = try client.requestAndWait(message(tensors: tensors), to: server.address, timeout: .seconds(30))
            #expect(blocking.tensors == tensors)
            usleep(100_000)
        }
        #expect(client.openDirectConnections == 1)
    }

    @Test func aSplitTensorOverTheReceiversCap_isRefused_andTheNodeKeepsServing() async throws {
        var configuration = MessagingNode.Configuration()
        configuration.maxMessageSize = 64 << 10
        let server = try EchoNode(configuration: configuration)
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        // Frames of 32 KiB pass libzmq's per-frame cap; the 128 KiB tensor they make does not.
        var header = WireCodec.header(for: message(tensors: [Tensor(uninitialized: .uint8, shape: [128 << 10])]))
        header.requestID = 1 << 60
        let part = [UInt8](repeating: 1, count: 32 << 10)
        let frames = [try header.serializedBytes()] + Array(repeating: part, count: 4)

        let error = await #expect(throws: WeftError.self) {
            try await client.requestRawFrames(frames, to: server.address, requestID: 1 << 60, timeout: .seconds(10))
        }
        #expect(error?.code == .resourceExhausted, "\(String(describing: error))")

        // The same tensor in two 32 KiB frames is within the cap, joined and echoed.
        let small = Tensor(uninitialized: .uint8, shape: [64 << 10])
        small.withMutableElements(of: UInt8.self) { elements in
            for index in elements.indices { elements[index] = UInt8(truncatingIfNeeded: index) }
        }
        var smallHeader = WireCodec.header(for: message(tensors: [small]))
        smallHeader.requestID = (1 << 60) + 1
        let halves = [Array(small.bytes.prefix(32 << 10)), Array(small.bytes.suffix(32 << 10))]
        let reply = try await client.requestRawFrames(
            [try smallHeader.serializedBytes()] + halves,
            to: server.address,
            requestID: (1 << 60) + 1,
            timeout: .seconds(10)
        )
        #expect(reply.tensors == [small])
        #expect(server.servedCount == 1)
    }
}
