/// `_Send` and `_Recv`: the pair the partitioner puts on every edge that crosses processes.
/// Both go through the step's rendezvous; `_Recv` is asynchronous, so a partition waiting for
/// a tensor holds no thread.
enum SendRecvOps {
    static let definitions: [OpDefinition] = [
        OpDefinition(
            "_Send",
            inputCount: 1,
            isStateful: true,
            isExpensive: false,
            outputTypes: OpDefinition.noOutputs,
            makeKernel: { node throws(WeftError) in SendKernel(key: try rendezvousKey(node)) }
        ),
        OpDefinition(
            "_Recv",
            inputCount: 0,
            isStateful: true,
            isExpensive: false,
            outputTypes: OpDefinition.outputOfAttribute("tensor_type"),
            makeKernel: { node throws(WeftError) in RecvKernel(key: try rendezvousKey(node)) }
        ),
    ]

    /// `send_device;recv_device;tensor_name`: unique per edge within a step.
    static func rendezvousKey(_ node: NodeInfo) throws(WeftError) -> String {
        let attributes = node.attributes
        return [
            try attributes.string("send_device"), try attributes.string("recv_device"),
            try attributes.string("tensor_name"),
        ].joined(separator: ";")
    }

    static func noRendezvous(_ node: String) -> WeftError {
        WeftError(
            .failedPrecondition,
            "node '\(node)' moves a tensor between processes, but this step has no rendezvous"
        )
    }
}

/// A kernel at one end of a cross-process edge, which statistics name by its rendezvous key so
/// a timeline can join the two ends.
protocol RendezvousKernel {
    /// `send_device;recv_device;tensor_name`.
    var key: String { get }
}

/// Hands the tensor of one edge to the step's rendezvous, which pushes it to the other process.
struct SendKernel: OpKernel, RendezvousKernel {
    let key: String

    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        guard let rendezvous = context.step.rendezvous else { throw SendRecvOps.noRendezvous(context.node) }
        try rendezvous.send(key: key, step: context.step.id, tensor: try context.input(0))
        return []
    }
}

/// Waits for the tensor of one edge from another process.
struct RecvKernel: AsyncOpKernel, RendezvousKernel {
    let key: String

    func computeAsync(_ context: OpKernelContext, done: @escaping @Sendable (Result<[Value], WeftError>) -> Void) {
        guard let rendezvous = context.step.rendezvous else {
            return done(.failure(SendRecvOps.noRendezvous(context.node)))
        }
        rendezvous.receive(key: key, step: context.step.id) { result in
            done(result.map { [.tensor($0)] })
        }
    }
}
