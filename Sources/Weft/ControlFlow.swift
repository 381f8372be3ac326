import WeftProto
import WeftRuntime

// TensorFlow 1.x's control flow as dataflow: `tf.cond` and `tf.while_loop` build the Switch,
// Merge, Enter, Exit, NextIteration and LoopCond nodes TensorFlow's v1 control flow writes, so a
// graph built here runs in Weft and in TensorFlow alike, and `gradients(of:with:)` sees a cond as
// the ops it is made of.

/// The values of `then` when `predicate` (a bool scalar) holds, else those of `else`:
/// TensorFlow's `tf.cond`. Only the ops of the taken branch run; the other branch's are dead.
/// Both branches must return as many values, of the same types.
public func cond(
    _ predicate: Output,
    then trueBranch: () -> [Output],
    else falseBranch: () -> [Output],
    name: String? = nil
) -> [Output] {
    let graph = predicate.graph
    return graph.asDefault {
        graph.nameScope(name ?? "cond") {
            if predicate.dtype != .bool {
                graph.recordError(
                    WeftError(.invalidArgument, "the predicate of a cond must be a bool scalar, not \(predicate.dtype)")
                )
            }
            let outer = graph.currentControlFlow
            let pivots = graph.addOperation("Switch", inputs: [predicate, predicate], attributes: ["T": .type(.bool)])
            let switchTrue = identity(pivots.output(1), name: "switch_t")
            let switchFalse = identity(pivots.output(0), name: "switch_f")
            let decided = identity(predicate, name: "pred_id")
            let trueValues = branch(graph, .cond(predicate: decided, branch: 1), outer, switchTrue, trueBranch)
            let falseValues = branch(graph, .cond(predicate: decided, branch: 0), outer, switchFalse, falseBranch)
            guard matching(graph, trueValues, falseValues, what: "the branches of a cond") else { return trueValues }
            // Built outside every context, as the branches' values must not cross again, and
            // then part of the context around the cond.
            let merges = graph.withControlFlow(nil) {
                zip(falseValues, trueValues).map { falseValue, trueValue in
                    graph.addOperation(
                        "Merge",
                        inputs: [falseValue, trueValue],
                        attributes: ["T": .type(trueValue.dtype), "N": .int(2)]
                    )
                }
            }
            merges.forEach { outer?.add($0) }
            return merges.map { $0.output(0) }
        }
    }
}

/// The value of `then` when `predicate` (a bool scalar) holds, else that of `else`.
public func cond(
    _ predicate: Output,
    then trueBranch: () -> Output,
    else falseBranch: () -> Output,
    name: String? = nil
) -> Output {
    let values = cond(predicate, then: { [trueBranch()] }, else: { [falseBranch()] }, name: name)
    return values[0]
}

/// Repeats `body` on `loopVariables` while `condition` holds and returns their final values:
/// TensorFlow's `tf.while_loop` (v1). The body returns the next values, as many and of the same
/// types; up to `parallelIterations` iterations run at once. A loop that never ends runs until
/// the step's deadline or until its session closes.
public func whileLoop(
    _ loopVariables: [Output],
    parallelIterations: Int = 10,
    name: String? = nil,
    condition: ([Output]) -> Output,
    body: ([Output]) -> [Output]
) -> [Output] {
    guard let graph = loopVariables.first?.graph else {
        Graph.current.recordError(WeftError(.invalidArgument, "a while loop needs at least one loop variable"))
        return []
    }
    return graph.asDefault {
        graph.nameScope(name ?? "while") {
            let frame = BuildScope.of(graph).namePrefix + "while_context"
            let outer = graph.currentControlFlow
            let context = ControlFlowContext(.loop(frame: frame, parallelIterations: parallelIterations), outer: outer)
            let merges = enter(graph, loopVariables.map { outer?.value(of: $0) ?? $0 }, context)
            let values = merges.map { $0.output(0) }
            let decision = graph.withControlFlow(context) { () -> Output in
                let predicate = condition(values)
                return graph.addOperation("LoopCond", inputs: [predicate]).output()
            }
            let switches = graph.withControlFlow(context) {
                values.map { value in
                    graph.addOperation("Switch", inputs: [value, decision], attributes: ["T": .type(value.dtype)])
                }
            }
            let exits = exit(graph, switches, to: outer)
            let current = graph.withControlFlow(context) { switches.map { identity($0.output(1)) } }
            if let first = current.first { context.setPivot(first.operation) }
            let next = graph.withControlFlow(context) { body(current).map { context.value(of: $0) } }
            guard matching(graph, next, values, what: "the body of a while loop and its loop variables") else {
                return exits
            }
            let iterations = graph.withControlFlow(context) {
                next.map { graph.addOperation("NextIteration", inputs: [$0], attributes: ["T": .type($0.dtype)]) }
            }
            for (merge, iteration) in zip(merges, iterations) {
                graph.replaceInput(of: merge.name, at: 1, with: iteration.output())
            }
            return exits
        }
    }
}

