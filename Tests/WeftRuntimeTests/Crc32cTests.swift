import Testing

@testable import WeftRuntime

@Suite struct Crc32cTests {
    /// The hardware path (when this machine has it) must give the table's checksums at every
    /// length and alignment, continuing from any checksum, or checkpoints stop matching TensorFlow's.
    @Test func fastPathMatchesTheTable() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<4_200).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes.withUnsafeBytes { all in
            for _ in 0..<500 {
                let start = Int.random(in: 0..<64, using: &generator)
                let count = Int.random(in: 0...(all.count - start), using: &generator)
                let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + count)])
                let seed = UInt32.random(in: 0...UInt32.max, using: &generator)
                #expect(Crc32c.extend(seed, slice) == Crc32c.extendByTable(seed, slice))
            }
        }
        // A checksum taken in two pieces equals the one of the whole.
        bytes.withUnsafeBytes { all in
            let whole = Crc32c.extend(0, all)
            let head = Crc32c.extend(0, UnsafeRawBufferPointer(rebasing: all[..<1_001]))
            #expect(Crc32c.extend(head, UnsafeRawBufferPointer(rebasing: all[1_001...])) == whole)
        }
    }
}
