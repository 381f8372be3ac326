import WeftProto
import WeftRuntime

/// TensorFlow's `tf.compat.v1.ConditionalAccumulator`: a `ResourceConditionalAccumulator` that
/// sums the gradients applied for the current global step and hands out their average once
/// enough arrived (see `SyncReplicasOptimizer`). Every session that shares the resource
/// container (`sharedName` on a shared variable container) shares the accumulator.
public struct ConditionalAccumulator: Sendable, Hashable {
    /// The accumulator's handle.
    public let handle: Output
    /// The gradients' dtype.
    public let dtype: DType

    /// Wraps the handle of an accumulator built before (by `SyncReplicasOptimizer`, or read
    /// from a GraphDef).
    public init(handle: Output, dtype: DType) {
        self.handle = handle
        self.dtype = dtype
    }

    /// Builds the accumulator, in the current default graph.
    public init(
        dtype: DType,
        shape: PartialShape = .unknown,
        sharedName: String = "",
        reductionType: String = "MEAN",
        name: String = "conditional_accumulator"
    ) {
        let graph = Graph.current
        self.dtype = dtype
        handle = graph.addOperation(
            "ResourceConditionalAccumulator",
            name: name,
            attributes: [
                "dtype": .type(dtype), "shape": .shape(shape), "container": .string(""),
                "shared_name": .string(sharedName), "reduction_type": .string(reductionType),
            ]
        ).output()
    }

    /// Adds `gradient`, computed at `localStep` (int64); a step older than the accumulator's
    /// global step is dropped.
    public func applyGradient(_ gradient: Output, localStep: Output, name: String? = nil) -> Operation {
        handle.graph.addOperation(
            "ResourceAccumulatorApplyGradient",
            name: name,
            default: "AccumulatorApplyGradient",
            inputs: [handle, localStep, gradient],
            attributes: ["dtype": .type(dtype)]
        )
    }

    /// The average of `numRequired` gradients, once they arrived; advances the global step.
    public func takeGradient(_ numRequired: Int, name: String? = nil) -> Output {
        let graph = handle.graph
        return graph.asDefault {
            graph.addOperation(
                "ResourceAccumulatorTakeGradient",
                name: name,
                default: "AccumulatorTakeGradient",
                inputs: [handle, constant(Int32(clamping: numRequired), name: "num_required")],
                attributes: ["dtype": .type(dtype)]
            ).output()
        }
    }

    /// The number of gradients accumulated for the current global step (int32).
    public func numAccumulated(name: String? = nil) -> Output {
        handle.graph.addOperation(
            "ResourceAccumulatorNumAccumulated",
            name: name,
            default: "AccumulatorNumAccumulated",
            inputs: [handle]
        ).output()
    }

    /// Sets the accumulator's global step (int64).
    public func setGlobalStep(_ step: Output, name: String? = nil) -> Operation {
        handle.graph.addOperation(
            "ResourceAccumulatorSetGlobalStep",
            name: name,
            default: "AccumulatorSetGlobalStep",
            inputs: [handle, step]
        )
    }
}

/// TensorFlow's `tf.queue.FIFOQueue` (`FIFOQueueV2`): a queue of tuples of tensors. Dequeuing
/// from an empty queue waits for another step's enqueue, until the step's deadline.
public struct FIFOQueue: Sendable, Hashable {
    /// The queue's handle.
    public let handle: Output
    /// The dtypes of an element's components.
    public let componentTypes: [DType]

    /// Builds the queue, in the current default graph; `capacity` -1 is unbounded.
    public init(
        capacity: Int = -1,
        componentTypes: [DType],
        shapes: [PartialShape] = [],
        sharedName: String = "",
        name: String = "fifo_queue"
    ) {
        self.componentTypes = componentTypes
        handle = Graph.current.addOperation(
            "FIFOQueueV2",
            name: name,
            attributes: [
                "component_types": .with { $0.list.type = componentTypes.map(\.proto) },
                "shapes": .with { $0.list.shape = shapes.map(\.proto) },
                "capacity": .int(capacity), "container": .string(""), "shared_name": .string(sharedName),
            ]
        ).output()
    }

    /// Enqueues one element per row of `components` (one tensor per component type).
    public func enqueueMany(_ components: [Output], name: String? = nil) -> Operation {
        handle.graph.addOperation(
            "QueueEnqueueManyV2",
            name: name,
            default: "EnqueueMany",
            inputs: [handle] + components,
            attributes: [
                "Tcomponents": .with { $0.list.type = components.map(\.dtype.proto) }, "timeout_ms": .int(-1),
            ]
        )
    }

    /// Enqueues one element.
    public func enqueue(_ components: [Output], name: String? = nil) -> Operation {
        handle.graph.addOperation(
            "QueueEnqueueV2",
            name: name,
            default: "Enqueue",
            inputs: [handle] + components,
            attributes: [
                "Tcomponents": .with { $0.list.type = components.map(\.dtype.proto) }, "timeout_ms": .int(-1),
            ]
        )
    }

    /// The oldest element's components; waits while the queue is empty and open.
    public func dequeue(name: String? = nil) -> [Output] {
        let operation = handle.graph.addOperation(
            "QueueDequeueV2",
            name: name,
            default: "Dequeue",
            inputs: [handle],
            attributes: [
                "component_types": .with { $0.list.type = componentTypes.map(\.proto) }, "timeout_ms": .int(-1),
            ]
        )
        return componentTypes.indices.map { operation.output($0) }
    }

    /// The number of elements (int32).
    public func size(name: String? = nil) -> Output {
        handle.graph.addOperation("QueueSizeV2", name: name, default: "Size", inputs: [handle]).output()
    }

    /// Closes the queue: enqueues fail from now on, dequeues once it is empty.
    public func close(cancelPendingEnqueues: Bool = false, name: String? = nil) -> Operation {
        handle.graph.addOperation(
            "QueueCloseV2",
            name: name,
            default: "Close",
            inputs: [handle],
            attributes: ["cancel_pending_enqueues": .bool(cancelPendingEnqueues)]
        )
    }
}
