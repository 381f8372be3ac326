import Foundation
import Logging
import Testing
import WeftCluster
import WeftRuntime

@testable import WeftObservability

/// The token's rules, and `ListenPolicy`'s for HTTP addresses, without a server.
@Suite struct HTTPTokenTests {
    @Test func generated_is64HexDigitsAndNeverRepeats() {
        let tokens = (0..<20).map { _ in HTTPToken.generate().text }
        #expect(Set(tokens).count == 20)
        #expect(tokens.allSatisfy { $0.count == 64 && $0.allSatisfy(\.isHexDigit) })
    }

    @Test(arguments: [
        "", "short", "has a space in it ok", String(repeating: "x", count: 513), "tab\tinside-0123456789",
    ])
    func refusesBadTokens(text: String) {
        #expect(throws: WeftError.self) { try HTTPToken(text) }
    }

    @Test func matches_onlyTheWholeToken() throws {
        let token = try HTTPToken("0123456789abcdef")
        #expect(token.matches("0123456789abcdef"))
        for other in ["0123456789abcdeF", "0123456789abcde", "0123456789abcdef0", "", "x123456789abcdef"] {
            #expect(!token.matches(Substring(other)), "\(other)")
        }
    }

    @Test func file_writtenPrivate_readBack_andRefusedWhenOthersMayReadIt() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("weft-token-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        // An existing file others may read is made private before the token goes in.
        FileManager.default.createFile(atPath: path, contents: Data("old".utf8), attributes: [.posixPermissions: 0o644])
        let token = HTTPToken.generate()
        try token.write(toFile: path)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
        #expect(try HTTPToken(contentsOfFile: path) == token)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        #expect {
            try HTTPToken(contentsOfFile: path)
        } throws: { error in
            (error as? WeftError)?.code == .permissionDenied
        }
        #expect {
            try HTTPToken(contentsOfFile: path + ".missing")
        } throws: { error in
            (error as? WeftError)?.code == .notFound
        }
    }

    @Test(arguments: [
        ("127.0.0.1", false, false, true), ("localhost", false, false, true), ("::1", false, false, true),
        ("0.0.0.0", false, false, false), ("192.168.1.5", false, false, false), ("::", false, false, false),
        ("0.0.0.0", true, false, true), ("0.0.0.0", false, true, true),
    ])
    func listenPolicy_http(host: String, secured: Bool, insecure: Bool, allowed: Bool) {
        let logger = Logger(label: "weft.tests.policy")
        let check = {
            try ListenPolicy.checkHTTP(
                host: host,
                port: 8080,
                flag: "http",
                secured: secured,
                insecure: insecure,
                logger: logger
            )
        }
        if allowed {
            #expect(throws: Never.self) { try check() }
        } else {
            #expect {
                try check()
            } throws: { error in
                (error as? WeftError)?.code == .failedPrecondition
                    && (error as? WeftError)?.message.contains("(--http) without keys") == true
            }
        }
    }
}
