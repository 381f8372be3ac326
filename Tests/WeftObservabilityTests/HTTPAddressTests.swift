import Testing
import WeftObservability
import WeftRuntime

/// `--metrics-listen` and `--http` addresses.
@Suite struct HTTPAddressTests {
    @Test(arguments: [
        ("127.0.0.1:9100", "127.0.0.1", 9100), ("localhost:0", "localhost", 0), ("[::1]:8080", "::1", 8080),
        ("0.0.0.0:80", "0.0.0.0", 80), ("9100", "127.0.0.1", 9100), (":8080", "127.0.0.1", 8080),
    ])
    func parses(text: String, host: String, port: Int) throws {
        let address = try HTTPAddress(parsing: text)
        #expect(address.host == host && address.port == port)
    }

    @Test(arguments: ["", "host:", "host:http", "127.0.0.1:65536", "127.0.0.1:-1", "[::1]", "a:b:c"])
    func refuses(text: String) {
        #expect(throws: WeftError.self) { try HTTPAddress(parsing: text) }
    }

    @Test func describesIPv6InBrackets() throws {
        #expect(try HTTPAddress(parsing: "[::1]:8080").description == "[::1]:8080")
        #expect(try HTTPAddress(parsing: "9100").description == "127.0.0.1:9100")
    }
}
