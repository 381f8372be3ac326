import Dispatch

/// Runs independent pieces of work at once on the machine's cores: pieces that share no state
/// give the same results in any order.
public enum Concurrently {
    /// The results of `first` and `second`, run at the same time on two threads.
    public static func both<A, B>(_ first: () -> A, _ second: () -> B) -> (A, B) {
        withoutActuallyEscaping(first) { first in
            withoutActuallyEscaping(second) { second in
                let pair = Pair(first: first, second: second)
                DispatchQueue.concurrentPerform(iterations: 2) { pair.run($0) }
                // Both ran when `concurrentPerform` returns; the fallbacks only satisfy the types.
                return (pair.firstResult ?? first(), pair.secondResult ?? second())
            }
        }
    }

    /// `body` of every index in `0..<count`, run on the cores at once, in index order.
    public static func map<T>(_ count: Int, _ body: (Int) -> T) -> [T] {
        guard count > 1 else { return (0..<max(count, 0)).map(body) }
        return withoutActuallyEscaping(body) { body in
            let slots = Slots(count: count, body: body)
            defer { slots.free() }
            DispatchQueue.concurrentPerform(iterations: count) { slots.run($0) }
            return slots.values.compactMap { $0 }
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

    private final class Slots<T>: @unchecked Sendable {
        // Sendable: each iteration writes only its own slot (raw memory, so no array is
        // mutated from two threads), and the slots are read after `concurrentPerform` returns.
        let values: UnsafeMutableBufferPointer<T?>
        let body: (Int) -> T

        init(count: Int, body: @escaping (Int) -> T) {
            values = .allocate(capacity: count)
            values.initialize(repeating: nil)
            self.body = body
        }

        func run(_ index: Int) { values[index] = body(index) }

        func free() {
            values.deinitialize()
            values.deallocate()
        }
    }
}
