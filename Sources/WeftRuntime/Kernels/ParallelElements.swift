import Foundation

/// Splits element-wise loops over large tensors across the cores, as Eigen's thread-pool
/// device does: one thread does not keep the memory system busy, and the split costs little
/// beside a megabyte of work per core. Small loops run on the calling thread.
enum ParallelElements {
    /// Elements below which a loop is not split (a megabyte of floats).
    static let minimumCount = 1 << 18
    private static let cores = ProcessInfo.processInfo.activeProcessorCount

    /// How many pieces `forPieces` cuts `count` elements into.
    @inline(__always)
    static func pieces(_ count: Int) -> Int { max(1, min(cores, count / minimumCount)) }

    /// Calls `body(piece, range)` for `pieces(count)` consecutive ranges covering
    /// `0..<count`, concurrently when there are several. Inlined, so that the loop `body`
    /// holds is specialised at each call site.
    @inline(__always)
    static func forPieces(_ count: Int, _ body: (Int, Range<Int>) -> Void) {
        let pieces = pieces(count)
        guard pieces > 1 else { return body(0, 0..<count) }
        withoutActuallyEscaping(body) { body in
            let shared = SharedBody(body: body)
            DispatchQueue.concurrentPerform(iterations: pieces) { piece in
                shared.body(piece, count * piece / pieces..<count * (piece + 1) / pieces)
            }
        }
    }

    /// Calls `body` on consecutive ranges covering `0..<count`, as `forPieces` does.
    @inline(__always)
    static func forChunks(_ count: Int, _ body: (Range<Int>) -> Void) {
        forPieces(count) { _, range in body(range) }
    }
}

/// A loop body shared by the threads of one `forPieces` call, which returns only once they
/// are done. Sendable: each piece writes only its own range (or partial), and the callers'
/// bodies read inputs nobody writes during the call.
private struct SharedBody: @unchecked Sendable {
    let body: (Int, Range<Int>) -> Void
}
