#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Large tensor buffers as anonymous mappings of their own, so freeing one gives its pages back
/// to the system at once. From malloc they would stay resident: once a large block has been
/// freed, glibc serves the next ones from its heaps, and it cannot trim the top of a heap that
/// is not its main one, even with `malloc_trim`. `LargeBufferCache` keeps freed mappings warm
/// for the next step.
enum MappedMemory {
    /// The smallest buffer that gets a mapping of its own.
    static let minimumBytes = LargeBufferCache.minimumBytes

    /// Mappings this large ask for transparent huge pages (where the system gives them only on
    /// request, as Debian's default does): a page fault fills 2 MiB rather than 4 KiB, and a
    /// peer that reads a lent tensor pins a few pages rather than thousands, which doubled the
    /// speed of 16 MiB moving between workers (`weft bench transfer`). Smaller mappings would
    /// hold mostly partial huge pages.
    static let hugePageBytes = 4 << 20

    /// A fresh, zeroed, page-aligned mapping of `byteCount` bytes, or `nil` when the system has
    /// none to give (the caller falls back to malloc).
    static func map(_ byteCount: Int) -> UnsafeMutableRawPointer? {
        let base = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let base, base != MAP_FAILED else { return nil }
        if byteCount >= hugePageBytes { _ = madvise(base, byteCount, MADV_HUGEPAGE) }
        return base
    }

    /// Unmaps a mapping `map` made.
    static func unmap(_ base: UnsafeMutableRawPointer, byteCount: Int) {
        _ = munmap(base, byteCount)
    }
}
