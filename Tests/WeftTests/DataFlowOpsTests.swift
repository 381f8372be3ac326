import Dispatch
import Foundation
import Synchronization
import Testing
import WeftRuntime

@testable import Weft

/// Conditional accumulators and FIFO queues in a local session, with the values and errors
/// TensorFlow 2.21's `tf.compat.v1` gives for the same calls.
@Suite struct DataFlowOpsTests {
    private static func code(_ body: () throws -> Void) -> WeftError.Code? {
        do { try body() } catch let error as WeftError { return error.code } catch { return .unknown }
        return nil
    }

    @Test func accumulator_averages_dropsStaleGradients_andChecksAsTensorFlow() throws {
        let graph = Graph()
        let (apply, step, gradient, count, take, takeNone, setStep) = graph.asDefault {
            let accumulator = ConditionalAccumulator(dtype: .float, shape: PartialShape([2]), sharedName: "acc")
            let step = placeholder(.int64, shape: [], name: "local_step")
            let gradient = placeholder(.float, name: "gradient")
            return (
                accumulator.applyGradient(gradient, localStep: step), step, gradient, accumulator.numAccumulated(),
                accumulator.takeGradient(2), accumulator.takeGradient(0), accumulator.setGlobalStep(step)
            )
        }
        let session = Session(graph: graph)
        defer { session.close() }
        func applying(_ local: Int64, _ values: [Float]) throws {
            try session.run([], feeding: [step: Tensor(local), gradient: Tensor(values)], targets: [apply])
        }
        try applying(0, [1, 2])
        try applying(0, [3, 5])
        #expect(try session.run(count).scalars(as: Int32.self) == [2])
        #expect(try session.run(take).scalars(as: Float.self) == [2, 3.5])
        // The take advanced the accumulator to global step 1: a gradient of step 0 is stale.
        try applying(0, [100, 100])
        #expect(try session.run(count).scalars(as: Int32.self) == [0])
        try applying(1, [1, 1])
        #expect(try session.run(count).scalars(as: Int32.self) == [1])
        #expect(Self.code { _ = try session.run(takeNone) } == .invalidArgument)
        #expect(Self.code { try applying(1, [1, 2, 3]) } == .invalidArgument)
        // Going back is allowed, as TensorFlow (which only logs it).
        try session.run([], feeding: [step: Tensor(Int64(-5))], targets: [setStep])
        try applying(-5, [1, 1])
        #expect(try session.run(count).scalars(as: Int32.self) == [2])
    }

    @Test func queue_isFirstInFirstOut_andClosesAsTensorFlow() throws {
        let graph = Graph()
        let (enqueue, dequeue, size, close) = graph.asDefault {
            let queue = FIFOQueue(componentTypes: [.int64], shapes: [PartialShape([])], sharedName: "q")
            return (queue.enqueueMany([constant([Int64(5), 6])]), queue.dequeue()[0], queue.size(), queue.close())
        }
        let session = Session(graph: graph)
        defer { session.close() }
        try session.run(enqueue)
        #expect(try session.run(size).scalars(as: Int32.self) == [2])
        #expect(try session.run(dequeue).scalars(as: Int64.self) == [5])
        try session.run(close)
        #expect(try session.run(dequeue).scalars(as: Int64.self) == [6])
        #expect(Self.code { _ = try session.run(dequeue) } == .outOfRange)
        #expect(Self.code { try session.run(enqueue) } == .cancelled)
        #expect(try session.run(size).scalars(as: Int32.self) == [0])
    }

    @Test func aWaitingDequeue_isServedByAnotherStepsEnqueue() async throws {
        let graph = Graph()
        let (enqueue, dequeue) = graph.asDefault {
            let queue = FIFOQueue(componentTypes: [.float], shapes: [PartialShape([2])], name: "q")
            return (queue.enqueue([constant([Float(1), 2])]), queue.dequeue()[0])
        }
        let session = Session(graph: graph)
        defer { session.close() }
        let waiting = Task { try await session.run(dequeue) }
        try await Task.sleep(for: .milliseconds(100))
        try await session.run(enqueue)
        #expect(try await waiting.value.scalars(as: Float.self) == [1, 2])
    }
}
