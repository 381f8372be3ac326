/// TensorFlow's data-flow ops that synchronous replicas use (`SyncReplicasOptimizer`):
/// conditional accumulators (`ResourceConditionalAccumulator` and the `ResourceAccumulator*`
/// ops, which `tf.compat.v1.ConditionalAccumulator` builds, and TensorFlow 1's ref forms,
/// `ConditionalAccumulator` and `Accumulator*`, whose handle is a string pair) and FIFO queues (`FIFOQueueV2`,
/// `QueueEnqueueV2`, `QueueEnqueueManyV2`, `QueueDequeueV2`, `QueueSizeV2`, `QueueCloseV2`).
/// They live in the session's resource container, so sessions sharing a container (between-
/// graph replication) share them. The take and the dequeue wait without a thread, and end at
/// the step's deadline or cancellation.
enum DataFlowOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] =
        HandleForm.allCases.flatMap { form in
            [
                accumulator(form), applyGradient(form), numAccumulated(form), setGlobalStep(form),
                takeGradient(form),
            ]
        } + [
            fifoQueue, enqueue("QueueEnqueueV2", many: false), enqueue("QueueEnqueueManyV2", many: true),
            dequeue, queueSize, queueClose,
        ]

    // MARK: Accumulators

    /// How an accumulator is reached: a resource handle, or TensorFlow 1's `Ref(string)` pair
    /// (container, shared name).
    enum HandleForm: CaseIterable, Sendable {
        case resource
        case ref

        /// TensorFlow's name of the op `base` (`AccumulatorApplyGradient`) in this form.
        func name(_ base: String) -> String { self == .resource ? "Resource" + base : base }
        /// The ref form's consumers take the handle by reference, as TensorFlow declares them.
        var refInputs: Set<Int> { self == .ref ? [0] : [] }
    }

    private static func accumulator(_ form: HandleForm) -> OpDefinition {
        OpDefinition(
            form.name("ConditionalAccumulator"),
            inputCount: 0,
            isStateful: true,
            isExpensive: false,
            outputTypes: { _, _ in [form == .resource ? OutputType(.resource) : OutputType(.string, isRef: true)] },
            makeKernel: { node throws(WeftError) in
                let dtype = try node.attributes.type("dtype")
                let shape = try node.attributes.shape("shape")
                let reductionName = try node.attributes.string("reduction_type", default: "MEAN")
                guard let reduction = ConditionalAccumulatorResource.Reduction(rawValue: reductionName) else {
                    throw .invalidArgument(
                        "reduction_type must be MEAN or SUM, got '\(reductionName)'",
                        node: node.name
                    )
                }
                let handle = try sharedHandle(node, dtype: dtype, shape: shape)
                let tensor =
                    form == .resource
                    ? try Tensor(handles: [handle], shape: .scalar)
                    : try Tensor(strings: [handle.container, handle.name], shape: TensorShape([2]))
                return ClosureKernel { context throws(WeftError) in
                    let made = try context.step.resources.resource(handle.key) { () throws(WeftError) in
                        try ConditionalAccumulatorResource(
                            name: handle.name,
                            dtype: dtype,
                            shape: shape,
                            reduction: reduction
                        )
                    }
                    guard made.dtype == dtype, made.reduction == reduction else {
                        throw .invalidArgument(
                            "Shared accumulator '\(handle.name)' holds \(made.dtype) with \(made.reduction.rawValue), not \(dtype) with \(reductionName)",
                            node: context.node
                        )
                    }
                    return [.tensor(tensor)]
                }
            }
        )
    }

    private static func applyGradient(_ form: HandleForm) -> OpDefinition {
        OpDefinition(
            form.name("AccumulatorApplyGradient"),
            inputCount: 3,
            refInputs: form.refInputs,
            isStateful: true,
            outputTypes: OpDefinition.noOutputs,
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let accumulator = try accumulator(context, form)
                    let localStep = try int64Scalar(try context.input(1), what: "local_step", node: context.node)
                    try accumulator.apply(try context.input(2), localStep: localStep, node: context.node)
                    return []
                }
            }
        )
    }

    private static func numAccumulated(_ form: HandleForm) -> OpDefinition {
        OpDefinition(
            form.name("AccumulatorNumAccumulated"),
            inputCount: 1,
            refInputs: form.refInputs,
            isStateful: true,
            isExpensive: false,
            outputTypes: { _, _ in [OutputType(.int32)] },
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    [.tensor(Tensor(Int32(clamping: try accumulator(context, form).count)))]
                }
            }
        )
    }

    private static func setGlobalStep(_ form: HandleForm) -> OpDefinition {
        OpDefinition(
            form.name("AccumulatorSetGlobalStep"),
            inputCount: 2,
            refInputs: form.refInputs,
            isStateful: true,
            isExpensive: false,
            outputTypes: OpDefinition.noOutputs,
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let step = try int64Scalar(try context.input(1), what: "new_global_step", node: context.node)
                    try accumulator(context, form).setGlobalStep(step)
                    return []
                }
            }
        )
    }

    private static func takeGradient(_ form: HandleForm) -> OpDefinition {
        OpDefinition(
            form.name("AccumulatorTakeGradient"),
            inputCount: 2,
            refInputs: form.refInputs,
            isStateful: true,
            isExpensive: false,
            outputTypes: OpDefinition.outputOfAttribute("dtype"),
            makeKernel: { node throws(WeftError) in
                TakeGradientKernel(dtype: try node.attributes.type("dtype"), form: form)
            }
        )
    }

    /// Waits until the accumulator holds `num_required` gradients, then outputs their reduction.
    private struct TakeGradientKernel: AsyncOpKernel {
        let dtype: DType
        let form: HandleForm

        func computeAsync(_ context: OpKernelContext, done: @escaping @Sendable (Result<[Value], WeftError>) -> Void) {
            do throws(WeftError) {
                try context.step.cancellation.check()
                let accumulator = try accumulator(context, form)
                guard accumulator.dtype == dtype else {
                    throw .invalidArgument(
                        "Accumulator holds \(accumulator.dtype), the op takes \(dtype)",
                        node: context.node
                    )
                }
                let required = try ElementRows.int32Scalar(
                    try context.input(1),
                    what: "num_required",
                    node: context.node
                )
                var parked = 0
                let wait = BlockingWait(context)
                let ready = try accumulator.take(
                    required,
                    node: context.node,
                    parked: { parked = $0 },
                    done: wait.finishing { result in done(result.map { [.tensor($0)] }) }
                )
                if let ready { return done(.success([.tensor(ready)])) }
                let id = parked
                wait.watch(context, what: "TakeGrad of accumulator '\(accumulator.name)'") {
                    [weak accumulator] error in accumulator?.cancelTake(id, error)
                }
            } catch {
                done(.failure(error))
            }
        }
    }

    /// The accumulator behind the handle in input 0; `notFound` when none was created.
    private static func accumulator(
        _ context: OpKernelContext,
        _ form: HandleForm
    ) throws(WeftError)
        -> ConditionalAccumulatorResource
    {
        let handle: ResourceHandle
        switch form {
        case .resource:
            handle = try ResourceVariables.handle(context, 0)
        case .ref:
            let pair = try context.input(0)
            guard pair.dtype == .string, pair.shape == TensorShape([2]) else {
                throw .invalidArgument(
                    "input 0 must be an accumulator's handle, a string pair; got a \(pair.dtype) tensor of shape \(pair.shape)",
                    node: context.node
                )
            }
            let strings = pair.strings.map { String(decoding: $0, as: UTF8.self) }
            handle = ResourceHandle(container: strings[0], name: strings[1])
        }
        guard let accumulator = context.step.resources.resource(handle.key, as: ConditionalAccumulatorResource.self)
        else {
            throw WeftError(.notFound, "Resource \(handle.path) does not exist. (node '\(context.node)')")
        }
        return accumulator
    }

    // MARK: Queues

    private static let fifoQueue = OpDefinition(
        "FIFOQueueV2",
        inputCount: 0,
        isStateful: true,
        isExpensive: false,
        outputTypes: { _, _ in [OutputType(.resource)] },
        makeKernel: { node throws(WeftError) in
            let types = try FunctionalOps.types(node, "component_types")
            guard !types.isEmpty else { throw .invalidArgument("component_types must not be empty", node: node.name) }
            let shapes = try queueShapes(node)
            guard shapes.isEmpty || shapes.count == types.count else {
                throw .invalidArgument(
                    "shapes must have one entry per component type: \(shapes.count) vs \(types.count)",
                    node: node.name
                )
            }
            let capacity = try node.attributes.int("capacity", default: -1)
            let handle = try sharedHandle(node, dtype: nil, shape: nil)
            let tensor = try Tensor(handles: [handle], shape: .scalar)
            return ClosureKernel { context throws(WeftError) in
                let queue = try context.step.resources.resource(handle.key) { () throws(WeftError) in
                    FIFOQueueResource(
                        name: handle.name,
                        componentTypes: types,
                        shapes: shapes,
                        capacity: capacity < 0 ? nil : capacity
                    )
                }
                guard queue.componentTypes == types else {
                    throw .invalidArgument(
                        "Shared queue '\(handle.name)' has component types \(queue.componentTypes) but requested component types \(types)",
                        node: context.node
                    )
                }
                return [.tensor(tensor)]
            }
        }
    )

    private static func enqueue(_ name: String, many: Bool) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: nil,
            isStateful: true,
            isExpensive: false,
            outputTypes: OpDefinition.noOutputs,
            makeKernel: { _ in EnqueueKernel(many: many) }
        )
    }

    /// Adds one element (`QueueEnqueueV2`) or a batch cut along the first dimension
    /// (`QueueEnqueueManyV2`); waits while a bounded queue is full.
    private struct EnqueueKernel: AsyncOpKernel {
        let many: Bool

        func computeAsync(_ context: OpKernelContext, done: @escaping @Sendable (Result<[Value], WeftError>) -> Void) {
            do throws(WeftError) {
                try context.step.cancellation.check()
                let queue = try queue(context)
                let elements = try elements(context, queue: queue)
                var parked = 0
                let wait = BlockingWait(context)
                let placed = try queue.enqueue(
                    elements,
                    parked: { parked = $0 },
                    done: wait.finishing { result in done(result.map { [] }) }
                )
                if placed { return done(.success([])) }
                let id = parked
                wait.watch(context, what: "Enqueue to FIFOQueue '\(queue.name)'") {
                    [weak queue] error in queue?.cancelWait(id, error)
                }
            } catch {
                done(.failure(error))
            }
        }

        /// The elements the inputs make, checked against the queue's types and shapes.
        private func elements(_ context: OpKernelContext, queue: FIFOQueueResource) throws(WeftError) -> [[Tensor]] {
            var components: [Tensor] = []
            for index in 1..<context.inputs.count { components.append(try context.input(index)) }
            guard components.map(\.dtype) == queue.componentTypes else {
                throw .invalidArgument(
                    "Queue '\(queue.name)' takes components of types \(queue.componentTypes), got \(components.map(\.dtype))",
                    node: context.node
                )
            }
            guard many else {
                try check(components, queue: queue, node: context.node)
                return [components]
            }
            guard let batch = components.first?.shape.dimensions.first,
                components.allSatisfy({ $0.shape.rank > 0 && $0.shape.dimensions[0] == batch })
            else {
                throw .invalidArgument(
                    "EnqueueMany requires every component to have the same first dimension, got \(components.map(\.shape))",
                    node: context.node
                )
            }
            var elements: [[Tensor]] = []
            elements.reserveCapacity(batch)
            for row in 0..<batch {
                let element = components.map { ElementRows.slice($0, start: row, count: 1, dropFirst: true) }
                try check(element, queue: queue, node: context.node)
                elements.append(element)
            }
            return elements
        }

        private func check(_ element: [Tensor], queue: FIFOQueueResource, node: String) throws(WeftError) {
            for (index, (tensor, shape)) in zip(element, queue.shapes).enumerated()
            where !shape.isCompatible(with: PartialShape(tensor.shape)) {
                throw .invalidArgument(
                    "Shape mismatch in tuple component \(index). Expected \(shape), got \(tensor.shape)",
                    node: node
                )
            }
        }
    }

    private static let dequeue = OpDefinition(
        "QueueDequeueV2",
        inputCount: 1,
        isStateful: true,
        isExpensive: false,
        outputTypes: { node, _ throws(WeftError) in
            try FunctionalOps.types(node, "component_types").map { OutputType($0) }
        },
        makeKernel: { node throws(WeftError) in DequeueKernel(types: try FunctionalOps.types(node, "component_types")) }
    )

    /// Takes the oldest element; waits while the queue is empty and open.
    private struct DequeueKernel: AsyncOpKernel {
        let types: [DType]

        func computeAsync(_ context: OpKernelContext, done: @escaping @Sendable (Result<[Value], WeftError>) -> Void) {
            do throws(WeftError) {
                try context.step.cancellation.check()
                let queue = try queue(context)
                guard queue.componentTypes == types else {
                    throw .invalidArgument(
                        "Queue '\(queue.name)' holds components of types \(queue.componentTypes), the op takes \(types)",
                        node: context.node
                    )
                }
                var parked = 0
                let wait = BlockingWait(context)
                let ready = try queue.dequeue(
                    parked: { parked = $0 },
                    done: wait.finishing { result in done(result.map { $0.map { .tensor($0) } }) }
                )
                if let ready { return done(.success(ready.map { .tensor($0) })) }
                let id = parked
                wait.watch(context, what: "Dequeue from FIFOQueue '\(queue.name)'") {
                    [weak queue] error in queue?.cancelWait(id, error)
                }
            } catch {
                done(.failure(error))
            }
        }
    }

    private static let queueSize = OpDefinition(
        "QueueSizeV2",
        inputCount: 1,
        isStateful: true,
        isExpensive: false,
        outputTypes: { _, _ in [OutputType(.int32)] },
        makeKernel: { _ in
            ClosureKernel { context throws(WeftError) in [.tensor(Tensor(Int32(clamping: try queue(context).size)))] }
        }
    )

    private static let queueClose = OpDefinition(
        "QueueCloseV2",
        inputCount: 1,
        isStateful: true,
        isExpensive: false,
        outputTypes: OpDefinition.noOutputs,
        makeKernel: { node throws(WeftError) in
            let cancelPending = try node.attributes.bool("cancel_pending_enqueues", default: false)
            return ClosureKernel { context throws(WeftError) in
                try queue(context).close(cancelPendingEnqueues: cancelPending)
                return []
            }
        }
    )

    /// The queue behind the handle in input 0; `notFound` when none was created.
    private static func queue(_ context: OpKernelContext) throws(WeftError) -> FIFOQueueResource {
        let handle = try ResourceVariables.handle(context, 0)
        guard let queue = context.step.resources.resource(handle.key, as: FIFOQueueResource.self) else {
            throw WeftError(.notFound, "Resource \(handle.path) does not exist. (node '\(context.node)')")
        }
        return queue
    }

    // MARK: Support

    /// The handle of a shared resource: TensorFlow's `container` and `shared_name` attributes,
    /// the node's name when no shared name is given.
    private static func sharedHandle(
        _ node: NodeInfo,
        dtype: DType?,
        shape: PartialShape?
    ) throws(WeftError)
        -> ResourceHandle
    {
        let sharedName = try node.attributes.string("shared_name", default: "")
        return ResourceHandle(
            container: try node.attributes.string("container", default: ""),
            name: sharedName.isEmpty ? node.name : sharedName,
            device: node.device,
            dtype: dtype,
            shape: shape
        )
    }

    /// The `shapes` attribute of a queue: a list of shapes, empty for any.
    private static func queueShapes(_ node: NodeInfo) throws(WeftError) -> [PartialShape] {
        guard case .list(let list)? = node.attributes.values["shapes"]?.value else { return [] }
        return list.shape.map { proto in
            proto.unknownRank ? .unknown : PartialShape(proto.dim.map { $0.size < 0 ? nil : Int($0.size) })
        }
    }

    private static func int64Scalar(_ tensor: Tensor, what: String, node: String) throws(WeftError) -> Int64 {
        guard tensor.dtype == .int64, tensor.shape.rank == 0, let value = tensor.scalar(as: Int64.self) else {
            throw .invalidArgument(
                "\(what) must be a scalar int64 tensor, got a \(tensor.dtype) tensor of shape \(tensor.shape)",
                node: node
            )
        }
        return value
    }
}
