import WeftProto

extension TensorBundle.Reader {
    /// What the index says of one tensor, without reading its bytes: what
    /// `weft checkpoint inspect` and TensorFlow's `tf.train.list_variables` show.
    public struct EntrySummary: Sendable, Hashable {
        /// The tensor's name.
        public var name: String
        /// The element type, `nil` when the index names one Weft does not know.
        public var dtype: DType?
        /// The shape, `nil` when the index holds an invalid one.
        public var shape: TensorShape?
        /// The shard holding the bytes.
        public var shard: Int
        /// The size of the stored bytes.
        public var size: Int
        /// The CRC-32C of the stored bytes (unmasked), which reading the tensor checks.
        public var crc32c: UInt32
    }

    /// Every tensor of the bundle, sorted by name as the index stores them.
    public var summaries: [EntrySummary] {
        entries.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }.map { name, entry in
            EntrySummary(
                name: name,
                dtype: try? DType(entry.dtype),
                shape: try? TensorShape(entry.shape),
                shard: Int(entry.shardID),
                size: Int(entry.size),
                crc32c: Crc32c.unmask(entry.crc32C)
            )
        }
    }
}
