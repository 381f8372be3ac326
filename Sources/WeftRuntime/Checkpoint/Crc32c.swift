import CCrc32c

/// CRC-32C (Castagnoli), the checksum of TensorFlow's checkpoint files: every table block and
/// every tensor's bytes carry one, stored "masked" so that a checksum of data that itself holds
/// checksums stays well distributed.
enum Crc32c {
    /// The byte-at-a-time table of the reflected polynomial 0x82F63B78.
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? (value >> 1) ^ 0x82F6_3B78 : value >> 1 }
        return value
    }

    /// Whether the processor computes the checksum itself (SSE4.2's `crc32`), some twenty
    /// times faster than the table: checkpoints checksum every byte they save and restore.
    static let hasHardware = weft_crc32c_hardware_available() != 0

    /// The checksum of `bytes` continuing from `crc`, the checksum of the bytes before them.
    static func extend(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard hasHardware, let base = bytes.baseAddress else { return extendByTable(crc, bytes) }
        return weft_crc32c_extend(crc, base, bytes.count)
    }

    /// `extend` a byte at a time through the table: the reference the hardware path must match.
    static func extendByTable(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var value = ~crc
        table.withUnsafeBufferPointer { table in
            for byte in bytes { value = table[Int((value ^ UInt32(byte)) & 0xFF)] ^ (value >> 8) }
        }
        return ~value
    }

    /// The checksum of `bytes` continuing from `crc`.
    static func extend(_ crc: UInt32, _ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { extend(crc, $0) }
    }

    /// The checksum of the little-endian bytes of `value`, continuing from `crc`.
    static func extend<T: FixedWidthInteger>(_ crc: UInt32, littleEndian value: T) -> UInt32 {
        withUnsafeBytes(of: value.littleEndian) { extend(crc, $0) }
    }

    private static let maskDelta: UInt32 = 0xA282_EAD8

    /// The stored form of a checksum: rotated right by 15 bits plus a constant.
    static func mask(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ maskDelta }

    /// The checksum a stored (masked) value stands for.
    static func unmask(_ masked: UInt32) -> UInt32 {
        let rotated = masked &- maskDelta
        return (rotated >> 17) | (rotated << 15)
    }
}
