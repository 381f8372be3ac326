/// The sorted string table of a checkpoint's `.index` file, LevelDB's layout as TensorFlow
/// writes it: data blocks of prefix-compressed keys with restart points, an index block
/// naming each data block, an empty metaindex block and a 48-byte footer ending in a magic
/// number. Each block is followed by a compression byte (always 0, none) and a masked CRC-32C.
enum SSTable {
    /// The footer's last 8 bytes.
    static let magic: UInt64 = 0xDB47_7524_8B80_FB57
    /// Two block handles of at most 10 + 10 varint bytes, padded, then the magic number.
    static let footerSize = 48
    /// The compression byte and checksum after each block.
    static let blockTrailerSize = 5

    /// Builds a table from keys added in strictly increasing byte order.
    struct Writer {
        /// The data block size after which a block is closed, TensorFlow's default.
        private static let blockSize = 256 * 1024
        private var output: [UInt8] = []
        private var dataBlock = BlockBuilder(restartInterval: 16)
        private var indexBlock = BlockBuilder(restartInterval: 1)
        private var lastKey: [UInt8] = []
        /// The handle of the last closed data block, waiting for the next key to pick its index key.
        private var pendingHandle: (offset: Int, size: Int)?

        /// Appends one entry; `key` must sort after every key added before.
        mutating func add(key: [UInt8], value: [UInt8]) {
            if let handle = pendingHandle {
                indexBlock.add(key: Self.separator(lastKey, key), value: Self.encode(handle))
                pendingHandle = nil
            }
            dataBlock.add(key: key, value: value)
            lastKey = key
            if dataBlock.estimatedSize >= Self.blockSize { flush() }
        }

        /// The table's bytes.
        mutating func finish() -> [UInt8] {
            flush()
            if let handle = pendingHandle {
                indexBlock.add(key: Self.successor(lastKey), value: Self.encode(handle))
                pendingHandle = nil
            }
            var metaindex = BlockBuilder(restartInterval: 16)
            let metaindexHandle = writeBlock(metaindex.finish())
            let indexHandle = writeBlock(indexBlock.finish())
            var footer = Self.encode(metaindexHandle) + Self.encode(indexHandle)
            footer += [UInt8](repeating: 0, count: SSTable.footerSize - 8 - footer.count)
            Bytes.putFixed32(&footer, UInt32(truncatingIfNeeded: SSTable.magic))
            Bytes.putFixed32(&footer, UInt32(truncatingIfNeeded: SSTable.magic >> 32))
            output += footer
            return output
        }

        private mutating func flush() {
            guard !dataBlock.isEmpty else { return }
            pendingHandle = writeBlock(dataBlock.finish())
            dataBlock = BlockBuilder(restartInterval: 16)
        }

        private mutating func writeBlock(_ contents: [UInt8]) -> (offset: Int, size: Int) {
            let handle = (offset: output.count, size: contents.count)
            output += contents
            output.append(0)
            Bytes.putFixed32(&output, Crc32c.mask(Crc32c.extend(Crc32c.extend(0, contents), [0])))
            return handle
        }

        private static func encode(_ handle: (offset: Int, size: Int)) -> [UInt8] {
            var bytes: [UInt8] = []
            Bytes.putVarint(&bytes, UInt64(handle.offset))
            Bytes.putVarint(&bytes, UInt64(handle.size))
            return bytes
        }

        /// A short key at least `start` and below `limit`, as LevelDB's bytewise comparator picks
        /// for index entries.
        static func separator(_ start: [UInt8], _ limit: [UInt8]) -> [UInt8] {
            var common = 0
            while common < min(start.count, limit.count) && start[common] == limit[common] { common += 1 }
            guard common < min(start.count, limit.count) else { return start }
            let byte = start[common]
            guard byte < 0xFF, byte + 1 < limit[common] else { return start }
            return Array(start[..<common]) + [byte + 1]
        }

        /// A short key at least `key`: its first byte that can grow, grown, and nothing after.
        static func successor(_ key: [UInt8]) -> [UInt8] {
            guard let index = key.firstIndex(where: { $0 != 0xFF }) else { return key }
            return Array(key[..<index]) + [key[index] + 1]
        }
    }

    /// One block's entries and restart points.
    struct BlockBuilder {
        let restartInterval: Int
        private var buffer: [UInt8] = []
        private var restarts: [UInt32] = [0]
        private var counter = 0
        private var lastKey: [UInt8] = []

        init(restartInterval: Int) { self.restartInterval = restartInterval }

        var isEmpty: Bool { buffer.isEmpty }
        var estimatedSize: Int { buffer.count + 4 * restarts.count + 4 }

        /// Appends an entry, sharing the key prefix with the previous one between restarts.
        mutating func add(key: [UInt8], value: [UInt8]) {
            var shared = 0
            if counter < restartInterval {
                while shared < min(lastKey.count, key.count) && lastKey[shared] == key[shared] { shared += 1 }
            } else {
                restarts.append(UInt32(buffer.count))
                counter = 0
            }
            Bytes.putVarint(&buffer, UInt64(shared))
            Bytes.putVarint(&buffer, UInt64(key.count - shared))
            Bytes.putVarint(&buffer, UInt64(value.count))
            buffer += key[shared...]
            buffer += value
            lastKey = key
            counter += 1
        }

        /// The block's bytes: entries, restart offsets, restart count.
        mutating func finish() -> [UInt8] {
            var bytes = buffer
            for restart in restarts { Bytes.putFixed32(&bytes, restart) }
            Bytes.putFixed32(&bytes, UInt32(restarts.count))
            return bytes
        }
    }

