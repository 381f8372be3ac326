import Glibc
import Testing
import WeftRuntime
import WeftTransport

/// A connection nobody uses closes, so an idle cluster does not heartbeat every link it ever
/// used; the next request opens a new one.
@Suite struct IdlePeerTests {
    /// Waits (up to `limit`) until `condition` holds; the test asserts the condition, not the time.
    private func wait(upTo limit: Duration, until condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now + limit
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            usleep(10_000)
        }
        return true
    }

    @Test func connectedPeerUnusedForTheIdleTimeout_isClosedAndReachedAgain() throws {
        var configuration = MessagingNode.Configuration()
        configuration.idlePeerTimeout = .milliseconds(100)
        let client = try makeNode(configuration: configuration)
        let server = try EchoNode()
        defer {
            client.close()
            server.close()
        }

        _ = try client.requestAndWait(message(step: 1), to: server.address, timeout: .seconds(10))
        #expect(client.openPeers == 1)
        // The caller's own DEALER, opened after the first reply, may outlive the I/O thread's
        // connection by one sweep; the next request goes through the I/O thread once both are gone.
        #expect(wait(upTo: .seconds(20)) { client.openPeers == 0 && client.openDirectConnections == 0 })

        let reply = try client.requestAndWait(message(step: 2), to: server.address, timeout: .seconds(10))
        #expect(reply.envelope.step == 2)
        #expect(client.openPeers == 1)
    }
}
