import Foundation
import Testing

@testable import WeftRuntime

/// Large tensor buffers are mappings of their own, given back to the system when released.
@Suite struct MappedMemoryTests {
    /// Whether `address` lies in one of this process's mappings (`/proc/self/maps`).
    static func isMapped(_ address: UInt) throws -> Bool {
        // Read to the end: one read of a file in /proc returns only its first page.
        let file = try #require(FileHandle(forReadingAtPath: "/proc/self/maps"))
        defer { try? file.close() }
        let maps = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        return maps.split(separator: "\n").contains { line in
            let bounds = line.prefix { $0 != " " }.split(separator: "-").compactMap { UInt($0, radix: 16) }
            return bounds.count == 2 && (bounds[0]..<bounds[1]).contains(address)
        }
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
}
