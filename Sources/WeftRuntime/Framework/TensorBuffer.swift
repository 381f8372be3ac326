#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes behind one or more tensors: 64-byte aligned (16 for small ones), allocated once,
/// written only by the kernel that produced it and immutable once its tensor has been handed on.
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
    /// The elements of a `string`, `resource` or `variant` tensor; `nil` for tensors of bytes.
    public let objects: ObjectElements?
    /// What this buffer counts in `TensorMemory`: its bytes, or its elements' `storageBytes`.
    private let countedBytes: Int
    private let release: (@Sendable (UnsafeMutableRawPointer) -> Void)?
    /// Whether `base` is a mapping of its own (`MappedMemory`) rather than malloc's.
    private let mapped: Bool

    /// Allocates `byteCount` uninitialized bytes, aligned for SIMD and BLAS, counted in
    /// `TensorMemory` without a check: for sizes the caller has bounded.
    public convenience init(byteCount: Int) {
        TensorMemory.record(byteCount)
        self.init(reservedByteCount: byteCount)
    }

    /// Allocates `byteCount` bytes whose reservation in `TensorMemory` the caller holds.
    init(reservedByteCount byteCount: Int) {
        self.byteCount = byteCount
        (self.base, self.mapped) = Self.allocate(byteCount)
        self.objects = nil
        self.countedBytes = byteCount
        self.release = nil
    }

    /// Allocates the bytes of a `dtype` tensor of `shape`, or throws `resourceExhausted` when
    /// they would pass this process's memory budget; `node` names the allocating node in the error.
    convenience init(budgetedBytes byteCount: Int, shape: TensorShape, dtype: DType, node: String?) throws(WeftError) {
        guard TensorMemory.reserve(byteCount) else {
            throw TensorMemory.exhausted(bytes: byteCount, shape: shape, dtype: dtype, node: node)
        }
        self.init(reservedByteCount: byteCount)
    }

    /// Holds the elements of an object tensor; there are no payload bytes. The elements'
    /// storage counts in `TensorMemory` without a check: for elements the caller has bounded.
    public convenience init(objects: ObjectElements) {
        let bytes = objects.storageBytes
        TensorMemory.record(bytes)
        self.init(reservedObjects: objects, bytes: bytes)
    }

    /// Holds the elements of an object tensor of `shape`, or throws `resourceExhausted` when
    /// their storage would pass this process's memory budget; `node` names the node in the error.
    convenience init(
        budgetedObjects objects: ObjectElements,
        shape: TensorShape,
        dtype: DType,
        node: String?
    )
        throws(WeftError)
    {
        let bytes = objects.storageBytes
        guard TensorMemory.reserve(bytes) else {
            throw TensorMemory.exhausted(bytes: bytes, shape: shape, dtype: dtype, node: node)
        }
        self.init(reservedObjects: objects, bytes: bytes)
    }

    private init(reservedObjects objects: ObjectElements, bytes: Int) {
        self.byteCount = 0
        (self.base, self.mapped) = Self.allocate(1)
        self.objects = objects
        self.countedBytes = bytes
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
        self.objects = nil
        self.countedBytes = count
        self.release = release
        self.mapped = false
        TensorMemory.record(count)
    }

    /// Whether the bytes are plain memory this buffer allocated: not adopted, not objects.
    var isOwnAllocation: Bool { release == nil && objects == nil }

    /// Up to this size a buffer is 16-byte aligned: malloc's fast path serves it, where a larger
    /// alignment goes through a slower one, and no kernel loads vectors wider than 16 bytes
    /// from so few elements (the wide ones load unaligned anyway).
    private static let smallByteCount = 64

    /// The bytes, and whether they are a mapping of their own (large buffers, see `MappedMemory`).
    private static func allocate(_ byteCount: Int) -> (UnsafeMutableRawPointer, mapped: Bool) {
        if byteCount >= MappedMemory.minimumBytes {
            if let reused = LargeBufferCache.take(byteCount) { return (reused, true) }
            if let fresh = MappedMemory.map(byteCount) { return (fresh, true) }
        }
        let alignment = byteCount <= smallByteCount ? 16 : 64
        return (UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: alignment), false)
    }

    deinit {
        TensorMemory.release(countedBytes)
        if let release {
            release(base)
        } else if !mapped {
            base.deallocate()
        } else if !LargeBufferCache.keep(base, byteCount: byteCount) {
            MappedMemory.unmap(base, byteCount: byteCount)
        }
    }
}

/// The elements of a tensor whose dtype `isObject`: Swift values, not bytes.
public enum ObjectElements: Sendable {
    /// `string` elements: byte strings of any length (TensorFlow's strings are bytes, not text).
    case strings([[UInt8]])
    /// `resource` elements.
    case handles([ResourceHandle])
    /// `variant` elements.
    case variants([any VariantValue])

    /// The number of elements.
    public var count: Int {
        switch self {
        case .strings(let values): values.count
        case .handles(let values): values.count
        case .variants(let values): values.count
        }
    }

    /// The bytes the elements take in the memory budget: each element's slot, and a string's
    /// bytes, charged in full in every tensor that holds it, as TensorFlow copies strings (Swift
    /// may share one string's storage among elements; a budget must not depend on that). The
    /// tensors a variant holds (a list's items) count in their own buffers.
    public var storageBytes: Int {
        switch self {
        case .strings(let values):
            var total = values.count &* MemoryLayout<[UInt8]>.stride
            for value in values {
                let (sum, overflow) = total.addingReportingOverflow(value.count)
                total = overflow ? .max : sum
            }
            return total
        case .handles(let values): return values.count &* MemoryLayout<ResourceHandle>.stride
        case .variants(let values): return values.count &* MemoryLayout<any VariantValue>.stride
        }
    }
}

/// A value a `variant` tensor holds, such as a tensor list.
public protocol VariantValue: Sendable {
    /// TensorFlow's type name for the value (`tensorflow::TensorList`), for messages.
    var typeName: String { get }
    /// Whether two values are the same, for tensor equality.
    func isEqual(to other: any VariantValue) -> Bool
}

/// The variant of a freshly allocated `variant` tensor that no kernel has written yet.
public struct EmptyVariant: VariantValue {
    /// Makes the empty variant.
    public init() {}
    /// An empty variant has no type.
    public var typeName: String { "empty" }
    /// Equal to any other empty variant.
    public func isEqual(to other: any VariantValue) -> Bool { other is EmptyVariant }
}

/// A handle to a resource of a session, such as a resource variable: what a `resource` tensor
/// holds (TensorFlow's `ResourceHandle`). Kernels look the resource up in the step's container.
public struct ResourceHandle: Sendable, Hashable {
    /// The container, `""` for the default one.
    public var container: String
    /// The resource's name in its container.
    public var name: String
    /// The device of the op that made the handle.
    public var device: String
    /// The dtype of the value the resource holds, when known.
    public var dtype: DType?
    /// The shape of the value the resource holds, when known.
    public var shape: PartialShape?

    /// Makes a handle.
    public init(
        container: String = "",
        name: String = "",
        device: String = "",
        dtype: DType? = nil,
        shape: PartialShape? = nil
    ) {
        self.container = container
        self.name = name
        self.device = device
        self.dtype = dtype
        self.shape = shape
    }
}
