import Dispatch
import Foundation
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

/// Blocking requests after the first to an address go out on the caller's own DEALER, not
/// through the node's I/O thread; every way such a request can end is checked on real sockets.
@Suite struct DirectDealerTests {
    /// Makes the first blocking request to `address`, which opens the caller's own DEALER, and
    /// gives that DEALER's handshake time to finish.
    private func warmUp(_ client: MessagingNode, _ address: String) throws {
        _ = try client.requestAndWait(message(step: 0), to: address, timeout: .seconds(10))
        usleep(200_000)
    }

    @Test func blockingRequests_whileTheIOThreadIsBusy_stillGetTheirReplies() throws {
        let server = try EchoNode()
        let client = try makeNode()
        let caller = try makeNode()
        defer {
            caller.close()
            client.close()
            server.close()
        }
        try warmUp(client, server.address)
        #expect(client.openDirectConnections == 1)
        // The client's handler holds its I/O thread for 3 s.
        client.setHandler { [weak client] incoming in
            usleep(3_000_000)
            client?.reply(to: incoming, message())
        }
        caller.request(message(), to: client.boundAddress, timeout: .seconds(20)) { _ in }
        usleep(300_000)  // the handler is running

        let started = ContinuousClock.now
        for step in UInt64(1)...20 {
            let reply = try client.requestAndWait(message(step: step), to: server.address, timeout: .seconds(10))
            #expect(reply.envelope.step == step)
        }
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(client.openDirectConnections == 1)
    }

    @Test func threadsBlockingAtOnce_openDealersOfTheirOwn_upToOneEach() throws {
        let server = try EchoNode()
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        let failures = Mutex<[String]>([])
        let done = DispatchGroup()
        for thread in 0..<4 {
            done.enter()
            Thread {
                defer { done.leave() }
                for index in 0..<100 {
                    let step = UInt64(thread * 1000 + index)
                    do {
                        let reply = try client.requestAndWait(
                            message(step: step),
                            to: server.address,
                            timeout: .seconds(20)
                        )
                        if reply.envelope.step != step {
                            failures.withLock { $0.append("\(step) answered as \(reply.envelope.step)") }
                        }
                    } catch {
                        failures.withLock { $0.append("\(step): \(error)") }
                    }
                }
            }.start()
        }
        done.wait()
        #expect(failures.withLock { $0 }.isEmpty)
        #expect((2...4).contains(client.openDirectConnections), "\(client.openDirectConnections) dealers")
    }

    @Test func aDirectRequest_whosePeerCloses_failsUnavailableAtOnce() throws {
        let server = try makeNode()
        let held = Counter()
        server.setHandler { [weak server] incoming in
            held.increment()
            // Answers the warm-up only.
            if incoming.envelope.step == 0 { server?.reply(to: incoming, message()) }
        }
        let client = try makeNode()
        defer { client.close() }
        try warmUp(client, server.boundAddress)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(300)) { server.close() }

        let started = ContinuousClock.now
        let error = #expect(throws: WeftError.self) {
            try client.requestAndWait(message(step: 1), to: server.boundAddress, timeout: .seconds(30))
        }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("lost before it answered") == true)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(held.value == 2)
        #expect(client.openDirectConnections == 0)
    }

    @Test func aDirectRequest_whenItsNodeCloses_failsCancelled() throws {
        let server = try makeNode()
        server.setHandler { [weak server] incoming in
            if incoming.envelope.step == 0 { server?.reply(to: incoming, message()) }
        }
        let client = try makeNode()
        defer { server.close() }
        try warmUp(client, server.boundAddress)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(300)) { client.close() }

        let started = ContinuousClock.now
        let error = #expect(throws: WeftError.self) {
            try client.requestAndWait(message(step: 1), to: server.boundAddress, timeout: .seconds(30))
        }
        #expect(error?.code == .cancelled)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(client.openDirectConnections == 0)
    }

    @Test func aLateReplyOnADirectConnection_isDroppedAndTheNextRequestGetsItsOwn() throws {
        let server = try makeNode()
        server.setHandler { [weak server] incoming in
            let step = incoming.envelope.step
            guard step == 1 else {
                server?.reply(to: incoming, message(step: step))
                return
            }
            // Step 1 is answered only after its caller gave up on it.
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(400)) { [weak server] in
                server?.reply(to: incoming, message(step: step))
            }
        }
        let client = try makeNode()
        defer {
            client.close()
            server.close()
        }
        try warmUp(client, server.boundAddress)

        let error = #expect(throws: WeftError.self) {
            try client.requestAndWait(message(step: 1), to: server.boundAddress, timeout: .milliseconds(200))
        }
        #expect(error?.code == .unavailable)
        usleep(400_000)  // the late reply arrives on the connection, unread
        let reply = try client.requestAndWait(message(step: 2), to: server.boundAddress, timeout: .seconds(10))
        #expect(reply.envelope.step == 2)
        #expect(client.openDirectConnections == 1)
    }

    @Test func directConnectionsNobodyUses_closeAfterTheIdleTimeout() async throws {
        let server = try EchoNode()
        var configuration = MessagingNode.Configuration()
        configuration.idlePeerTimeout = .milliseconds(300)
        let client = try makeNode(configuration: configuration)
        defer {
            client.close()
            server.close()
        }
        try warmUp(client, server.address)
        #expect(client.openDirectConnections == 1)
        #expect(await eventually { client.openDirectConnections == 0 })
        let reply = try client.requestAndWait(message(step: 5), to: server.address, timeout: .seconds(10))
        #expect(reply.envelope.step == 5)
    }

    @Test func aServerKeyChange_closesTheParkedDealer_andRequestsFailUntilTheRightKeyIsBack() throws {
        let clientKeys = try CurveKeyPair.generate()
        let (server, serverKeys) = try CurveTests.securedServer(admitting: [clientKeys.publicKey])
        let client = try CurveTests.node(clientKeys, trusting: serverKeys.publicKey, at: server.boundAddress)
        defer {
            client.close()
            server.close()
        }
        try warmUp(client, server.boundAddress)
        _ = try client.requestAndWait(message(step: 1), to: server.boundAddress, timeout: .seconds(10))
        #expect(client.openDirectConnections == 1)

        client.trust(try CurveKeyPair.generate().publicKey, at: server.boundAddress)
        #expect(client.openDirectConnections == 0, "the dealer made with the old key is closed at once")
        #expect(throws: WeftError.self) {
            try client.requestAndWait(message(step: 2), to: server.boundAddress, timeout: .milliseconds(500))
        }

        client.trust(serverKeys.publicKey, at: server.boundAddress)
        let reply = try client.requestAndWait(message(step: 3), to: server.boundAddress, timeout: .seconds(10))
        #expect(reply.envelope.session == clientKeys.publicKey.z85)
    }
}
