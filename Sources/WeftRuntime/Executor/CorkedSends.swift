/// The `_Send`s one executor thread ran and has not yet handed to the rendezvous
/// (`SimpleStepExecution.cork`), as TCP's `TCP_CORK`: they go together when the thread runs out
/// of nodes, before it starts a kernel that may keep it long (an expensive one not seen to run
/// quickly, or an asynchronous one, whose completion may run a chain of nodes on this thread),
/// or once a few more nodes have run, so a tensor waits
/// only while its thread runs inexpensive nodes for a few microseconds.
struct CorkedSends {
    /// Nodes that may run after the first corked send before the sends go.
    static let mostNodesBehind = 32

    private var sends: [RendezvousSend] = []
    private var nodes: [Int] = []
    private var nodesBehind = 0

    var isEmpty: Bool { sends.isEmpty }

    /// Corks the send of node `node`.
    mutating func add(_ send: RendezvousSend, node: Int) {
        sends.append(send)
        nodes.append(node)
    }

    /// Whether the sends must go before the next node runs; counts the node otherwise.
    mutating func mustFlush(beforeNodeThatMayTakeLong mayTakeLong: Bool) -> Bool {
        guard !sends.isEmpty else { return false }
        nodesBehind += 1
        return mayTakeLong || nodesBehind > Self.mostNodesBehind
    }

    /// The corked sends and their nodes, leaving none.
    mutating func take() -> (sends: [RendezvousSend], nodes: [Int]) {
        defer {
            sends = []
            nodes = []
            nodesBehind = 0
        }
        return (sends, nodes)
    }
}
