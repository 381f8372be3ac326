import Dispatch

/// Runs independent pieces of a partitioning at once: placement gets the machine's cores while
/// it runs, and pieces that share no state give the same results in any order.
enum Concurrently {
    /// The results of `first` and `second`, run at the same time on two threads.
    static func both<A, B>(_ first: () -> A, _ second: () -> B) -> (A, B) {
        withoutActuallyEscaping(first) { first in
            withoutActuallyEscaping(second) { second in
                let pair = Pair(first: first, second: second)
                DispatchQueue.concurrentPerform(iterations: 2) { pair.run($0) }
                // Both ran when `concurrentPerform` returns; the fallbacks only satisfy the types.
                return (pair.firstResult ?? first(), pair.secondResult ?? second())
            }
        }
    }

    private final class Pair<A, B>: @unchecked Sendable {
        // Sendable: each iteration writes only its own result, and `concurrentPerform` returns
        // only when both are done, before either result is read.
        let first: () -> A
        let second: () -> B
        var firstResult: A?
        var secondResult: B?

        init(first: @escaping () -> A, second: @escaping () -> B) {
            self.first = first
            self.second = second
        }

        func run(_ index: Int) {
            if index == 0 { firstResult = first() } else { secondResult = second() }
        }
    }
}
