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

    /// The rendezvous key of one instance of an edge: inside a loop, each iteration's tensor is
    /// a different one, named by the iterations of every loop around it.
    static func key(_ edge: String, _ iteration: String) -> String {
        iteration.isEmpty ? edge : edge + ";" + iteration
    }

    static func noRendezvous(_ node: String) -> WeftError {
        WeftError(
            .failedPrecondition,
            "node '\(node)' moves a tensor between processes, but this step has no rendezvous"
        )
    }
}

/// Attributes the partitioner puts on `_Recv` nodes.
public enum RecvAttributes {
    /// Set on a `_Recv` whose tensor may be dead (a `Switch` reaches its producer): its
    /// partition runs on the control-flow executor even without loops.
    public static let mayBeDead = "_weft_may_be_dead"
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
        try send(try context.input(0), context, iteration: "")
        return []
    }

    /// Sends `tensor` (`nil`: a dead one) for the edge's instance in loop iteration `iteration`
    /// (`StepExecution.iterationKey`; empty outside loops).
    func send(_ tensor: Tensor?, _ context: OpKernelContext, iteration: String) throws(WeftError) {
        guard let rendezvous = context.step.rendezvous else { throw SendRecvOps.noRendezvous(context.node) }
        try rendezvous.send([RendezvousSend(key: SendRecvOps.key(key, iteration), tensor: tensor)], step: context.step.id)
    }
}

/// Waits for the tensor of one edge from another process.
struct RecvKernel: AsyncOpKernel, RendezvousKernel {
    let key: String

    /// Outside control flow, where no dead tensor can come (`StepPlan.isSimple`).
    func computeAsync(_ context: OpKernelContext, done: @escaping @Sendable (Result<[Value], WeftError>) -> Void) {
        receive(context, iteration: "") { result in
            done(
                result.flatMap { tensor in
                    guard let tensor else {
                        return .failure(
                            WeftError(.internal, "'\(context.node)' received a dead tensor in a partition without control flow")
                        )
                    }
                    return .success([.tensor(tensor)])
                }
            )
        }
    }

    /// Waits for the edge's tensor in loop iteration `iteration` (empty outside loops); `done`
    /// gets `nil` when the sender's input was dead.
    func receive(
        _ context: OpKernelContext,
        iteration: String,
        done: @escaping @Sendable (Result<Tensor?, WeftError>) -> Void
    ) {
        guard let rendezvous = context.step.rendezvous else {
            return done(.failure(SendRecvOps.noRendezvous(context.node)))
        }
        rendezvous.receive(key: SendRecvOps.key(key, iteration), step: context.step.id, done: done)
    }
}