/// Builds one branch of a cond in its own context and returns its values, each valid inside it.
private func branch(
    _ graph: Graph,
    _ kind: ControlFlowContext.Kind,
    _ outer: ControlFlowContext?,
    _ pivot: Output,
    _ build: () -> [Output]
) -> [Output] {
    let context = ControlFlowContext(kind, outer: outer, pivot: pivot.operation)
    return graph.withControlFlow(context) {
        build().map { value in
            let inside = context.value(of: value)
            // A merge takes values, not variables: read a returned variable in the branch.
            let isRef = graph.outputTypes(of: inside.operation.name)[safe: inside.index]?.isRef ?? false
            return isRef ? identity(inside) : inside
        }
    }
}

/// The loop's `Enter` and `Merge` per loop variable; each `Merge` takes its `Enter` twice until
/// the `NextIteration` that replaces the second is built. The first merge is the pivot of the
/// loop's condition.
private func enter(_ graph: Graph, _ values: [Output], _ context: ControlFlowContext) -> [Operation] {
    guard case .loop(let frame, let parallelIterations) = context.kind else { return [] }
    // Built outside every context: the values are valid around the loop, and the enters belong to it.
    let enters = graph.withControlFlow(nil) {
        values.map { value in
            graph.addOperation(
                "Enter",
                inputs: [value],
                attributes: [
                    "T": .type(value.dtype), "frame_name": .string(frame), "is_constant": .bool(false),
                    "parallel_iterations": .int(parallelIterations),
                ]
            )
        }
    }
    enters.forEach(context.add)
    let merges = graph.withControlFlow(context) {
        enters.map { enter in
            graph.addOperation(
                "Merge",
                inputs: [enter.output(), enter.output()],
                attributes: ["T": .type(enter.output().dtype), "N": .int(2)]
            )
        }
    }
    if let first = merges.first { context.setPivot(first) }
    return merges
}

/// The loop's `Exit` per switch, part of the context around the loop.
private func exit(_ graph: Graph, _ switches: [Operation], to outer: ControlFlowContext?) -> [Output] {
    let exits = graph.withControlFlow(nil) {
        switches.map { graph.addOperation("Exit", inputs: [$0.output(0)], attributes: ["T": .type($0.output(0).dtype)]) }
    }
    exits.forEach { outer?.add($0) }
    return exits.map { $0.output() }
}

/// Whether two lists of values agree in count and types; records an error naming `what` if not.
private func matching(_ graph: Graph, _ first: [Output], _ second: [Output], what: String) -> Bool {
    guard first.count != second.count || zip(first, second).contains(where: { $0.dtype != $1.dtype }) else { return true }
    graph.recordError(
        WeftError(
            .invalidArgument,
            "\(what) must give as many values of the same types: \(first.map(\.dtype)) against \(second.map(\.dtype))"
        )
    )
    return false
}
