import Foundation
import Testing

@testable import WeftRuntime

/// Large tensor buffers are mappings of their own, given back to the system when released.
@Suite struct MappedMemoryTests {
    /// The text of a file in /proc, read to the end: one read returns only its first page.
    static func procFile(_ path: String) throws -> String {
        let file = try #require(FileHandle(forReadingAtPath: path))
        defer { try? file.close() }
        return String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
    }

    /// Whether a line of `/proc/self/maps` or `smaps` opens the mapping holding `address`.
    static func opensMapping(_ line: Substring, holding address: UInt) -> Bool {
        let bounds = line.prefix { $0 != " " }.split(separator: "-").compactMap { UInt($0, radix: 16) }
        return bounds.count == 2 && (bounds[0]..<bounds[1]).contains(address)
    }

    /// Whether `address` lies in one of this process's mappings (`/proc/self/maps`).
    static func isMapped(_ address: UInt) throws -> Bool {
        try procFile("/proc/self/maps").split(separator: "\n").contains { opensMapping($0, holding: address) }
    }

    @Test func largeBuffer_isPageAligned_andUnmappedOnceFreedAndReleased() throws {
        // A size no other test uses, so no cached block serves it and nobody else takes it.
        let size = MappedMemory.minimumBytes * 3 + 12_288
        var buffer: TensorBuffer? = TensorBuffer(byteCount: size)
        let address = UInt(bitPattern: buffer?.base)
        #expect(address % 4096 == 0)
        #expect(try Self.isMapped(address))
        // Freed, it waits in the cache for a step that needs the same size, until released.
        buffer = nil
        TensorMemory.releaseUnused()
        #expect(try !Self.isMapped(address))
    }

    @Test func veryLargeBuffer_asksForTransparentHugePages() throws {
        let policy = try Self.procFile("/sys/kernel/mm/transparent_hugepage/enabled")
        try #require(!policy.contains("[never]"), "this kernel has transparent huge pages off")
        let buffer = TensorBuffer(byteCount: MappedMemory.hugePageBytes * 2 + 8192)
        let address = UInt(bitPattern: buffer.base)
        let lines = try Self.procFile("/proc/self/smaps").split(separator: "\n")
        let start = try #require(lines.firstIndex { Self.opensMapping($0, holding: address) })
        // The mapping's own fields (`Rss:`, `THPeligible:`…) follow its first line; the next
        // mapping's first line starts with its address, in lower-case hexadecimal.
        let fields = lines[(start + 1)...].prefix { $0.first?.isUppercase == true }
        #expect(fields.contains { $0.hasPrefix("THPeligible:") && $0.hasSuffix("1") })
        withExtendedLifetime(buffer) {}
    }
}
