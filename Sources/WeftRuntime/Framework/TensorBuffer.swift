#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes behind one or more tensors: 64-byte aligned, allocated once, written only by the
/// kernel that produced it and immutable once its tensor has been handed on.
///
/// Foreign memory (a received ZeroMQ frame) is adopted without a copy through
/// `init(adopting:count:release:)`, and `Unmanaged` retains keep a buffer alive while
/// ZeroMQ sends it.
public final class TensorBuffer: @unchecked Sendable {
    // Sendable: the pointer is written only before the buffer is shared (by the kernel that
    // allocated it) and read-only afterwards; release runs once, in deinit.
    /// The start of the bytes.
    public let base: UnsafeMutableRawPointer
    /// The number of bytes.
    public let byteCount: Int
    private let release: (@Sendable (UnsafeMutableRawPointer) -> Void)?

    /// Allocates `byteCount` uninitialized bytes, 64-byte aligned for SIMD and BLAS.
    public init(byteCount: Int) {
        self.byteCount = byteCount
        self.base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        self.release = nil
    }

    /// Adopts memory owned elsewhere; `release` runs when the last tensor using it is gone.
    public init(
        adopting base: UnsafeMutableRawPointer,
        count: Int,
        release: @escaping @Sendable (UnsafeMutableRawPointer) -> Void
    ) {
        self.base = base
        self.byteCount = count
        self.release = release
    }

    deinit {
        if let release { release(base) } else { base.deallocate() }
    }
}
