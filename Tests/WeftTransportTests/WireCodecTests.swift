import Testing
import WeftProto
import WeftRuntime

@testable import WeftTransport

@Suite struct WireCodecTests {
    @Test func header_describesEachTensor_andCarriesTheProtocolVersion() throws {
        var envelope = Weft_Envelope()
        envelope.runStep = .init()
        envelope.tensors = [.with { $0.name = "x:0" }, .with { $0.name = "y:0" }]
        let message = WireMessage(
            envelope: envelope,
            tensors: [try Tensor([Float(1), 2, 3, 4, 5, 6], shape: [2, 3]), Tensor(Int64(7))]
        )

        let header = WireCodec.header(for: message)

        #expect(header.protocolVersion == WireProtocol.version)
        #expect(header.tensors.map(\.name) == ["x:0", "y:0"])
        #expect(header.tensors.map(\.dtype) == [.dtFloat, .dtInt64])
        #expect(header.tensors.map(\.shape) == [[2, 3], []])
    }

    @Test func header_withoutMatchingNames_leavesNamesEmpty() {
        var envelope = Weft_Envelope()
        envelope.tensors = [.with { $0.name = "stale" }]
        let header = WireCodec.header(for: WireMessage(envelope: envelope, tensors: [Tensor(Int32(1)), Tensor(true)]))
        #expect(header.tensors.map(\.name) == ["", ""])
    }

    @Test func validate_acceptsAWellFormedMessage() throws {
        let header = WireCodec.header(
            for: WireMessage(
                envelope: Weft_Envelope(),
                tensors: [try Tensor([Double(1), 2], shape: [2, 1]), Tensor([Bool]())]
            )
        )
        let layouts = try WireCodec.validate(header, payloadSizes: [16, 0])
        #expect(layouts.map(\.dtype) == [.double, .bool])
        #expect(layouts.map(\.shape) == [[2, 1], [0]])
    }

    @Test func validate_refusesAnotherProtocolVersion() {
        var envelope = Weft_Envelope()
        envelope.protocolVersion = 99
        #expect {
            try WireCodec.validate(envelope, payloadSizes: [])
        } throws: { error in
            let error = error as? WeftError
            return error?.code == .invalidArgument && error?.message.contains("version 99") == true
        }
    }

    @Test func validate_refusesMissingOrExtraPayloadFrames() {
        let header = WireCodec.header(
            for: WireMessage(envelope: Weft_Envelope(), tensors: [Tensor(Float(1)), Tensor(Float(2))])
        )
        #expect(
            throws: WeftError(.invalidArgument, "the envelope describes 2 tensor(s) but 1 payload frame(s) followed it")
        ) {
            try WireCodec.validate(header, payloadSizes: [4])
        }
        #expect(throws: WeftError.self) { try WireCodec.validate(header, payloadSizes: [4, 4, 4]) }
    }

    @Test func validate_refusesAPayloadOfTheWrongSize() throws {
        var envelope = WireCodec.header(
            for: WireMessage(
                envelope: Weft_Envelope(),
                tensors: [try Tensor([Float](repeating: 0, count: 6), shape: [2, 3])]
            )
        )
        envelope.tensors[0].name = "w"
        #expect(
            throws: WeftError(
                .invalidArgument,
                "tensor 0 ('w') of type float and shape [2,3] needs 24 bytes, but its payload frame has 20"
            )
        ) {
            try WireCodec.validate(envelope, payloadSizes: [20])
        }
    }

    @Test(arguments: [
        ([Int64(-1), 3], "sizes must be 0 or more"),
        ([Int64.max, Int64.max], "too large"),
    ])
    func validate_refusesImpossibleShapes(shape: [Int64], problem: String) {
        var envelope = WireCodec.header(for: WireMessage(envelope: Weft_Envelope(), tensors: [Tensor(Float(1))]))
        envelope.tensors[0].shape = shape
        #expect {
            try WireCodec.validate(envelope, payloadSizes: [4])
        } throws: { error in
            (error as? WeftError)?.message.contains(problem) == true
        }
    }

    @Test func validate_refusesAnUnsupportedDType() {
        var envelope = WireCodec.header(for: WireMessage(envelope: Weft_Envelope(), tensors: [Tensor(Float(1))]))
        envelope.tensors[0].dtype = .dtFloat8E5M2
        #expect {
            try WireCodec.validate(envelope, payloadSizes: [4])
        } throws: { error in
            (error as? WeftError)?.code == .invalidArgument
        }
    }

    @Test func envelope_refusesBytesThatAreNotAnEnvelope() {
        let garbage: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF]
        #expect {
            try garbage.withUnsafeBytes { bytes in try WireCodec.envelope(from: bytes) }
        } throws: { error in
            (error as? WeftError)?.code == .invalidArgument
        }
    }

    @Test func wildcardListenAddress_becomesConnectable() {
        let address = IOLoop.connectableAddress("tcp://0.0.0.0:5555")
        #expect(address.hasPrefix("tcp://") && address.hasSuffix(":5555"))
        #expect(!address.contains("0.0.0.0"))
        #expect(IOLoop.connectableAddress("tcp://127.0.0.1:5555") == "tcp://127.0.0.1:5555")
        #expect(IOLoop.connectableAddress("ipc:///tmp/weft") == "ipc:///tmp/weft")
    }

    @Test func body_alone_tellsRequestsFromReplies() throws {
        var envelope = Weft_Envelope()
        let bodiless = #expect(throws: WeftError.self) { try envelope.validateRequest() }
        #expect(bodiless?.code == .invalidArgument)
        #expect(throws: WeftError.self) { try envelope.validateReply() }
        envelope.runStep = .with { $0.fetches = ["y:0"] }
        try envelope.validateRequest()
        let notReply = #expect(throws: WeftError.self) { try envelope.validateReply() }
        #expect(notReply?.message.contains("runStep request, not a reply") == true)
        envelope.runStepReply = Weft_RunStepReply()
        try envelope.validateReply()
        #expect(throws: WeftError.self) { try envelope.validateRequest() }
        envelope.ack = Weft_Ack()
        try envelope.validateReply()
    }

    @Test(arguments: MessageKind.allCases)
    func everyKind_namesTheBodyItMakes(kind: MessageKind) throws {
        let body = kind.emptyBody
        #expect(MessageKind(body) == kind)
        var envelope = Weft_Envelope()
        envelope.body = body
        // A bodyless message and one with an empty body differ on the wire, so the kind survives.
        let decoded = try Weft_Envelope(serializedBytes: try envelope.serializedBytes() as [UInt8])
        #expect(decoded.messageKind == kind)
    }
}