    /// Every entry of a table, in file order, after checking the footer, each block's bounds
    /// and checksum, and every length inside the blocks.
    static func entries(of file: [UInt8], name: String) throws(WeftError) -> [(key: [UInt8], value: [UInt8])] {
        guard file.count >= footerSize else {
            throw corrupt(name, "file is too short (\(file.count) bytes) to be an sstable")
        }
        var footer = ByteReader(file[(file.count - footerSize)...], name: name)
        let metaindexHandle = try footer.blockHandle()
        let indexHandle = try footer.blockHandle()
        var magicReader = ByteReader(file[(file.count - 8)...], name: name)
        let low = UInt64(try magicReader.fixed32())
        let high = UInt64(try magicReader.fixed32())
        guard high << 32 | low == magic else { throw corrupt(name, "not an sstable (bad magic number)") }
        _ = try block(file, metaindexHandle, name: name)
        var result: [(key: [UInt8], value: [UInt8])] = []
        for (_, handleBytes) in try blockEntries(try block(file, indexHandle, name: name), name: name) {
            var reader = ByteReader(handleBytes[...], name: name)
            result += try blockEntries(try block(file, try reader.blockHandle(), name: name), name: name)
        }
        return result
    }

    /// The contents of the block at `handle`, its checksum verified.
    private static func block(
        _ file: [UInt8],
        _ handle: (offset: Int, size: Int),
        name: String
    ) throws(WeftError) -> ArraySlice<UInt8> {
        let (end, overflow) = handle.offset.addingReportingOverflow(handle.size)
        guard !overflow, end <= file.count - footerSize, file.count - footerSize - end >= blockTrailerSize else {
            throw corrupt(
                name,
                "block at offset \(handle.offset) of \(handle.size) bytes runs past the end of the file"
            )
        }
        let contents = file[handle.offset..<end]
        guard file[end] == 0 else {
            throw corrupt(name, "block is compressed (type \(file[end])), which checkpoints never are")
        }
        var trailer = ByteReader(file[(end + 1)..<(end + blockTrailerSize)], name: name)
        let stored = try trailer.fixed32()
        let actual = file.withUnsafeBytes {
            Crc32c.extend(0, UnsafeRawBufferPointer(rebasing: $0[handle.offset...end]))
        }
        guard Crc32c.unmask(stored) == actual else { throw corrupt(name, "block checksum mismatch") }
        return contents
    }

    /// The key/value pairs of one block, prefix compression undone.
    private static func blockEntries(
        _ block: ArraySlice<UInt8>,
        name: String
    ) throws(WeftError) -> [(key: [UInt8], value: [UInt8])] {
        guard block.count >= 4 else { throw corrupt(name, "block of \(block.count) bytes is too short") }
        var tail = ByteReader(block[(block.endIndex - 4)...], name: name)
        let restartCount = Int(try tail.fixed32())
        guard restartCount <= (block.count - 4) / 4 else { throw corrupt(name, "block has a bad restart count") }
        let entriesEnd = block.endIndex - 4 - 4 * restartCount
        var reader = ByteReader(block[..<entriesEnd], name: name)
        var result: [(key: [UInt8], value: [UInt8])] = []
        var key: [UInt8] = []
        while !reader.isAtEnd {
            let shared = try reader.length()
            let unshared = try reader.length()
            let valueLength = try reader.length()
            guard shared <= key.count else { throw corrupt(name, "block entry shares more than the previous key") }
            key = Array(key[..<shared]) + (try reader.bytes(unshared))
            result.append((key, Array(try reader.bytes(valueLength))))
        }
        return result
    }

    static func corrupt(_ name: String, _ what: String) -> WeftError {
        WeftError(.dataLoss, "corrupted checkpoint file \(name): \(what)")
    }
}

/// Little-endian and varint encoding into byte arrays.
enum Bytes {
    /// Appends `value` as 4 little-endian bytes.
    static func putFixed32(_ bytes: inout [UInt8], _ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    /// Appends `value` as a base-128 varint, low groups first.
    static func putVarint(_ bytes: inout [UInt8], _ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }
}

/// Reads fixed-width and varint values from untrusted bytes; every overrun is `dataLoss`.
struct ByteReader {
    private let bytes: ArraySlice<UInt8>
    private var position: Int
    private let name: String

    init(_ bytes: ArraySlice<UInt8>, name: String) {
        self.bytes = bytes
        self.position = bytes.startIndex
        self.name = name
    }

    var isAtEnd: Bool { position >= bytes.endIndex }
    var remaining: Int { bytes.endIndex - position }

    /// A 4-byte little-endian value.
    mutating func fixed32() throws(WeftError) -> UInt32 {
        var value: UInt32 = 0
        for (shift, byte) in try self.bytes(4).enumerated() { value |= UInt32(byte) << (8 * shift) }
        return value
    }

    /// A varint of at most 64 bits.
    mutating func varint() throws(WeftError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while shift < 64 {
            guard position < bytes.endIndex else { throw SSTable.corrupt(name, "truncated varint") }
            let byte = bytes[position]
            position += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        throw SSTable.corrupt(name, "varint longer than 64 bits")
    }

    /// A varint that counts bytes, so fits in `Int`.
    mutating func length() throws(WeftError) -> Int {
        let value = try varint()
        guard value <= UInt64(Int.max) else { throw SSTable.corrupt(name, "length \(value) is too large") }
        return Int(value)
    }

    /// A block handle: offset and size varints.
    mutating func blockHandle() throws(WeftError) -> (offset: Int, size: Int) {
        (try length(), try length())
    }

    /// The next `count` bytes.
    mutating func bytes(_ count: Int) throws(WeftError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else {
            throw SSTable.corrupt(name, "\(count) bytes needed, \(remaining) left")
        }
        defer { position += count }
        return bytes[position..<(position + count)]
    }
}
