import Synchronization
import WeftProto
import WeftRuntime

/// The branch of a `cond` or the body of a `whileLoop` being built: TensorFlow 1.x's
/// `CondContext` and `WhileContext`.
///
/// While a context is the innermost, every op built joins it, and `Graph.addOperation` asks it
/// to rewrite the op's inputs: a tensor from outside enters through a `Switch` on the branch's
/// predicate (so it is dead when the other branch is taken) or an `Enter` into the loop's frame
/// (so every iteration sees it), built once per tensor. An op with no input from inside waits
/// for the context's pivot, so a constant in an untaken branch is dead too.
final class ControlFlowContext: Sendable {
    enum Kind: Sendable {
        /// A cond's branch: values pass when `predicate` is `branch == 1`.
        case cond(predicate: Output, branch: Int)
        /// A while loop's condition and body, in frame `frame`.
        case loop(frame: String, parallelIterations: Int)
    }

    let kind: Kind
    let outer: ControlFlowContext?
    private struct State {
        /// The op every op without an input from inside waits for.
        var pivot: Operation?
        /// The ops built in this context.
        var members: Set<String> = []
        /// Tensors from outside and the values that stand for them inside.
        var captured: [TensorName: Output] = [:]
        /// Values inside that stand for tensors from outside.
        var captures: Set<TensorName> = []
    }
    private let state: Mutex<State>

    init(_ kind: Kind, outer: ControlFlowContext?, pivot: Operation? = nil) {
        self.kind = kind
        self.outer = outer
        self.state = Mutex(State(pivot: pivot))
    }

    /// Sets the op that ops without an input from inside wait for.
    func setPivot(_ pivot: Operation) { state.withLock { $0.pivot = pivot } }

    /// Marks `operation` as built in this context.
    func add(_ operation: Operation) { add(operation.name) }

    /// Marks the op named `name` as part of this context and of those around it: a tensor of a
    /// cond nested in a loop is in the loop's frame, and ops of the loop read it as it is.
    func add(_ name: String) {
        _ = state.withLock { $0.members.insert(name) }
        outer?.add(name)
    }

    /// Whether ops of this context may read `tensor` as it is.
    func holds(_ tensor: Output) -> Bool {
        state.withLock { $0.members.contains(tensor.operation.name) || $0.captures.contains(tensor.tensorName) }
    }

    /// The value standing for `tensor` inside this context: itself when it is inside already,
    /// else its `Switch` or `Enter`, built the first time it is asked for.
    func value(of tensor: Output) -> Output {
        if holds(tensor) { return tensor }
        if let known = state.withLock({ $0.captured[tensor.tensorName] }) { return known }
        // The tensor first reaches the context around this one, then crosses into it.
        let outside = outer?.value(of: tensor) ?? tensor
        let inside = BuildScope.$current.withValue(scopeOutside(tensor.graph)) { capture(outside) }
        state.withLock { state in
            state.captured[tensor.tensorName] = inside
            state.captures.insert(inside.tensorName)
        }
        return inside
    }

    /// The control inputs an op built here takes besides `controls`: the pivot when nothing
    /// it reads comes from inside.
    func extraControls(inputs: [Output], controls: [String]) -> [String] {
        let pivot = state.withLock { $0.pivot?.name }
        guard let pivot, inputs.isEmpty, !controls.contains(pivot) else { return [] }
        let insideControl = state.withLock { state in controls.contains { state.members.contains($0) } }
        return insideControl ? [] : [pivot]
    }

    /// An error for control inputs from outside a loop: the executor keeps frames apart, so
    /// such an edge could never be satisfied inside the loop's frame.
    func checkControls(_ controls: [String], node: String) -> WeftError? {
        guard case .loop = kind else { return nil }
        let outside = state.withLock { state in controls.filter { !state.members.contains($0) } }
        guard let first = outside.first else { return nil }
        return WeftError(
            .invalidArgument,
            "while building node '\(node)': it waits for '\(first)', which is outside the while loop it is in; "
                + "make the loop's inputs depend on '\(first)' instead (TensorFlow drops such edges)"
        )
    }

    /// The scope in which a crossing is built: the enclosing context's, with no control inputs.
    private func scopeOutside(_ graph: Graph) -> BuildScope {
        var scope = BuildScope.of(graph)
        scope.controlInputs = []
        scope.controlFlow = outer
        return scope
    }

    /// Builds the crossing of `tensor` (already valid in the enclosing context) into this one.
    private func capture(_ tensor: Output) -> Output {
        let graph = tensor.graph
        let isRef = graph.outputTypes(of: tensor.operation.name)[safe: tensor.index]?.isRef ?? false
        switch kind {
        case .cond(let predicate, let branch):
            let op = graph.addOperation(
                isRef ? "RefSwitch" : "Switch",
                default: "Switch",
                inputs: [tensor, predicate],
                attributes: ["T": .type(tensor.dtype)]
            )
            return op.output(branch)
        case .loop(let frame, let parallelIterations):
            let op = graph.addOperation(
                isRef ? "RefEnter" : "Enter",
                default: "Enter",
                inputs: [tensor],
                attributes: [
                    "T": .type(tensor.dtype), "frame_name": .string(frame), "is_constant": .bool(true),
                    "parallel_iterations": .int(parallelIterations),
                ]
            )
            // The Enter belongs to the loop's frame, though it is built from outside.
            add(op)
            return op.output()
        }
    }
}
