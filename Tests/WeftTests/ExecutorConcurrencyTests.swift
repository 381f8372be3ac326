import Dispatch
import Foundation
import Synchronization
import Testing
import WeftRuntime

@testable import Weft

/// Steps of one plan running at once on many threads, as a library function's steps do when a
/// loop's iterations call it in parallel.
@Suite struct ExecutorConcurrencyTests {
    /// Every step ends, with its own values, while other steps of the same plan teach it that
    /// its kernels are quick or slow: feeds of very different sizes make the plan's costs flip
    /// back and forth as the steps decide where each ready node runs.
    @Test func stepsOfOnePlan_onManyThreads_allEnd_whileTheKernelsCostsChange() throws {
        let graph = Graph()
        let (x, total) = graph.asDefault {
            let x = placeholder(.float, shape: [-1], name: "x")
            let terms = (0..<8).map { term in x * constant(Float(term)) }
            return (x, addN(terms))
        }
        let session = Session(graph: graph)
        defer { session.close() }
        let small = try Tensor([Float](repeating: 1, count: 1), shape: [1])
        let large = try Tensor([Float](repeating: 1, count: 20_000), shape: [20_000])
        let threads = 4
        let steps = 5000
        let failures = Mutex<[String]>([])
        let completed = Atomic<Int>(0)
        let finished = DispatchSemaphore(value: 0)
        for thread in 0..<threads {
            Thread.detachNewThread {
                for step in 0..<steps {
                    let feed = (step + thread) % 2 == 0 ? large : small
                    do {
                        let sum = try session.run(total, feeding: [x: feed]).scalars(as: Float.self)
                        if sum.first != 28 || sum.count != feed.shape.elementCount {
                            failures.withLock { $0.append("thread \(thread) step \(step): \(sum.prefix(3))") }
                        }
                    } catch {
                        failures.withLock { $0.append("thread \(thread) step \(step): \(error)") }
                    }
                    completed.add(1, ordering: .relaxed)
                }
                finished.signal()
            }
        }
        let deadline = DispatchTime.now() + .seconds(120)
        for _ in 0..<threads {
            guard finished.wait(timeout: deadline) == .success else {
                let done = completed.load(ordering: .relaxed)
                Issue.record("after 120 s, \(done) of \(threads * steps) steps had ended")
                return
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
    }
}
