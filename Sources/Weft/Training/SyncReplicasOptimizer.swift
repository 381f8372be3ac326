import Synchronization
import WeftRuntime

/// TensorFlow 1.x's `tf.compat.v1.train.SyncReplicasOptimizer`: synchronous data-parallel
/// training by between-graph replication. Every replica (a client with its own session, its
/// graph built the same way, sharing a variable container) computes gradients and applies
/// them to a `ConditionalAccumulator` per variable, on the variable's device, tagged with its
/// local step; a gradient of an older step than the accumulator's is dropped as stale. The
/// chief runs `syncOp` in a loop: it takes the average of `replicasToAggregate` gradients per
/// variable, applies it with the wrapped optimizer, increments the global step and puts one
/// token per replica (the new global step) in a token queue. Each replica's `train` op ends
/// by dequeuing a token, its next local step, so it waits for the chief's update.
///
/// Setup, as in TensorFlow: the chief runs the global initializer, then `chiefInitOp` and
/// `initTokensOp()` once; every replica runs `localStepInitOp` before training. Each
/// replica's local step variable (`sync_rep_local_step`) must live on a device of its own,
/// as `replica_device_setter` places it (the device scope `applyGradients` is built in).
public final class SyncReplicasOptimizer: Sendable {
    /// The optimizer that applies the averaged gradients.
    public let optimizer: Optimizer
    /// How many gradients per variable make one update.
    public let replicasToAggregate: Int
    /// How many replicas train; tokens per step are the larger of this and `replicasToAggregate`.
    public let totalNumReplicas: Int
    /// The name scope of the ops.
    public let name: String

    /// The ops `applyGradients` built.
    private struct Built: Sendable {
        var localStep: Variable
        var localStepInit: Operation
        var chiefInit: Operation
        var sync: Operation
        var tokenQueue: FIFOQueue
        var globalStep: Variable
    }
    private let built = Mutex<Built?>(nil)

    /// Wraps `optimizer`; `totalNumReplicas` defaults to `replicasToAggregate`.
    public init(
        _ optimizer: Optimizer,
        replicasToAggregate: Int,
        totalNumReplicas: Int? = nil,
        name: String = "sync_replicas"
    ) {
        self.optimizer = optimizer
        self.replicasToAggregate = replicasToAggregate
        self.totalNumReplicas = totalNumReplicas ?? replicasToAggregate
        self.name = name
    }

    /// Builds this replica's training op: apply the gradients to the accumulators, then wait
    /// for the chief's token and take it as the next local step. Also builds the chief's
    /// `syncOp`, `chiefInitOp` and `localStepInitOp`.
    @discardableResult
    public func applyGradients(_ gradients: [(Output, Variable)], globalStep: Variable) -> Operation {
        let graph = globalStep.operation.graph
        return graph.asDefault {
            guard replicasToAggregate > 0, totalNumReplicas > 0 else {
                graph.recordError(WeftError(.invalidArgument, "\(name): replicas counts must be positive"))
                return noOp(name: name)
            }
            // On the replica's own device (the scope this is built in), as TensorFlow's local anchor.
            let localStep = Variable(
                initialValue: constant(Int64(0)),
                shape: [],
                name: "sync_rep_local_step"
            )
            let localStepInit = localStep.assign(globalStep.value).operation
            var applies: [Operation] = []
            var accumulators: [ConditionalAccumulator] = []
            var aggregated: [(Output, Variable)] = []
            graph.nameScope(name) {
                for (gradient, variable) in gradients {
                    graph.colocate(with: variable.operation) {
                        let accumulator = ConditionalAccumulator(
                            dtype: gradient.dtype,
                            sharedName: variable.name + "/grad_accum",
                            name: "conditional_accumulator"
                        )
                        applies.append(accumulator.applyGradient(gradient, localStep: localStep.value))
                        aggregated.append((accumulator.takeGradient(replicasToAggregate), variable))
                        accumulators.append(accumulator)
                    }
                }
            }
            let update = optimizer.applyGradients(aggregated, globalStep: globalStep)
            let tokenQueue = graph.colocate(with: globalStep.operation) {
                FIFOQueue(
                    componentTypes: [globalStep.dtype],
                    shapes: [PartialShape([])],
                    sharedName: "sync_token_q",
                    name: "sync_token_q"
                )
            }
            let token = graph.controlDependencies(on: applies) { tokenQueue.dequeue()[0] }
            let train = localStep.assign(token).operation
            let tokensPerStep = max(totalNumReplicas, replicasToAggregate)
            let sync = graph.colocate(with: globalStep.operation) {
                tokenQueue.enqueueMany([fill([tokensPerStep], with: Self.read(globalStep, after: update))])
            }
            let setSteps = accumulators.map { accumulator in
                graph.colocate(with: accumulator.handle.operation) {
                    accumulator.setGlobalStep(globalStep.value, name: "SetGlobalStep")
                }
            }
            let chiefInit = graph.controlDependencies(on: [localStepInit] + setSteps) {
                noOp(name: name + "_chief_init")
            }
            built.withLock {
                $0 = Built(
                    localStep: localStep,
                    localStepInit: localStepInit,
                    chiefInit: chiefInit,
                    sync: sync,
                    tokenQueue: tokenQueue,
                    globalStep: globalStep
                )
            }
            return train
        }
    }

    /// The variable's value read once `update` ran: a ref variable's `read` snapshot may run
    /// before it, since Weft's reads copy out where TensorFlow's alias the buffer.
    private static func read(_ variable: Variable, after update: Operation) -> Output {
        if variable.isResource { return variable.readValue(after: update) }
        return variable.operation.graph.controlDependencies(on: [update]) { identity(variable.output) }
    }

    /// This replica's local step, once `applyGradients` ran.
    public var localStep: Variable? { built.withLock { $0?.localStep } }

    /// Sets this replica's local step to the global step; every replica runs it before training.
    public var localStepInitOp: Operation? { built.withLock { $0?.localStepInit } }

    /// The chief's setup: its local step, and every accumulator's global step, from the global step.
    public var chiefInitOp: Operation? { built.withLock { $0?.chiefInit } }

    /// The chief's update (TensorFlow's chief queue runner's op): waits for the aggregated
    /// gradients, applies them, increments the global step and releases the replicas.
    public var syncOp: Operation? { built.withLock { $0?.sync } }

    /// Puts `count` tokens (the global step) in the token queue so the replicas take their
    /// first step; -1 for `replicasToAggregate`. The chief runs it once after `chiefInitOp`.
    public func initTokensOp(count: Int = -1) -> Operation? {
        guard let built = built.withLock({ $0 }) else { return nil }
        let graph = built.globalStep.operation.graph
        let tokens = count == -1 ? replicasToAggregate : count
        return graph.asDefault {
            graph.colocate(with: built.globalStep.operation) {
                guard tokens > 0 else { return noOp(name: "no_init_tokens") }
                return built.tokenQueue.enqueueMany([fill([tokens], with: built.globalStep.value)])
            }
        }
    }
}
