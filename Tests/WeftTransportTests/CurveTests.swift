import Foundation
import Logging
import Testing
import WeftProto
import WeftRuntime
import WeftTransport

/// CURVE keys, key files, and nodes whose sockets speak CURVE behind a ZAP handler.
@Suite struct CurveTests {
    @Test func libzmq_hasCurve() {
        #expect(CurveKey.isAvailable)
    }

    @Test func keys_roundTripThroughZ85_andThePublicKeyFollowsFromTheSecret() throws {
        let pair = try CurveKeyPair.generate()
        #expect(pair.publicKey.bytes.count == 32 && pair.publicKey != pair.secretKey)
        #expect(try CurveKey(z85: pair.publicKey.z85) == pair.publicKey)
        #expect(try CurveKeyPair(secretKey: pair.secretKey).publicKey == pair.publicKey)
        #expect(!pair.description.contains(pair.secretKey.z85))
        for bad in ["", "short", String(repeating: "~", count: 40), String(repeating: "a", count: 41)] {
            #expect(throws: WeftError.self) { try CurveKey(z85: bad) }
        }
    }

    @Test func keyFiles_secretIsMode0600_neverOverwritten_andAReadableSecretIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("weft-curve-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let pair = try CurveKeyPair.generate()
        let files = try CurveKeyFile.write(pair, to: folder, name: "alice")
        let mode = try FileManager.default.attributesOfItem(atPath: files.secret)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try CurveKeyFile.readSecret(files.secret) == pair)
        #expect(try CurveKeyFile.readPublic(files.public) == pair.publicKey)
        let again = try #require(throws: WeftError.self) { try CurveKeyFile.write(pair, to: folder, name: "alice") }
        #expect(again.code == .alreadyExists)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: files.secret)
        let open = try #require(throws: WeftError.self) { try CurveKeyFile.readSecret(files.secret) }
        #expect(open.code == .permissionDenied && open.message.contains("chmod 600"), "\(open.message)")
    }

    @Test func securedNodes_talk_andReportTheSendersKey() async throws {
        let clientKeys = try CurveKeyPair.generate()
        let (admitting, keys) = try Self.securedServer(admitting: [clientKeys.publicKey])
        defer { admitting.close() }
        let client = try Self.node(clientKeys, trusting: keys.publicKey, at: admitting.boundAddress)
        defer { client.close() }
        let reply = try await client.request(message(.ping), to: admitting.boundAddress, timeout: .seconds(5))
        #expect(reply.envelope.session == clientKeys.publicKey.z85)
        #expect(admitting.refusedPeers == 0)
    }

    @Test func unlistedKeys_andPlainPeers_areRefused_loggedAndCounted() async throws {
        let listed = try CurveKeyPair.generate()
        let (server, keys) = try Self.securedServer(admitting: [listed.publicKey])
        defer { server.close() }
        let stranger = try Self.node(try CurveKeyPair.generate(), trusting: keys.publicKey, at: server.boundAddress)
        defer { stranger.close() }
        let refused = await #expect(throws: WeftError.self) {
            try await stranger.request(message(.ping), to: server.boundAddress, timeout: .seconds(5))
        }
        #expect(refused?.code == .unauthenticated, "\(String(describing: refused))")
        #expect(await eventually { server.refusedPeers >= 1 })
        let plain = try makeNode()
        defer { plain.close() }
        await #expect(throws: WeftError.self) {
            try await plain.request(message(.ping), to: server.boundAddress, timeout: .seconds(2))
        }
        // A client expecting another key at the address does not talk to this server either.
        let fooled = try Self.node(listed, trusting: try CurveKeyPair.generate().publicKey, at: server.boundAddress)
        defer { fooled.close() }
        let mismatch = await #expect(throws: WeftError.self) {
            try await fooled.request(message(.ping), to: server.boundAddress, timeout: .seconds(5))
        }
        #expect(mismatch?.code == .unauthenticated || mismatch?.code == .unavailable, "\(String(describing: mismatch))")
    }

    @Test func anAddressWithoutAKnownKey_isUnauthenticated() async throws {
        let client = try Self.node(try CurveKeyPair.generate(), trusting: try CurveKeyPair.generate().publicKey, at: "x")
        defer { client.close() }
        let error = await #expect(throws: WeftError.self) {
            try await client.request(message(.ping), to: "tcp://127.0.0.1:1", timeout: .seconds(2))
        }
        #expect(error?.code == .unauthenticated)
    }

    /// A secured node that answers every request with the sender's public key in `session`.
    static func securedServer(admitting: Set<CurveKey>) throws -> (MessagingNode, CurveKeyPair) {
        let keys = try CurveKeyPair.generate()
        let node = try MessagingNode(
            listen: "tcp://127.0.0.1:0",
            security: MessagingNode.Security(keyPair: keys, admitted: admitting),
            logger: testLogger
        )
        node.setHandler { [weak node] incoming in
            var envelope = Weft_Envelope()
            envelope.session = incoming.peerKey?.z85 ?? ""
            node?.reply(to: incoming, WireMessage(envelope: envelope))
        }
        return (node, keys)
    }

    static func node(_ keys: CurveKeyPair, trusting key: CurveKey, at address: String) throws -> MessagingNode {
        try MessagingNode(
            listen: "tcp://127.0.0.1:0",
            security: MessagingNode.Security(keyPair: keys, admitted: [], serverKeys: [address: key]),
            logger: testLogger
        )
    }
}
