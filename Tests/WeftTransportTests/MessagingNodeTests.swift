import Dispatch
import Synchronization
import Testing
import WeftProto
import WeftRuntime
import WeftTransport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct MessagingNodeTests {
    // MARK: Round trips

    @Test func requestReply_tensorsOfSeveralDTypes_arriveIntact() async throws {
        let server = try EchoNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let large = Tensor(uninitialized: .float, shape: [3, 1 << 20])  // 12 MiB
        large.withMutableElements(of: Float.self) { elements in
            for index in elements.indices { elements[index] = Float(index % 9973) * 0.5 }
        }
        let tensors: [Tensor] = [
            try Tensor([Float(1.5), -2, 3, 4, 5, 6], shape: [2, 3]),
            Tensor([Double.pi, -Double.infinity]),
            Tensor([Int32.min, 0, Int32.max]),
            Tensor(Int64(-42)),
            Tensor([UInt8(0), 7, 255]),
            Tensor([true, false, true]),
            Tensor([Float16(0.25), Float16(-8)]),
            Tensor([Int16(-3), Int16(300)]),
            try Tensor([Float](), shape: [0, 4]),
            large,
        ]
        var request = message(.runPartition, session: "s1", step: 17, tensors: tensors)
        request.envelope.runPartition = .with { $0.handle = "p1" }
        request.envelope.tensors = tensors.indices.map { index in .with { $0.name = "t\(index):0" } }

        let reply = try await client.request(request, to: server.address, timeout: .seconds(10))

        #expect(reply.envelope.messageKind == .ack)
        #expect(reply.envelope.session == "s1")
        #expect(reply.envelope.step == 17)
        #expect(reply.envelope.tensors.map(\.name) == tensors.indices.map { "t\($0):0" })
        #expect(reply.tensors.count == tensors.count)
        for (received, sent) in zip(reply.tensors, tensors) {
            #expect(received == sent, "\(sent.dtype) \(sent.shape)")
        }
    }

    @Test func sentTensorBuffers_areReleasedOnceSent() async throws {
        let server = try EchoNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        weak var sentBuffer: TensorBuffer?
        do {
            let tensor = Tensor(uninitialized: .uint8, shape: [1 << 20])
            sentBuffer = tensor.buffer
            _ = try await client.request(message(tensors: [tensor]), to: server.address, timeout: .seconds(10))
        }
        // libzmq drops its reference from its own I/O thread after the bytes are on the wire.
        #expect(await eventually { sentBuffer == nil })
    }

    @Test func errorStatus_crossesTheWireUnchanged() async throws {
        let server = try makeNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let failure = WeftError(.failedPrecondition, "Attempting to use uninitialized value foo\n\t(with détails)")
        server.setHandler { [weak server] incoming in
            var envelope = Weft_Envelope()
            envelope.status.code = failure.code.rawValue
            envelope.status.message = failure.message
            server?.reply(to: incoming, WireMessage(envelope: envelope))
        }

        await #expect(throws: failure) {
            try await client.request(message(.ping), to: server.boundAddress, timeout: .seconds(5))
        }
    }

    @Test func fireAndForget_reachesTheHandler_withoutExpectingAReply() async throws {
        let server = try makeNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let received = Mutex<[IncomingMessage]>([])
        server.setHandler { incoming in received.withLock { $0.append(incoming) } }

        var push = message(.pushTensor, step: 3, tensors: [Tensor([Float(1), 2])])
        push.envelope.pushTensor = .with { $0.key = "x:0" }
        client.send(push, to: server.boundAddress)

        #expect(await eventually { received.withLock { $0.count } == 1 })
        let incoming = try #require(received.withLock { $0.first })
        #expect(!incoming.replyToken.expectsReply)
        #expect(incoming.envelope.step == 3)
        #expect(incoming.tensors == [Tensor([Float(1), 2])])
    }

    @Test func wildcardListenAddress_advertisesAConnectableAddress() async throws {
        let server = try MessagingNode(listen: "tcp://*:0", logger: testLogger)
        defer { server.close() }
        server.setHandler { [weak server] incoming in server?.reply(to: incoming, message(.ack)) }
        let client = try makeNode()
        defer { client.close() }

        #expect(!server.boundAddress.contains("*") && !server.boundAddress.contains("0.0.0.0"))
        _ = try await client.request(message(), to: server.boundAddress, timeout: .seconds(5))
    }

    // MARK: Failures

    @Test func requestToAnAddressWhereNothingListens_failsUnavailableWithinItsTimeout() async throws {
        let address = try {
            let node = try makeNode()
            defer { node.close() }
            return node.boundAddress  // free again once the node is closed
        }()
        let client = try makeNode()
        defer { client.close() }
        let clock = ContinuousClock()
        let start = clock.now

        let error = await #expect(throws: WeftError.self) {
            try await client.request(message(), to: address, timeout: .seconds(60))
        }

        #expect(error?.code == .unavailable)
        #expect(error?.message.contains(address) == true)
        // The refused connection fails the request, not its timeout: the bound is far from both,
        // so a loaded machine does not trip it.
        #expect(clock.now - start < .seconds(30))
    }

    @Test func requestThatIsNeverAnswered_failsUnavailableAtItsTimeout() async throws {
        let server = try makeNode()
        server.setHandler { _ in }  // never replies
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let clock = ContinuousClock()
        let start = clock.now

        let error = await #expect(throws: WeftError.self) {
            try await client.request(message(), to: server.boundAddress, timeout: .milliseconds(300))
        }

        let elapsed = clock.now - start
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("did not answer within") == true)
        // The point is that the request fails at its timeout instead of waiting for a reply that
        // never comes; the upper bound leaves room for a loaded 2-core machine (load 20 delays the
        // I/O thread's wake-up by seconds).
        #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(15))
    }

    @Test func peerThatStopsWhileARequestIsPending_failsItFast() async throws {
        let server = try makeNode()
        let arrived = Counter()
        server.setHandler { _ in arrived.increment() }  // never replies
        let client = try makeNode()
        defer { client.close() }
        let clock = ContinuousClock()
        let outcome = Mutex<(WeftError, ContinuousClock.Instant)?>(nil)
        client.request(message(), to: server.boundAddress, timeout: .seconds(120)) { result in
            if case .failure(let error) = result { outcome.withLock { $0 = (error, clock.now) } }
        }
        #expect(await eventually(timeout: .seconds(30)) { arrived.value == 1 }, "the request reached the server")

        let stopped = clock.now
        server.close()

        // Far sooner than the request's own timeout, however loaded the machine.
        #expect(await eventually(timeout: .seconds(60)) { outcome.withLock { $0 != nil } })
        let (error, failed) = try #require(outcome.withLock { $0 })
        #expect(error.code == .unavailable)
        #expect(failed - stopped < .seconds(30))
    }

    @Test func requestToAListenerThatIsNotZeroMQ_failsFastSayingSo() async throws {
        let listener = try NotZeroMQListener()
        defer { listener.close() }
        let client = try makeNode()
        defer { client.close() }
        let start = ContinuousClock.now

        var failures: [WeftError] = []
        for _ in 0..<3 {
            do {
                _ = try await client.request(message(), to: listener.address, timeout: .seconds(60))
            } catch {
                failures.append(error)
            }
            try await Task.sleep(for: .milliseconds(200))
        }

        #expect(failures.count == 3)
        #expect(failures.allSatisfy { $0.code == .unavailable })
        // Once a handshake has failed, requests fail at once with the reason, not at their timeout
        // (libzmq reconnects meanwhile, so a request may also meet a connection as it drops).
        #expect(failures.contains { $0.message.contains("does not speak ZeroMQ's protocol") })
        // Not one of them waited for its timeout.
        #expect(ContinuousClock.now - start < .seconds(50))
    }

    @Test func requestToAMalformedAddress_failsInvalidArgument() async throws {
        let client = try makeNode()
        defer { client.close() }
        let error = await #expect(throws: WeftError.self) {
            try await client.request(message(), to: "not-an-endpoint", timeout: .seconds(2))
        }
        #expect(error?.code == .invalidArgument)
    }

    @Test func requestBeforeAHandlerIsSet_isAnsweredUnavailable() async throws {
        let server = try makeNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let error = await #expect(throws: WeftError.self) {
            try await client.request(message(), to: server.boundAddress, timeout: .seconds(5))
        }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("not serving") == true)
    }

    @Test func listeningOnAnAddressInUse_failsUnavailable() throws {
        let first = try makeNode()
        defer { first.close() }
        let error = #expect(throws: WeftError.self) {
            try MessagingNode(listen: first.boundAddress, logger: testLogger)
        }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains(first.boundAddress) == true)
    }

    @Test(arguments: ["nonsense", "tcp://", "bogus://127.0.0.1:0", "tcp://192.0.2.1:0"])
    func listeningOnABadAddress_failsInvalidArgument(address: String) {
        let error = #expect(throws: WeftError.self) {
            try MessagingNode(listen: address, logger: testLogger)
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains(address) == true)
    }

    // MARK: Malformed input

    @Test func garbageFrames_areRefused_andTheNodeKeepsServing() async throws {
        let server = try EchoNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let twoTensorsOneFrame = try envelopeBytes {
            $0.runStep = .init()
            $0.tensors = [
                .with {
                    $0.dtype = .dtFloat
                    $0.shape = [1]
                },
                .with {
                    $0.dtype = .dtFloat
                    $0.shape = [1]
                },
            ]
        }
        let wrongSize = try envelopeBytes {
            $0.runStep = .init()
            $0.tensors = [
                .with {
                    $0.dtype = .dtDouble
                    $0.shape = [1 << 40, 1 << 40]
                }
            ]
        }
        let garbage: [[[UInt8]]] = [
            [[0xFF, 0xFF, 0xFF, 0xFF]],
            [[]],
            [[0x0A, 0xFF]],  // a truncated length-delimited field
            [twoTensorsOneFrame, [0, 0, 128, 63]],
            [wrongSize, [1, 2, 3]],
            [try envelopeBytes { $0.session = "no body" }],
            [try envelopeBytes { $0.ack = .init() }],
            [
                try envelopeBytes {
                    $0.ping = .init()
                    $0.protocolVersion = 0
                }
            ],
            Array(repeating: [0x42], count: 5000),
            [Array(repeating: 0x08, count: 100_000)],
        ]
        for frames in garbage { client.sendRawFrames(frames, to: server.address) }

        let reply = try await client.request(
            message(tensors: [Tensor(Int32(5))]),
            to: server.address,
            timeout: .seconds(5)
        )

        #expect(reply.tensors == [Tensor(Int32(5))])
        #expect(server.servedCount == 1)
    }

    @Test func malformedRequest_isAnsweredInvalidArgument_withItsRequestID() async throws {
        let server = try EchoNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let id: UInt64 = 0xFEED_0000_0000_0001
        let frames = [
            try envelopeBytes {
                $0.runPartition = .init()
                $0.requestID = id
                $0.tensors = [
                    .with {
                        $0.name = "x"
                        $0.dtype = .dtFloat
                        $0.shape = [2, 2]
                    }
                ]
            },
            [UInt8](repeating: 0, count: 15),
        ]

        let error = await #expect(throws: WeftError.self) {
            try await client.requestRawFrames(frames, to: server.address, requestID: id, timeout: .seconds(5))
        }

        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("needs 16 bytes, but its payload frame has 15") == true)
        #expect(server.servedCount == 0)
    }

    @Test func requestWithoutBody_isAnsweredInvalidArgument() async throws {
        let server = try EchoNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        var request = message(.runStep)
        request.envelope.body = nil

        let error = await #expect(throws: WeftError.self) {
            try await client.request(request, to: server.address, timeout: .seconds(5))
        }

        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("has no body") == true)
        #expect(server.servedCount == 0)
    }

    @Test func wrongProtocolVersion_getsAnErrorReply() async throws {
        let server = try EchoNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let id: UInt64 = 0xFEED_0000_0000_0002
        let frames = [
            try envelopeBytes {
                $0.ping = .init()
                $0.requestID = id
                $0.protocolVersion = 99
            }
        ]

        let error = await #expect(throws: WeftError.self) {
            try await client.requestRawFrames(frames, to: server.address, requestID: id, timeout: .seconds(5))
        }

        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("version 99") == true)
        #expect(server.servedCount == 0)
    }

    @Test func oversizedMessage_isRefused_andTheNodeKeepsServing() async throws {
        var configuration = MessagingNode.Configuration()
        configuration.maxMessageSize = 64 << 10
        let server = try EchoNode(configuration: configuration)
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let oversized = Tensor(uninitialized: .uint8, shape: [1 << 20])

        let error = await #expect(throws: WeftError.self) {
            try await client.request(message(tensors: [oversized]), to: server.address, timeout: .seconds(5))
        }
        #expect(error?.code == .unavailable)

        // libzmq dropped the connection that carried the oversized message; a request sent while
        // the DEALER reconnects may be lost with it, so the client retries as callers do.
        var reply: WireMessage?
        for _ in 0..<5 where reply == nil {
            reply = try? await client.request(
                message(tensors: [Tensor(Int32(1))]),
                to: server.address,
                timeout: .seconds(1)
            )
        }
        #expect(reply?.tensors == [Tensor(Int32(1))])
    }

    // MARK: Concurrency and shutdown

    @Test func manyConcurrentRequestsFromSeveralThreads_allComplete() async throws {
        let server = try EchoNode()
        let clients = [try makeNode(), try makeNode()]
        defer {
            for client in clients { client.close() }
            server.close()
        }
        let threads = 8
        let perThread = 100
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        let address = server.address
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread {
                let step = UInt64(thread * perThread + index)
                group.enter()
                clients[thread % clients.count].request(
                    message(step: step, tensors: [Tensor(Int64(step))]),
                    to: address,
                    timeout: .seconds(20)
                ) { result in
                    switch result {
                    case .success(let reply)
                    where reply.envelope.step == step && reply.tensors == [Tensor(Int64(step))]:
                        break
                    case .success(let reply):
                        failures.withLock { $0.append("step \(step) answered as \(reply.envelope.step)") }
                    case .failure(let error):
                        failures.withLock { $0.append("step \(step): \(error)") }
                    }
                    group.leave()
                }
            }
        }
        await withCheckedContinuation { continuation in
            group.notify(queue: .global()) { continuation.resume() }
        }

        #expect(failures.withLock { $0 } == [])
        #expect(server.servedCount == threads * perThread)
    }

    @Test func peerReapedWhileAway_isReachedAgainOnceItListens() throws {
        var configuration = MessagingNode.Configuration()
        configuration.idlePeerTimeout = .milliseconds(50)
        configuration.reconnectInterval = .milliseconds(20)
        let client = try makeNode(configuration: configuration)
        let other = try EchoNode()
        let gone = try EchoNode()
        let address = gone.address
        gone.close()
        defer {
            client.close()
            other.close()
        }

        let error = #expect(throws: WeftError.self) {
            try client.requestAndWait(message(), to: address, timeout: .seconds(2))
        }
        #expect(error?.code == .unavailable)
        usleep(200_000)
        // Any turn of the loop reaps the idle connection; this request gives it one.
        _ = try client.requestAndWait(message(), to: other.address, timeout: .seconds(10))
        let back = try MessagingNode(listen: address, logger: testLogger)
        back.setHandler { [weak back] incoming in back?.reply(to: incoming, message(step: 9)) }
        defer { back.close() }

        let reply = try client.requestAndWait(message(), to: address, timeout: .seconds(10))
        #expect(reply.envelope.step == 9)
    }

    @Test func nodesClosedWhileTheirPeersClose_leaveTheProcessConnectionsWorking() throws {
        // A connection lost while its DEALER was closing once made libzmq's I/O thread block for
        // good on the event for the closed socket's monitor, freezing every connection of the
        // process (libzmq issue 3575).
        for round in UInt64(0)..<100 {
            let server = try EchoNode()
            let client = try makeNode()
            _ = try client.requestAndWait(message(step: round), to: server.address, timeout: .seconds(5))
            server.close()
            client.close()
        }
        let server = try EchoNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let reply = try client.requestAndWait(message(step: 7), to: server.address, timeout: .seconds(5))
        #expect(reply.envelope.step == 7)
    }

    // MARK: Blocking requests

    @Test func blockingRequestsFromManyThreads_eachGetTheirOwnReply() throws {
        let server = try EchoNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let failures = Mutex<[String]>([])
        // More rounds than threads, so callers reuse the waiters earlier ones put back.
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<100 {
                let step = UInt64(thread * 1000 + index)
                do {
                    let reply = try client.requestAndWait(
                        message(step: step, tensors: [Tensor(Int64(step))]),
                        to: server.address,
                        timeout: .seconds(20)
                    )
                    if reply.envelope.step != step || reply.tensors != [Tensor(Int64(step))] {
                        failures.withLock { $0.append("step \(step) answered as \(reply.envelope.step)") }
                    }
                } catch {
                    failures.withLock { $0.append("step \(step): \(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 } == [])
        #expect(server.servedCount == 800)
    }

    @Test func blockingRequestThatTimesOut_leavesNoWakeUpForTheNextOne() throws {
        let server = try makeNode()
        let answered = Counter()
        server.setHandler { [weak server] incoming in
            // The first request is answered only after its caller gave up on it.
            answered.increment()
            guard answered.value > 1 else {
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(400)) { [weak server] in
                    server?.reply(to: incoming, message(step: 1))
                }
                return
            }
            server?.reply(to: incoming, message(step: incoming.envelope.step))
        }
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }

        let error = #expect(throws: WeftError.self) {
            try client.requestAndWait(message(step: 1), to: server.boundAddress, timeout: .milliseconds(200))
        }
        #expect(error?.code == .unavailable)
        usleep(400_000)  // the late reply arrives and is dropped
        let reply = try client.requestAndWait(message(step: 2), to: server.boundAddress, timeout: .seconds(10))
        #expect(reply.envelope.step == 2)
    }

    @Test func blockingRequestOnTheIOThread_failsInsteadOfDeadlocking() async throws {
        let server = try EchoNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let address = server.address
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<WeftError?, Never>) in
            client.request(message(), to: address, timeout: .seconds(10)) { [weak client] _ in
                // Completions run on the client's I/O thread.
                do throws(WeftError) {
                    _ = try client?.requestAndWait(message(), to: address, timeout: .seconds(1))
                    continuation.resume(returning: nil)
                } catch {
                    continuation.resume(returning: error)
                }
            }
        }
        #expect(outcome?.code == .failedPrecondition)
    }

    @Test func close_failsPendingRequestsWithCancelled() async throws {
        let server = try makeNode()
        server.setHandler { _ in }  // never replies
        let client = try makeNode()
        defer { server.close() }
        let results = Mutex<[Result<WireMessage, WeftError>]>([])
        for _ in 0..<5 {
            client.request(message(), to: server.boundAddress, timeout: .seconds(60)) { result in
                results.withLock { $0.append(result) }
            }
        }
        try await Task.sleep(for: .milliseconds(100))

        client.close()

        let codes = results.withLock {
            $0.map { result -> WeftError.Code? in
                if case .failure(let error) = result { error.code } else { nil }
            }
        }
        #expect(codes == Array(repeating: .cancelled, count: 5))

        // Requests after close fail the same way.
        let error = await #expect(throws: WeftError.self) {
            try await client.request(message(), to: server.boundAddress, timeout: .seconds(5))
        }
        #expect(error?.code == .cancelled)
    }

    @Test func cancellingTheTask_cancelsTheRequest() async throws {
        let server = try makeNode()
        server.setHandler { _ in }  // never replies
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let task = Task {
            try await client.request(message(), to: server.boundAddress, timeout: .seconds(60))
        }
        try await Task.sleep(for: .milliseconds(100))
        task.cancel()

        let result = await task.result
        #expect((try? result.get()) == nil)
        if case .failure(let error) = result { #expect((error as? WeftError)?.code == .cancelled) }
    }

    @Test func requestsSentFromCompletions_goOutWithoutAWakeUp() async throws {
        // Completions run on the I/O thread, which queues what they send without waking itself;
        // each link of this chain is sent from the previous one's completion.
        let server = try EchoNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let links = 50
        let finished = await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
            @Sendable func send(_ index: Int) {
                client.request(message(step: UInt64(index)), to: server.address, timeout: .seconds(5)) { result in
                    guard case .success(let reply) = result, reply.envelope.step == UInt64(index), index < links else {
                        return continuation.resume(returning: index)
                    }
                    send(index + 1)
                }
            }
            send(1)
        }
        #expect(finished == links)
    }

    @Test func replyFromTheHandler_andOneFromAnotherThread_bothArrive() async throws {
        // The I/O thread's own replies skip the wake-up; replies from other threads send one.
        let server = try makeNode()
        server.setHandler { [weak server] incoming in
            guard let server else { return }
            if incoming.message.envelope.step % 2 == 0 {
                server.reply(to: incoming, WireMessage(envelope: incoming.message.envelope))
            } else {
                DispatchQueue.global().async {
                    server.reply(to: incoming, WireMessage(envelope: incoming.message.envelope))
                }
            }
        }
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        for step in UInt64(0)..<40 {
            let reply = try await client.request(message(step: step), to: server.boundAddress, timeout: .seconds(5))
            #expect(reply.envelope.step == step)
        }
    }

    @Test func manyThreadsRequesting_whileTheIOThreadsGoToSleep_loseNoWakeUp() throws {
        // Callers skip the wake-up while an I/O thread is busy; one lost on its way to sleep
        // would strand a request until its timeout.
        let server = try makeNode()
        server.setHandler { [weak server] incoming in
            guard let server else { return }
            let reply = WireMessage(envelope: incoming.message.envelope)
            if incoming.message.envelope.step % 3 == 0 { return server.reply(to: incoming, reply) }
            DispatchQueue.global().asyncAfter(
                deadline: .now() + .microseconds(Int(incoming.message.envelope.step % 50))
            ) {
                server.reply(to: incoming, reply)
            }
        }
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { caller in
            for index in 0..<150 {
                let step = UInt64(caller * 1000 + index)
                let done = DispatchSemaphore(value: 0)
                client.request(message(step: step), to: server.boundAddress, timeout: .seconds(30)) { result in
                    if case .failure(let error) = result { failures.withLock { $0.append("\(step): \(error)") } }
                    done.signal()
                }
                // A command stranded before it reached the I/O thread has no deadline there, so
                // its completion never comes, not even after the request's timeout.
                if done.wait(timeout: .now() + .seconds(45)) == .timedOut {
                    return failures.withLock { $0.append("\(step): no answer, not even a timeout") }
                }
                if index % 7 == 0 { usleep(UInt32(index % 40)) }
            }
        }
        #expect(failures.withLock { $0 } == [])
    }

    @Test func close_fromTheHandler_doesNotDeadlock() async throws {
        let server = try makeNode()
        server.setHandler { [weak server] _ in server?.close() }
        let client = try makeNode()
        defer { client.close() }

        let error = await #expect(throws: WeftError.self) {
            try await client.request(message(), to: server.boundAddress, timeout: .seconds(3))
        }
        #expect(error?.code == .unavailable)
        server.close()  // idempotent, and returns once the I/O thread has stopped
    }
}
