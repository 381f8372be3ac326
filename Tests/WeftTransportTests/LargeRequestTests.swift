import Dispatch
import Synchronization
import Testing
import WeftProto
import WeftRuntime
@testable import WeftTransport

/// Requests whose envelope is too large to parse on the I/O thread (a partition's GraphDef) are
/// read aside; the I/O thread serves other peers meanwhile.
@Suite struct LargeRequestTests {
    @Test func largeRequestBeingRead_doesNotHoldUpAnotherPeersRequest() async throws {
        let reads = HeldReads()
        let server = try ServedOrderNode(readAside: reads.hold)
        let sender = try makeNode()
        let other = try makeNode()
        defer {
            sender.close()
            other.close()
            server.close()
        }
        let large = try largeRequest(session: "large")

        let largeReply = Task { try await sender.request(large, to: server.address, timeout: .seconds(30)) }
        #expect(await eventually { reads.count == 1 })
        // Read on the I/O thread, the large request kept this one waiting until it was served.
        let small = try await other.request(message(session: "small"), to: server.address, timeout: .seconds(30))
        #expect(small.envelope.session == "small")
        #expect(server.served == ["small"])

        reads.release()
        #expect(try await largeReply.value.envelope.session == "large")
        #expect(server.served == ["small", "large"])
    }

    @Test func requestsOfOneConnection_reachTheHandlerInOrder_whenTheFirstIsReadAside() async throws {
        let reads = HeldReads()
        let server = try ServedOrderNode(readAside: reads.hold)
        let sender = try makeNode()
        let other = try makeNode()
        defer {
            sender.close()
            other.close()
            server.close()
        }
        let large = try largeRequest(session: "large")

        let largeReply = Task { try await sender.request(large, to: server.address, timeout: .seconds(30)) }
        #expect(await eventually { reads.count == 1 })
        let laterReply = Task {
            try await sender.request(message(session: "later"), to: server.address, timeout: .seconds(30))
        }
        // Another peer's round trip, started after "later" left, gives "later" time to arrive.
        _ = try await other.request(message(session: "other"), to: server.address, timeout: .seconds(30))
        #expect(server.served == ["other"])

        reads.release()
        _ = try await largeReply.value
        _ = try await laterReply.value
        #expect(server.served == ["other", "large", "later"])
        #expect(reads.count == 1)
    }

    @Test func requestsPastTheHeldLimit_areRefused_andTheHeldOnesServed() async throws {
        let reads = HeldReads()
        let server = try ServedOrderNode(readAside: reads.hold)
        let sender = try makeNode()
        defer {
            sender.close()
            server.close()
        }
        let large = try largeRequest(session: "large")
        let largeReply = Task { try await sender.request(large, to: server.address, timeout: .seconds(60)) }
        #expect(await eventually { reads.count == 1 })
        let small = message(session: "small")
        let finished = Outcomes()
        let replies = (0...IOLoop.mostHeldRequests).map { _ in
            Task {
                var code: WeftError.Code?
                do throws(WeftError) {
                    _ = try await sender.request(small, to: server.address, timeout: .seconds(60))
                } catch {
                    code = error.code
                }
                finished.append(code)
            }
        }
        // The one past the limit is answered at once, while the others wait behind the large one.
        #expect(await eventually(timeout: .seconds(30)) { finished.all.count == 1 })
        #expect(finished.all == [.unavailable])
        #expect(server.served.isEmpty)

        reads.release()
        _ = try await largeReply.value
        for reply in replies { await reply.value }
        #expect(finished.all.compactMap { $0 } == [.unavailable])
        #expect(server.served.count == 1 + IOLoop.mostHeldRequests)
    }

