import Testing

@testable import WeftTransport

@Suite struct PendingRequestsTests {
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    @Test func expire_returnsOnlyRequestsPastTheirDeadline_earliestFirst() {
        var table = PendingRequests<String>()
        let inserted = [
            table.insert(id: 1, address: "a", deadline: at(300), context: "one"),
            table.insert(id: 2, address: "a", deadline: at(100), context: "two"),
            table.insert(id: 3, address: "b", deadline: at(200), context: "three"),
        ]
        #expect(inserted == [true, true, true])

        let early = table.expire(now: at(50))
        #expect(early.isEmpty)
        let middle = table.expire(now: at(200))
        #expect(middle.map(\.id) == [2, 3])
        #expect(table.count == 1)
        let next = table.nextDeadline()
        #expect(next == at(300))
        let late = table.expire(now: at(1000))
        #expect(late.map(\.context) == ["one"])
        #expect(table.isEmpty)
        let none = table.nextDeadline()
        #expect(none == nil)
    }

    @Test func complete_removesTheRequest_andTheNextDeadlineMovesOn() {
        var table = PendingRequests<Void>()
        _ = table.insert(id: 1, address: "a", deadline: at(100), context: ())
        _ = table.insert(id: 2, address: "a", deadline: at(200), context: ())
        let first = table.complete(1)
        let again = table.complete(1)
        #expect(first?.id == 1)
        #expect(again == nil)
        let next = table.nextDeadline()
        #expect(next == at(200))
        let expired = table.expire(now: at(150))
        #expect(expired.isEmpty)
    }

    @Test func complete_fromAnotherAddress_answersNothing() {
        var table = PendingRequests<Void>()
        _ = table.insert(id: 7, address: "tcp://a:1", deadline: at(100), context: ())
        let wrongPeer = table.complete(7, from: "tcp://b:1")
        #expect(wrongPeer == nil)
        #expect(table.contains(7))
        let rightPeer = table.complete(7, from: "tcp://a:1")
        #expect(rightPeer?.id == 7)
    }

    @Test func insert_refusesAnIDThatIsPending() {
        var table = PendingRequests<Int>()
        let first = table.insert(id: 5, address: "a", deadline: at(100), context: 1)
        let duplicate = table.insert(id: 5, address: "b", deadline: at(50), context: 2)
        #expect(first && !duplicate)
        #expect(table[5]?.context == 1)
        let expired = table.expire(now: at(60))
        #expect(expired.isEmpty)
    }

    @Test func removeAllForAddress_canSelectSentOrUnsentRequests() {
        var table = PendingRequests<Void>()
        for id in 1...4 {
            _ = table.insert(id: UInt64(id), address: id <= 3 ? "a" : "b", deadline: at(100), context: ())
        }
        table.markSent(1)
        table.markSent(3)
        table.markSent(4)
        let sent = table.removeAll(for: "a", sent: true)
        #expect(sent.map(\.id) == [1, 3])
        #expect(table.hasRequests(for: "a"))
        let rest = table.removeAll(for: "a")
        #expect(rest.map(\.id) == [2])
        #expect(!table.hasRequests(for: "a"))
        let all = table.removeAll()
        #expect(all.map(\.id) == [4])
    }

    @Test func manyCompletedRequests_doNotHideTheOnesStillPending() {
        var table = PendingRequests<Void>()
        for id in 1...1000 { _ = table.insert(id: UInt64(id), address: "a", deadline: at(id), context: ()) }
        for id in 1...1000 where id % 100 != 0 { _ = table.complete(UInt64(id)) }
        #expect(table.count == 10)
        let next = table.nextDeadline()
        #expect(next == at(100))
        let firstHalf = table.expire(now: at(550))
        #expect(firstHalf.map(\.id) == [100, 200, 300, 400, 500])
        let secondHalf = table.expire(now: at(5000))
        #expect(secondHalf.map(\.id) == [600, 700, 800, 900, 1000])
    }

    @Test func reinsertedID_expiresAtItsNewDeadline() {
        var table = PendingRequests<Void>()
        _ = table.insert(id: 9, address: "a", deadline: at(100), context: ())
        _ = table.complete(9)
        _ = table.insert(id: 9, address: "a", deadline: at(500), context: ())
        let early = table.expire(now: at(200))
        #expect(early.isEmpty)
        let late = table.expire(now: at(500))
        #expect(late.map(\.id) == [9])
    }
}
