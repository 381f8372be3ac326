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
            #expect(batches.add([(push, 4)], on: route).map(\.pushes) == [[push]], "the window has room")
        }
    }

    @Test func pushesMadeWhileTheWindowIsFull_goTogetherAtTheNextAcknowledgement() {
        var batches = Batches()
        fillWindow(&batches)
        #expect(batches.add([(1, 4)], on: route).isEmpty)
        #expect(batches.add([(2, 0)], on: route).isEmpty)
        let next = batches.acknowledged(route)
        #expect(next?.pushes == [1, 2] && next?.isClocked == true)
        for _ in 0..<Batches.window { #expect(batches.acknowledged(route) == nil) }
        #expect(batches.busyRoutes == 0)
        #expect(batches.add([(4, 4)], on: route).map(\.pushes) == [[4]], "an idle route sends at once")
    }

    @Test func largeTensorsAndOtherRoutes_doNotWait() {
        var batches = Batches()
        _ = batches.add([(1, 4)], on: route)
        let large = batches.add([(2, Batches.smallBytes + 1)], on: route)
        #expect(large.map(\.pushes) == [[2]] && large.first?.isClocked == false)
        let otherStep = Batches.Route(destination: route.destination, step: 8)
        let otherWorker = Batches.Route(destination: "/job:worker/task:1", step: 7)
        #expect(batches.add([(3, 4)], on: otherStep).map(\.pushes) == [[3]])
        #expect(batches.add([(4, 4)], on: otherWorker).map(\.pushes) == [[4]])
        #expect(batches.busyRoutes == 3)
    }

    @Test func aBatch_staysWithinItsLimits() {
        var batches = Batches()
        fillWindow(&batches, from: -Batches.window)
        for push in 1...Batches.batchCount + 1 { #expect(batches.add([(push, 1)], on: route).isEmpty) }
        #expect(batches.acknowledged(route)?.pushes.count == Batches.batchCount)
        #expect(batches.acknowledged(route)?.pushes == [Batches.batchCount + 1])
        let perBatch = Batches.batchBytes / Batches.smallBytes
        for push in 0..<perBatch + 1 { _ = batches.add([(push, Batches.smallBytes)], on: route) }
        #expect(batches.acknowledged(route)?.pushes.count == perBatch)
        #expect(batches.acknowledged(route)?.pushes.count == 1)
        #expect(batches.acknowledged(route) == nil)
    }

    @Test func pushesMadeTogether_shareMessagesWithinTheirLimits() {
        var batches = Batches()
        let small = batches.add([(1, 4), (2, 4), (3, 0)], on: route)
        #expect(small.map(\.pushes) == [[1, 2, 3]] && small.first?.isClocked == true)
        let half = Batches.batchBytes / 2
        let large = batches.add([(4, half), (5, 4), (6, half), (7, Batches.batchBytes + 1), (8, 4)], on: route)
        #expect(large.map(\.pushes) == [[4, 5], [6], [7], [8]], "a message carries at most batchBytes")
        #expect(large.map(\.isClocked) == [false, false, false, true])
        #expect(batches.add((9..<9 + Batches.batchCount + 1).map { ($0, 0) }, on: route).map(\.pushes.count) == [
            Batches.batchCount, 1,
        ])
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
