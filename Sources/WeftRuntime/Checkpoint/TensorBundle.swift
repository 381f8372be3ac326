import SwiftProtobuf
import WeftProto

/// TensorFlow's V2 checkpoint ("tensor bundle"): `PREFIX.index`, an `SSTable` whose key ""
/// holds a `BundleHeaderProto` and whose other keys, the tensor names, hold `BundleEntryProto`s
/// locating each tensor's bytes in `PREFIX.data-SSSSS-of-NNNNN`.
public enum TensorBundle {
    /// The index file of a checkpoint.
    public static func indexPath(_ prefix: String) -> String { prefix + ".index" }

    /// The data file of one shard.
    public static func dataPath(_ prefix: String, shard: Int, of shards: Int) -> String {
        prefix + ".data-" + padded(shard) + "-of-" + padded(shards)
    }

    /// A number printed with at least five digits, as `%05d`.
    static func padded(_ value: Int) -> String {
        let digits = String(value.magnitude)
        let sign = value < 0 ? "-" : ""
        return sign + String(repeating: "0", count: max(0, 5 - sign.count - digits.count)) + digits
    }

    /// The header every bundle Weft writes carries: little-endian, format version 1.
    static func header(shards: Int) -> Tensorflow_BundleHeaderProto {
        var header = Tensorflow_BundleHeaderProto()
        header.numShards = Int32(clamping: shards)
        header.endianness = .little
        header.version.producer = 1
        return header
    }

