import Synchronization

/// Large tensor buffers kept for reuse once their tensors are gone, as TensorFlow's allocator
/// keeps its regions. A fresh allocation of megabytes comes from `mmap`, and the first write
/// then faults in and zeroes every page, which costs about as much as the write itself; a step
/// that makes tensors of the sizes the previous step freed gets warm memory instead.
///
/// Bounded: only blocks of at least `minimumBytes`, at most `maximumBlocks` of them and at most
/// `maximumBytes` or a quarter of the memory budget (`TensorMemory.limit`) in all, the oldest
/// freed first. Cached bytes belong to no tensor, so `TensorMemory` does not count them. The
/// blocks are `MappedMemory`'s mappings, unmapped when they leave the cache.
enum LargeBufferCache {
    /// The smallest block kept; smaller ones are malloc's business.
    static let minimumBytes = 1 << 20
    private static let maximumBlocks = 8
    private static let maximumBytes = 256 << 20
    /// Free blocks by size and address, oldest first.
    private static let blocks = Mutex<[(byteCount: Int, address: UInt)]>([])

    /// Frees every cached block: for a process that goes idle after a burst of large tensors.
    static func removeAll() {
        unmap(
            blocks.withLock { blocks in
                defer { blocks.removeAll() }
                return blocks
            }
        )
    }

    /// A cached block of exactly `byteCount` bytes, or `nil`.
    static func take(_ byteCount: Int) -> UnsafeMutableRawPointer? {
        guard byteCount >= minimumBytes else { return nil }
        let address = blocks.withLock { blocks -> UInt? in
            guard let index = blocks.lastIndex(where: { $0.byteCount == byteCount }) else { return nil }
            return blocks.remove(at: index).address
        }
        return address.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
    }

    /// Keeps a freed mapping of `byteCount` bytes for reuse; `false` when it is not kept and
    /// the caller unmaps it.
    static func keep(_ base: UnsafeMutableRawPointer, byteCount: Int) -> Bool {
        let limit = min(maximumBytes, TensorMemory.limit / 4)
        guard byteCount >= minimumBytes, byteCount <= limit else { return false }
        let evicted = blocks.withLock { blocks -> [(byteCount: Int, address: UInt)] in
            blocks.append((byteCount, UInt(bitPattern: base)))
            var total = blocks.reduce(0) { $0 + $1.byteCount }
            var evicted: [(byteCount: Int, address: UInt)] = []
            while blocks.count > maximumBlocks || total > limit {
                let oldest = blocks.removeFirst()
                total -= oldest.byteCount
                evicted.append(oldest)
            }
            return evicted
        }
        // Freed outside the lock: unmapping a large block takes a while.
        unmap(evicted)
        return true
    }

    private static func unmap(_ freed: [(byteCount: Int, address: UInt)]) {
        for block in freed {
            guard let base = UnsafeMutableRawPointer(bitPattern: block.address) else { continue }
            MappedMemory.unmap(base, byteCount: block.byteCount)
        }
    }
}
