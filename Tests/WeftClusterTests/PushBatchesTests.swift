import Testing
import WeftProto
import WeftRuntime

@testable import WeftCluster

/// Which pushes share a message, and what a push message delivers, without sockets.
@Suite struct PushBatchesTests {
    typealias Batches = PushBatches<Int>
    let route = Batches.Route(destination: "/job:worker/task:0", step: 7)

    /// Sends `window` pushes, filling the route's window.
    private func fillWindow(_ batches: inout Batches, from first: Int = 100) {
        for push in first..<first + Batches.window {
            #expect(batches.add(push, bytes: 4, on: route)?.pushes == [push], "the window has room")
        }
    }

    @Test func pushesMadeWhileTheWindowIsFull_goTogetherAtTheNextAcknowledgement() {
        var batches = Batches()
        fillWindow(&batches)
        #expect(batches.add(1, bytes: 4, on: route) == nil)
        #expect(batches.add(2, bytes: 0, on: route) == nil)
        let next = batches.acknowledged(route)
        #expect(next?.pushes == [1, 2] && next?.isClocked == true)
        for _ in 0..<Batches.window { #expect(batches.acknowledged(route) == nil) }
        #expect(batches.busyRoutes == 0)
        #expect(batches.add(4, bytes: 4, on: route)?.pushes == [4], "an idle route sends at once")
    }

    @Test func largeTensorsAndOtherRoutes_doNotWait() {
        var batches = Batches()
        _ = batches.add(1, bytes: 4, on: route)
        let large = batches.add(2, bytes: Batches.smallBytes + 1, on: route)
        #expect(large?.pushes == [2] && large?.isClocked == false)
        let otherStep = Batches.Route(destination: route.destination, step: 8)
        let otherWorker = Batches.Route(destination: "/job:worker/task:1", step: 7)
        #expect(batches.add(3, bytes: 4, on: otherStep)?.pushes == [3])
        #expect(batches.add(4, bytes: 4, on: otherWorker)?.pushes == [4])
        #expect(batches.busyRoutes == 3)
    }

    @Test func aBatch_staysWithinItsLimits() {
        var batches = Batches()
        fillWindow(&batches, from: -Batches.window)
        for push in 1...Batches.batchCount + 1 { #expect(batches.add(push, bytes: 1, on: route) == nil) }
        #expect(batches.acknowledged(route)?.pushes.count == Batches.batchCount)
        #expect(batches.acknowledged(route)?.pushes == [Batches.batchCount + 1])
        let perBatch = Batches.batchBytes / Batches.smallBytes
        for push in 0..<perBatch + 1 { _ = batches.add(push, bytes: Batches.smallBytes, on: route) }
        #expect(batches.acknowledged(route)?.pushes.count == perBatch)
        #expect(batches.acknowledged(route)?.pushes.count == 1)
        #expect(batches.acknowledged(route) == nil)
    }

    @Test func arrivals_pairEntriesWithTheirTensors() throws {
        var push = Weft_PushTensor.with { $0.key = "a" }
        push.more = [
            .with {
                $0.key = "dead"
                $0.isDead = true
            },
            .with {
                $0.key = "failed"
                $0.status = .with {
                    $0.code = WeftError.Code.aborted.rawValue
                    $0.message = "sender failed"
                }
            },
            .with { $0.key = "b" },
        ]
        let arrivals = try Worker.arrivals(push, tensors: [Tensor([Float(1)]), Tensor([Float(2)])])
        #expect(arrivals.map(\.key) == ["a", "dead", "failed", "b"])
        #expect(try arrivals[0].1.get()?.scalars(as: Float.self) == [1])
        #expect(try arrivals[1].1.get() == nil)
        #expect(throws: WeftError.self) { try arrivals[2].1.get() }
        #expect(try arrivals[3].1.get()?.scalars(as: Float.self) == [2])
    }

    @Test func arrivals_refuseTensorsThatDoNotMatchTheEntries() {
        var push = Weft_PushTensor.with { $0.key = "a" }
        push.more = [.with { $0.key = "b" }]
        for tensors in [[Tensor([Float(1)])], [Tensor([Float(1)]), Tensor([Float(2)]), Tensor([Float(3)])]] {
            #expect {
                try Worker.arrivals(push, tensors: tensors)
            } throws: {
                ($0 as? WeftError)?.code == .invalidArgument
            }
        }
        push.more[0].more = [.with { $0.key = "c" }]
        #expect {
            try Worker.arrivals(push, tensors: [Tensor([Float(1)]), Tensor([Float(2)])])
        } throws: {
            ($0 as? WeftError)?.code == .invalidArgument
        }
    }
}
