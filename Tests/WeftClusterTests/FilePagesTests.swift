import Foundation
import Testing

@testable import WeftCluster

/// An idle worker unmaps the read-only pages it maps from files, and nothing else.
@Suite struct FilePagesTests {
    @Test func releasable_areReadOnlyFileMappingsWithoutPagesOfTheirOwn() {
        let smaps = """
            55d0c5a1e000-55d0c5b2f000 r--p 00000000 fe:00 1234                       /usr/bin/weft
            Rss:                1508 kB
            Anonymous:             0 kB
            55d0c5b2f000-55d0c5c00000 r-xp 00111000 fe:00 1234                       /usr/bin/weft
            Rss:                8044 kB
            Anonymous:             0 kB
            VmFlags: rd ex mr mw me
            55d0c5c00000-55d0c5d00000 r--p 001e2000 fe:00 1234                       /usr/bin/weft
            Rss:                1076 kB
            Anonymous:          1076 kB
            55d0c5d00000-55d0c5e00000 rw-p 002e2000 fe:00 1234                       /usr/bin/weft
            Anonymous:             0 kB
            7f0000000000-7f0000100000 r--p 00000000 00:00 0
            Anonymous:             0 kB
            7ffd8a9f1000-7ffd8a9f3000 r-xp 00000000 00:00 0                          [vdso]
            Anonymous:             0 kB
            7f0000200000-7f0000300000 r-xp 00000000 fe:00 99                         /opt/a lib/with spaces.so
            Anonymous:             0 kB
            """
        #expect(
            FilePages.releasable(smaps: smaps) == [
                0x55d0_c5a1_e000..<0x55d0_c5b2_f000, 0x55d0_c5b2_f000..<0x55d0_c5c0_0000,
                0x7f00_0020_0000..<0x7f00_0030_0000,
            ]
        )
    }

    /// Present pages of this process between `range` (`/proc/self/pagemap`, bit 63).
    static func presentPages(_ range: Range<UInt>) throws -> Int {
        let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/pagemap"))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(range.lowerBound / pageSize * 8))
        let entries = try handle.read(upToCount: Int((range.upperBound - range.lowerBound) / pageSize) * 8) ?? Data()
        return stride(from: 0, to: entries.count, by: 8).count { offset in
            entries[entries.startIndex + offset + 7] & 0x80 != 0
        }
    }

    @Test func release_unmapsThisProcessesCode_whichStillRuns() throws {
        // Read to the end: one read of a file in /proc returns only its first page.
        let file = try #require(FileHandle(forReadingAtPath: "/proc/self/smaps"))
        defer { try? file.close() }
        let smaps = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let code = try #require(
            smaps.split(separator: "\n").first { $0.contains(" r-xp ") && $0.hasSuffix(" " + executable) }
        )
        let bounds = code.prefix { $0 != " " }.split(separator: "-").compactMap { UInt($0, radix: 16) }
        try #require(bounds.count == 2)
        let range = bounds[0]..<bounds[1]
        let before = try Self.presentPages(range)
        FilePages.release()
        let after = try Self.presentPages(range)
        // Other tests run meanwhile and map some pages again, not the start-up code of the whole run.
        #expect(after < before, "present code pages: \(before) before, \(after) after")
        #expect(FilePages.releasable(smaps: smaps).contains(range))
        // The libraries come last in the file, past its first page.
        let libc = try #require(
            smaps.split(separator: "\n").first { $0.contains(" r-xp ") && $0.hasSuffix("/libc.so.6") }
        )
        let libcStart = try #require(UInt(libc.prefix { $0 != "-" }, radix: 16))
        #expect(FilePages.releasable(smaps: smaps).contains { $0.lowerBound == libcStart })
    }
}
