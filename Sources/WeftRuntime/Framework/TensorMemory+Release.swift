extension TensorMemory {
    /// Gives memory no tensor holds back to the system: the large buffers kept for reuse, and
    /// the free pages of malloc's heaps. A worker calls it after start-up work (its calibration)
    /// so an idle process keeps only what it uses; the next large tensor costs a fresh mapping.
    public static func releaseUnused() {
        LargeBufferCache.removeAll()
        #if os(Linux)
        _ = trimMallocHeaps(0)
        #endif
    }
}

#if os(Linux)
/// glibc's `malloc_trim`, which Swift's Glibc module does not export (it is in `<malloc.h>`):
/// returns the free pages of every arena to the system.
@_silgen_name("malloc_trim")
private func trimMallocHeaps(_ pad: Int) -> Int32
#endif
