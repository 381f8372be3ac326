import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes this process's tensor buffers hold, and the most they may hold: a worker's
/// memory budget (`weft worker --memory-limit`).
///
/// Every `TensorBuffer` counts its bytes here from allocation until it is freed, with one atomic
/// add each way. Allocations sized by values from outside (kernel outputs through
/// `KernelChecks.allocate`, constants read from a GraphDef) reserve their bytes first and fail
/// with `resourceExhausted` when the budget would be passed, so a step that asks for too much
/// fails and the process lives.
public enum TensorMemory {
    private static let live = Atomic<Int>(0)
    private static let limitBytes = Atomic<Int>(physicalMemory)

    /// The machine's physical memory in bytes (`Int.max` where it cannot be read).
    public static let physicalMemory: Int = {
        #if canImport(Glibc)
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        let pageSize = sysconf(Int32(_SC_PAGESIZE))
        if pages > 0 && pageSize > 0 {
            let (bytes, overflow) = pages.multipliedReportingOverflow(by: pageSize)
            return overflow ? .max : bytes
        }
        #endif
        return .max
    }()

    /// The bytes tensor buffers hold now.
    public static var liveBytes: Int { live.load(ordering: .relaxed) }

    /// The most bytes tensor buffers may hold; the machine's physical memory unless set.
    public static var limit: Int { limitBytes.load(ordering: .relaxed) }

    /// Sets the budget for the whole process, for a worker at start-up (at least one byte).
    public static func setLimit(_ bytes: Int) {
        limitBytes.store(max(bytes, 1), ordering: .relaxed)
    }

    /// Counts `bytes` against the budget if they fit, and says whether they did. A failed
    /// reservation takes its bytes back, so concurrent allocations never pass the limit together.
    static func reserve(_ bytes: Int) -> Bool {
        let (total, overflow) = live.load(ordering: .relaxed).addingReportingOverflow(bytes)
        guard !overflow, total <= limit else { return false }
        let now = live.wrappingAdd(bytes, ordering: .relaxed).newValue
        guard now > limit else { return true }
        live.wrappingSubtract(bytes, ordering: .relaxed)
        return false
    }

    /// Counts bytes allocated without a reservation (sizes the process chose or already holds).
    static func record(_ bytes: Int) { live.wrappingAdd(bytes, ordering: .relaxed) }

    /// Gives back the bytes of a freed buffer.
    static func release(_ bytes: Int) { live.wrappingSubtract(bytes, ordering: .relaxed) }

    /// TensorFlow's "OOM when allocating" error for a tensor the budget cannot hold.
    static func exhausted(bytes: Int, shape: TensorShape, dtype: DType, node: String?) -> WeftError {
        let location = node.map { " (node '\($0)')" } ?? ""
        return WeftError(
            .resourceExhausted,
            "OOM when allocating tensor with shape\(shape) and type \(dtype): \(bytes) bytes requested, "
                + "\(liveBytes) of this process's \(limit)-byte memory limit in use\(location)"
        )
    }
}