    /// Writes the index of a bundle atomically (temporary file, then rename).
    static func writeIndex(
        prefix: String,
        header: Tensorflow_BundleHeaderProto,
        entries: [String: Tensorflow_BundleEntryProto]
    ) throws(WeftError) {
        var table = SSTable.Writer()
        do {
            table.add(key: [], value: Array(try header.serializedBytes() as [UInt8]))
            for (name, entry) in entries.sorted(by: { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
            ) {
                table.add(key: Array(name.utf8), value: try entry.serializedBytes())
            }
        } catch {
            throw WeftError(.internal, "cannot encode checkpoint index entry: \(error)")
        }
        let path = indexPath(prefix)
        let temporary = path + CheckpointFile.temporarySuffix()
        try CheckpointFile.write(table.finish(), to: temporary)
        try CheckpointFile.rename(temporary, path)
    }

    /// Writes tensors to a new single-shard bundle: the data file, then the index, each
    /// written under a temporary name and renamed, so a reader never sees half a checkpoint.
    /// Numeric tensors get their place in the file as they are added and are written, and
    /// checksummed, by `finish`, several at once on the machine's cores.
    public struct Writer {
        private let prefix: String
        private let dataWriter: CheckpointFile.Writer
        private let temporaryData: String
        private var entries: [String: Tensorflow_BundleEntryProto] = [:]
        private var offset = 0
        /// Numeric tensors added and not written yet, with their entries' names.
        private var pending: [(name: String, tensor: Tensor)] = []

        /// Starts a bundle at `prefix`, creating its directory.
        public init(prefix: String) throws(WeftError) {
            self.prefix = prefix
            try CheckpointFile.createDirectory(CheckpointFile.parent(of: prefix))
            temporaryData = TensorBundle.dataPath(prefix, shard: 0, of: 1) + CheckpointFile.temporarySuffix()
            dataWriter = try CheckpointFile.Writer(temporaryData)
        }

        /// Records one tensor's entry; a string tensor's bytes are written at once, a numeric
        /// tensor's (kept alive until then) by `finish`.
        public mutating func add(_ name: String, _ tensor: Tensor) throws(WeftError) {
            guard entries[name] == nil else { throw WeftError(.invalidArgument, "Adding duplicate key: \(name)") }
            guard !tensor.dtype.isObject || tensor.dtype == .string else {
                throw WeftError(.unimplemented, "saving \(tensor.dtype) tensors ('\(name)') is not supported")
            }
            var entry = Tensorflow_BundleEntryProto()
            entry.dtype = tensor.dtype.proto
            entry.shape = tensor.shape.proto
            entry.shardID = 0
            entry.offset = Int64(offset)
            if tensor.dtype == .string {
                let (size, crc) = try writeStrings(tensor.strings, at: offset)
                entry.size = Int64(size)
                entry.crc32C = Crc32c.mask(crc)
            } else {
                entry.size = Int64(tensor.bytes.count)
                pending.append((name, tensor))
            }
            offset += Int(entry.size)
            entries[name] = entry
        }

        /// TensorFlow's string layout: every length as a varint, a masked checksum of the
        /// lengths (each taken as 4 little-endian bytes, 8 past 4 GiB), then the bytes. The
        /// entry's checksum covers those lengths, the stored checksum and the bytes.
        private func writeStrings(_ strings: [[UInt8]], at start: Int) throws(WeftError) -> (Int, UInt32) {
            var lengths: [UInt8] = []
            var crc: UInt32 = 0
            for string in strings {
                Bytes.putVarint(&lengths, UInt64(string.count))
                crc =
                    string.count <= Int(UInt32.max)
                    ? Crc32c.extend(crc, littleEndian: UInt32(string.count))
                    : Crc32c.extend(crc, littleEndian: UInt64(string.count))
            }
            var lengthChecksum: [UInt8] = []
            Bytes.putFixed32(&lengthChecksum, Crc32c.mask(crc))
            crc = Crc32c.extend(crc, lengthChecksum)
            var position = start
            for part in [lengths, lengthChecksum] + strings {
                try dataWriter.write(part, at: position)
                position += part.count
            }
            for string in strings { crc = Crc32c.extend(crc, string) }
            return (position - start, crc)
        }

        /// Completes the bundle: writes the numeric tensors, renames the data file into place,
        /// then writes the index.
        public mutating func finish() throws(WeftError) {
            let written = Concurrently.map(pending.count) { [pending, entries, dataWriter] index in
                let (name, tensor) = pending[index]
                return Result { () throws(WeftError) -> UInt32 in
                    try dataWriter.write(tensor.bytes, at: Int(entries[name]?.offset ?? 0))
                    return Crc32c.extend(0, tensor.bytes)
                }
            }
            for ((name, _), result) in zip(pending, written) { entries[name]?.crc32C = Crc32c.mask(try result.get()) }
            pending = []
            dataWriter.close()
            try CheckpointFile.replace(temporaryData, TensorBundle.dataPath(prefix, shard: 0, of: 1))
            try TensorBundle.writeIndex(prefix: prefix, header: TensorBundle.header(shards: 1), entries: entries)
        }

        /// Abandons the bundle, deleting its temporary data file.
        public func abandon() {
            dataWriter.close()
            try? CheckpointFile.delete(temporaryData)
        }
    }

    /// Reads tensors from a bundle, checking every size, offset and checksum against the files
    /// before allocating, so a corrupt or hostile checkpoint is `dataLoss`, never a crash.
    public final class Reader {
        /// The checkpoint prefix.
        public let prefix: String
        /// The header.
        public let header: Tensorflow_BundleHeaderProto
        /// Every tensor's entry, by name.
        public let entries: [String: Tensorflow_BundleEntryProto]
        private var shards: [Int: CheckpointFile.Reader] = [:]

        /// Opens the bundle at `prefix`; `notFound` when its index does not exist.
        public init(prefix: String) throws(WeftError) {
            let path = TensorBundle.indexPath(prefix)
            guard CheckpointFile.exists(path) else {
                throw WeftError(
                    .notFound,
                    "Unsuccessful TensorSliceReader constructor: Failed to find any matching files for \(prefix)"
                )
            }
            var header: Tensorflow_BundleHeaderProto?
            var entries: [String: Tensorflow_BundleEntryProto] = [:]
            for (key, value) in try SSTable.entries(of: try CheckpointFile.read(path), name: path) {
                do {
                    if key.isEmpty {
                        header = try Tensorflow_BundleHeaderProto(serializedBytes: value)
                    } else {
                        entries[String(decoding: key, as: UTF8.self)] = try Tensorflow_BundleEntryProto(
                            serializedBytes: value
                        )
                    }
                } catch {
                    throw SSTable.corrupt(path, "cannot parse the entry of '\(String(decoding: key, as: UTF8.self))'")
                }
            }
            guard let header else { throw SSTable.corrupt(path, "no bundle header") }
            guard header.numShards >= 1 else { throw SSTable.corrupt(path, "header has \(header.numShards) shards") }
            guard header.endianness == .little else {
                throw WeftError(
                    .unimplemented,
                    "checkpoint \(prefix) is big-endian; Weft reads little-endian checkpoints"
                )
            }
            // Weft reads format version 1, as TensorFlow: refused when the writer asks for a newer reader.
            guard header.version.minConsumer <= 1, !header.version.badConsumers.contains(1) else {
                throw WeftError(
                    .invalidArgument,
                    "checkpoint \(prefix) needs a reader of format version \(header.version.minConsumer) or newer; Weft reads version 1"
                )
            }
            self.prefix = prefix
            self.header = header
            self.entries = entries
        }

        deinit { for file in shards.values { file.close() } }

        /// The tensors saved as `names`, read and checksummed several at once on the machine's
        /// cores; the first error in `names`' order when any fails.
        public func tensors(_ names: [String]) throws(WeftError) -> [Tensor] {
            // The data files open first, so the reads only look them up.
            for name in names {
                guard let entry = entries[name], entry.shardID >= 0, entry.shardID < header.numShards else { continue }
                _ = try shard(Int(entry.shardID))
            }
            return try Concurrently.map(names.count) { index in
                Result { () throws(WeftError) in try tensor(names[index]) }
            }.map { (result) throws(WeftError) in try result.get() }
        }

        /// The tensor saved as `name`; `notFound` when there is none.
        public func tensor(_ name: String) throws(WeftError) -> Tensor {
            guard let entry = entries[name] else {
                throw WeftError(.notFound, "Key \(name) not found in checkpoint")
            }
            let corrupt = { (what: String) in
                WeftError(.dataLoss, "checkpoint \(self.prefix), tensor '\(name)': \(what)")
            }
            guard entry.slices.isEmpty else {
                throw WeftError(
                    .unimplemented,
                    "tensor '\(name)' in \(prefix) is saved in slices, which Weft does not read"
                )
            }
            let dtype: DType
            do { dtype = try DType(entry.dtype) } catch { throw corrupt("unknown dtype \(entry.dtype)") }
            guard dtype == .string || !dtype.isObject else {
                throw WeftError(.unimplemented, "restoring \(dtype) tensors ('\(name)') is not supported")
            }
            let shape: TensorShape
            do { shape = try TensorShape(entry.shape) } catch { throw corrupt("bad shape: \(error.message)") }
            guard entry.shardID >= 0, entry.shardID < header.numShards else {
                throw corrupt("bad shard \(entry.shardID)")
            }
            let file = try shard(Int(entry.shardID))
            guard entry.offset >= 0, entry.size >= 0, entry.offset <= Int64(file.size) - entry.size else {
                throw corrupt(
                    "\(entry.size) bytes at offset \(entry.offset) do not fit in \(file.path) of \(file.size) bytes"
                )
            }
            let offset = Int(entry.offset)
            let size = Int(entry.size)
            let tensor: Tensor
            let crc: UInt32
            if dtype == .string {
                (tensor, crc) = try readStrings(file, offset: offset, size: size, shape: shape, corrupt: corrupt)
            } else {
                var (expected, overflow) = dtype.byteSize.multipliedReportingOverflow(by: 1)
                for dimension in shape.dimensions where !overflow {
                    (expected, overflow) = expected.multipliedReportingOverflow(by: dimension)
                }
                guard !overflow, expected == size else {
                    throw corrupt(
                        "shape \(shape) of \(dtype) needs \(overflow ? "too many" : String(expected)) bytes, entry has \(size)"
                    )
                }
                tensor = Tensor(uninitialized: dtype, shape: shape)
                let bytes = UnsafeMutableRawBufferPointer(start: tensor.buffer.base, count: size)
                try file.read(offset: offset, into: bytes)
                crc = Crc32c.extend(0, UnsafeRawBufferPointer(bytes))
            }
            guard crc == Crc32c.unmask(entry.crc32C) else {
                throw corrupt(
                    "Checksum does not match: stored \(Crc32c.unmask(entry.crc32C)) vs. calculated on the restored bytes \(crc)"
                )
            }
            return tensor
        }

        /// Parses TensorFlow's string layout (see `Writer`), checking the stored length checksum.
        private func readStrings(
            _ file: CheckpointFile.Reader,
            offset: Int,
            size: Int,
            shape: TensorShape,
            corrupt: (String) -> WeftError
        ) throws(WeftError) -> (Tensor, UInt32) {
            var count = 1
            for dimension in shape.dimensions {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                // Every element takes at least one length byte.
                guard !overflow, product <= size else { throw corrupt("\(shape) strings cannot fit in \(size) bytes") }
                count = product
            }
            let bytes = try file.read(offset: offset, count: size)
            var reader = ByteReader(bytes[...], name: file.path)
            var lengths: [Int] = []
            lengths.reserveCapacity(count)
            var crc: UInt32 = 0
            for _ in 0..<count {
                let length = try reader.length()
                guard length <= size else { throw corrupt("string length \(length) exceeds the entry's \(size) bytes") }
                lengths.append(length)
                crc =
                    length <= Int(UInt32.max)
                    ? Crc32c.extend(crc, littleEndian: UInt32(length))
                    : Crc32c.extend(crc, littleEndian: UInt64(length))
            }
            let stored = try reader.fixed32()
            guard Crc32c.unmask(stored) == crc else { throw corrupt("string lengths checksum does not match") }
            crc = Crc32c.extend(crc, littleEndian: stored)
            var strings: [[UInt8]] = []
            strings.reserveCapacity(count)
            for length in lengths {
                let string = try reader.bytes(length)
                crc = string.withUnsafeBytes { Crc32c.extend(crc, $0) }
                strings.append(Array(string))
            }
            guard reader.isAtEnd else { throw corrupt("\(reader.remaining) bytes after the strings") }
            return (try Tensor(strings: strings, shape: shape), crc)
        }

        private func shard(_ index: Int) throws(WeftError) -> CheckpointFile.Reader {
            if let file = shards[index] { return file }
            let path = TensorBundle.dataPath(prefix, shard: index, of: Int(header.numShards))
            let file: CheckpointFile.Reader
            do { file = try CheckpointFile.Reader(path) } catch {
                throw WeftError(
                    error.code == .notFound ? .dataLoss : error.code,
                    "checkpoint data file missing or unreadable: \(error.message)"
                )
            }
            shards[index] = file
            return file
        }
    }
}