    @Test func malformedLargeRequest_isRefusedWithItsRequestID_andTheNodeServesOn() async throws {
        let reads = CountedReads()
        var configuration = MessagingNode.Configuration()
        configuration.readAside = reads.run
        let server = try EchoNode(configuration: configuration)
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let id: UInt64 = 0xFEED_0000_0000_0015
        let frames = [
            try envelopeBytes {
                $0.runPartition = .init()
                $0.requestID = id
                $0.session = String(repeating: "s", count: IOLoop.asideEnvelopeBytes)
                $0.tensors = [
                    .with {
                        $0.dtype = .dtFloat
                        $0.shape = [2, 2]
                    }
                ]
            },
            [UInt8](repeating: 0, count: 15),
        ]

        let error = await #expect(throws: WeftError.self) {
            try await client.requestRawFrames(frames, to: server.address, requestID: id, timeout: .seconds(30))
        }

        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("needs 16 bytes, but its payload frame has 15") == true)
        #expect(reads.count == 1)
        let reply = try await client.request(message(session: "after"), to: server.address, timeout: .seconds(30))
        #expect(reply.envelope.session == "after")
        #expect(server.servedCount == 1)
        #expect(reads.count == 1)  // small requests are read on the I/O thread
    }

    @Test func largeReplyBeingRead_doesNotHoldUpTheNodesOtherRequests() async throws {
        let reads = HeldReads()
        var configuration = MessagingNode.Configuration()
        configuration.readAside = reads.hold
        let client = try makeNode(configuration: configuration)
        let echo = try EchoNode()
        let other = try EchoNode()
        defer {
            client.close()
            echo.close()
            other.close()
        }
        let large = message(session: String(repeating: "s", count: IOLoop.asideEnvelopeBytes))

        // The echo's reply carries the request's session, so the client reads it aside.
        let largeReply = Task { try await client.request(large, to: echo.address, timeout: .seconds(30)) }
        #expect(await eventually { reads.count == 1 })
        // Read on the I/O thread, the large reply kept this round trip waiting.
        let small = try await client.request(message(session: "small"), to: other.address, timeout: .seconds(30))
        #expect(small.envelope.session == "small")

        reads.release()
        #expect(try await largeReply.value.envelope.session == large.envelope.session)
    }

    @Test func largeRequest_onTheNodesOwnQueue_isServedWithItsTensors() async throws {
        let server = try EchoNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let tensor = Tensor(Float(1.5))
        var large = try largeRequest(session: "large")
        large.tensors = [tensor]

        let reply = try await client.request(large, to: server.address, timeout: .seconds(30))

        #expect(reply.envelope.session == "large")
        #expect(reply.tensors == [tensor])
    }
}

/// How requests ended: `nil` for a reply, else the error's code.
private final class Outcomes: Sendable {
    private let codes = Mutex<[WeftError.Code?]>([])

    func append(_ code: WeftError.Code?) { codes.withLock { $0.append(code) } }
    var all: [WeftError.Code?] { codes.withLock { $0 } }
}

/// A partition's registration whose envelope is large enough to be read aside.
private func largeRequest(session: String) throws -> WireMessage {
    var request = message(.registerPartition, session: session)
    request.envelope.registerPartition.graph.node = (0..<30_000).map { index in
        .with {
            $0.name = "node\(index)"
            $0.op = "NoOp"
        }
    }
    let bytes: [UInt8] = try request.envelope.serializedBytes()
    #expect(bytes.count >= IOLoop.asideEnvelopeBytes)
    return request
}

/// A node that answers every request with its session and records the sessions it served, in
/// the order its handler saw them.
private final class ServedOrderNode: Sendable {
    let node: MessagingNode
    private let order = Mutex<[String]>([])

    init(readAside: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void) throws {
        var configuration = MessagingNode.Configuration()
        configuration.readAside = readAside
        node = try makeNode(configuration: configuration)
        node.setHandler { [weak self] incoming in self?.serve(incoming) }
    }

    private func serve(_ incoming: IncomingMessage) {
        order.withLock { $0.append(incoming.envelope.session) }
        var envelope = Weft_Envelope()
        envelope.session = incoming.envelope.session
        node.reply(to: incoming, WireMessage(envelope: envelope))
    }

    var address: String { node.boundAddress }
    var served: [String] { order.withLock { $0 } }

    func close() { node.close() }
}

/// Holds the reading of large requests (or replies) until `release`.
private final class HeldReads: Sendable {
    private let state = Mutex<(count: Int, held: [@Sendable () -> Void])>((0, []))

    /// How many reads were handed over.
    var count: Int { state.withLock { $0.count } }

    func hold(_ work: @escaping @Sendable () -> Void) {
        state.withLock { state in
            state.count += 1
            state.held.append(work)
        }
    }

    /// Runs the reads held so far, off the I/O thread.
    func release() {
        let held = state.withLock { state in
            defer { state.held.removeAll() }
            return state.held
        }
        for work in held { DispatchQueue.global().async(execute: work) }
    }
}

/// Runs the reading of large requests off the I/O thread at once, counting them.
private final class CountedReads: Sendable {
    private let counter = Counter()

    var count: Int { counter.value }

    func run(_ work: @escaping @Sendable () -> Void) {
        counter.increment()
        DispatchQueue.global().async(execute: work)
    }
}
