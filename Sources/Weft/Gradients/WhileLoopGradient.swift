import WeftProto
import WeftRuntime

// The gradient of a TensorFlow 1.x while loop, as a loop running backwards.
//
// The forward loop gains a stack per loop variable, onto which every iteration pushes the
// values its body starts from, and a counter of iterations whose next value waits for those
// pushes, so the count is out only once every push is done. The gradient loop runs as many
// iterations; each pops the values of the matching forward iteration, builds the body again on
// them (a copy of the body's ops, which must therefore be stateless) and differentiates that
// copy with the ordinary gradient walk: the gradients of the loop variables go round the loop,
// those of the invariants add up. TensorFlow keeps every intermediate value on a stack instead;
// recomputing the body keeps only the loop variables, at the cost of running the body twice.

extension WhileLoopStructure {
    /// The gradients of the loop's inputs (`inputs`: initial values, then invariants) from those
    /// of its outputs (one per loop variable, `nil` where none arrived).
    func gradients(
        of outputGradients: [Gradient?],
        in graph: Graph,
        registry: GradientRegistry
    ) throws(WeftError)
        -> [Gradient?]
    {
        if let unsupported {
            throw WeftError(.unimplemented, "cannot differentiate the while loop '\(frame)': \(unsupported)")
        }
        try checkBodyIsStateless(graph)
        let (stacks, count) = graph.withControlFlow(nil) { recordIterations(graph) }
        let differentiable = variables.indices.filter { variables[$0].dtype.isDifferentiable }
        let handleTypes = invariants.map { $0.dtype == .resource ? variableType(of: $0.outside, graph) : nil }
        let summed = invariants.indices.filter { invariants[$0].dtype.isDifferentiable || handleTypes[$0] != nil }
        let seeds = differentiable.map { index in
            outputGradients[safe: index].flatMap { $0 }?.densified
                ?? OpBuilder.zerosLike(
                    graph.output(
                        variables[index].exit.map { TensorName(node: $0, index: 0) } ?? variables[index].initial
                    )
                )
        }
        let zeros = summed.map { index in
            let outside = graph.output(invariants[index].outside)
            guard let dtype = handleTypes[index] else { return OpBuilder.zerosLike(outside) }
            // A handle's gradient is its variable's: the sum starts from zeros of its value.
            return OpBuilder.zerosLike(OpBuilder.node("ReadVariableOp", [outside], ["dtype": .type(dtype)]).output())
        }
        var failure: WeftError?
        let results = whileLoop(
            [count] + seeds + zeros,
            parallelIterations: parallelIterations,
            name: "while_grad",
            condition: { greater($0[0], constant(Int32(0))) },
            body: { values in
                do throws(WeftError) {
                    return try backwardIteration(values, stacks, differentiable, summed, graph, registry)
                } catch {
                    failure = failure ?? error
                    return values
                }
            }
        )
        if let failure { throw failure }
        var gradients = [Gradient?](repeating: nil, count: inputs.count)
        for (position, index) in differentiable.enumerated() { gradients[index] = .dense(results[1 + position]) }
        for (position, index) in summed.enumerated() {
            gradients[variables.count + index] = .dense(results[1 + differentiable.count + position])
        }
        return gradients
    }

    /// One iteration of the gradient loop: pops the forward values, rebuilds the body on them
    /// and passes the loop variables' gradients back through it.
    private func backwardIteration(
        _ values: [Output],
        _ stacks: [Output],
        _ differentiable: [Int],
        _ summed: [Int],
        _ graph: Graph,
        _ registry: GradientRegistry
    ) throws(WeftError) -> [Output] {
        let incoming = Array(values[1..<(1 + differentiable.count)])
        let sums = Array(values[(1 + differentiable.count)...])
        // Every pop waits for this iteration's values, which wait for the last iteration's pops:
        // the stacks are read in order even when iterations overlap.
        let popped = graph.controlDependencies(on: values.map(\.operation)) {
            zip(variables, stacks).map { variable, stack in
                graph.addOperation("StackPopV2", inputs: [stack], attributes: ["elem_type": .type(variable.dtype)])
                    .output()
            }
        }
        let inside = invariants.map { identity(graph.output($0.outside)) }
        let updates = try copyBody(popped, inside, graph)
        let gradients = try graph.gradientsKeepingSlices(
            of: differentiable.map { updates[$0] },
            with: differentiable.map { popped[$0] } + summed.map { inside[$0] },
            gradYs: incoming,
            registry: registry
        )
        let next = differentiable.indices.map { position in
            gradients[position]?.densified ?? OpBuilder.zerosLike(popped[differentiable[position]])
        }
        let added = summed.indices.map { position in
            gradients[differentiable.count + position].map { sums[position] + $0.densified } ?? sums[position]
        }
        let remaining = graph.controlDependencies(on: popped.map(\.operation)) {
            subtract(values[0], constant(Int32(1)))
        }
        return [remaining] + next + added
    }

    /// Adds to the forward loop a stack per loop variable, pushed by every iteration, and a
    /// counter of iterations; returns the stacks and the count out of the loop.
    ///
    /// The pushes of an iteration wait for its count, and the next count waits for them, so
    /// the stacks fill in iteration order even when iterations overlap, and the count leaves
    /// the loop only after the last push.
    private func recordIterations(_ graph: Graph) -> (stacks: [Output], count: Output) {
        let forward = ControlFlowContext(.loop(frame: frame, parallelIterations: parallelIterations), outer: nil)
        forward.adopt(members)
        let stacks = variables.map { variable in
            graph.addOperation(
                "StackV2",
                inputs: [constant(Int32(-1))],
                attributes: ["elem_type": .type(variable.dtype), "stack_name": .string(variable.enter + "_stack")]
            ).output()
        }
        // The count starts from the loop's first input, so a loop in an untaken branch is dead
        // (a control edge would not do: that input may be a fed placeholder).
        let zero = OpBuilder.zerosLike(OpBuilder.rank(graph.output(variables[0].initial)))
        let enter = graph.addOperation(
            "Enter",
            inputs: [zero],
            attributes: [
                "T": .type(.int32), "frame_name": .string(frame), "is_constant": .bool(false),
                "parallel_iterations": .int(parallelIterations),
            ]
        )
        forward.add(enter)
        let count = graph.withControlFlow(forward) { () -> Output in
            let merge = graph.addOperation(
                "Merge",
                inputs: [enter.output(), enter.output()],
                attributes: ["T": .type(.int32), "N": .int(2)]
            )
            let decision = graph.output(TensorName(node: loopCond, index: 0))
            let switched = graph.addOperation(
                "Switch",
                inputs: [merge.output(0), decision],
                attributes: ["T": .type(.int32)]
            )
            let exit = graph.withControlFlow(nil) {
                graph.addOperation("Exit", inputs: [switched.output(0)], attributes: ["T": .type(.int32)])
            }
            let current = identity(switched.output(1))
            forward.setPivot(current.operation)
            let pushes = graph.controlDependencies(on: [current.operation]) {
                zip(variables, stacks).map { variable, stack in
                    graph.addOperation(
                        "StackPushV2",
                        inputs: [stack, graph.output(TensorName(node: variable.switchNode, index: 1))],
                        attributes: ["T": .type(variable.dtype), "swap_memory": .bool(false)]
                    )
                }
            }
            let next = graph.controlDependencies(on: pushes) {
                graph.addOperation(
                    "NextIteration",
                    inputs: [add(current, constant(Int32(1)))],
                    attributes: ["T": .type(.int32)]
                )
            }
            graph.replaceInput(of: merge.name, at: 1, with: next.output())
            return exit.output()
        }
        return (stacks, count)
    }

    /// The nodes that compute the loop variables' next values from their current ones and the
    /// invariants, in an order where every node follows its inputs.
    private func bodyNodes(_ graph: Graph) throws(WeftError) -> [NodeInfo] {
        let boundary = Set(variables.map(\.switchNode) + invariants.map(\.enter))
        var ordered: [NodeInfo] = []
        var visited = Set<String>()
        // Iterative depth-first post-order: a body may be long.
        var stack: [(name: String, expanded: Bool)] = variables.map { ($0.update.node, false) }
        while let (name, expanded) = stack.popLast() {
            if boundary.contains(name) { continue }
            if expanded {
                if let node = graph.node(named: name) { ordered.append(try NodeInfo(node)) }
                continue
            }
            guard visited.insert(name).inserted else { continue }
            guard members.contains(name), let node = graph.node(named: name) else {
                throw WeftError(
                    .internal,
                    "the body of while loop '\(frame)' reads '\(name)', which is not in its frame"
                )
            }
            let info = try NodeInfo(node)
            guard !structuralOps.contains(info.op) else {
                throw WeftError(
                    .unimplemented,
                    "cannot differentiate the while loop '\(frame)': its body reads '\(name)' (\(info.op)) directly"
                )
            }
            stack.append((name, true))
            for input in info.dataInputs where !visited.contains(input.node) { stack.append((input.node, false)) }
        }
        return ordered
    }

    private var structuralOps: Set<String> {
        ["Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration", "LoopCond"]
    }

    /// The value type of the variable behind `handle`, when a chain of identities and enters
    /// leads back to its `VarHandleOp`: the body's reads of a handle coming from outside (in
    /// functions it calls, which read again per iteration) give the handle gradients to sum.
    private func variableType(of handle: TensorName, _ graph: Graph) -> DType? {
        var name = handle.node
        for _ in 0..<64 {
            guard let node = graph.node(named: name) else { return nil }
            if node.op == "VarHandleOp" { return try? DType(node.attr["dtype"]?.type ?? .dtInvalid) }
            guard ["Identity", "Enter"].contains(node.op), let input = node.input.first, !input.hasPrefix("^"),
                let producer = try? TensorName(parsing: input)
            else { return nil }
            name = producer.node
        }
        return nil
    }

    /// Refuses a body with stateful ops: the gradient loop runs the body again. Two stateful ops
    /// do the same when run again while nothing writes: a read of a variable whose handle
    /// comes from outside the loop, and a call of functions that may run again (`InlinedFunction`).
    private func checkBodyIsStateless(_ graph: Graph) throws(WeftError) {
        let handles = Set(invariants.filter { $0.dtype == .resource }.map(\.enter))
        for node in try bodyNodes(graph) {
            let definition = try graph.registry.definition(of: node.op, node: node.name)
            guard definition.isStateful else { continue }
            if node.op == "ReadVariableOp", let handle = node.dataInputs.first, handles.contains(handle.node) {
                continue
            }
            if let nodeDef = graph.node(named: node.name),
                try InlinedFunction.callsOnlyRecomputable(nodeDef, in: graph, caller: frame)
            {
                continue
            }
            throw WeftError(
                .unimplemented,
                "cannot differentiate the while loop '\(frame)': its body holds the stateful op '\(node.name)' "
                    + "(\(node.op)), and Weft's loop gradients run the body again"
            )
        }
    }

    /// Builds a copy of the body reading `current` for the loop variables and `inside` for the
    /// invariants; returns the copies of the next values.
    private func copyBody(_ current: [Output], _ inside: [Output], _ graph: Graph) throws(WeftError) -> [Output] {
        var copies: [TensorName: Output] = [:]
        var copied: [String: Operation] = [:]
        for (variable, value) in zip(variables, current) {
            copies[TensorName(node: variable.switchNode, index: 1)] = value
        }
        for (invariant, value) in zip(invariants, inside) {
            copies[TensorName(node: invariant.enter, index: 0)] = value
        }
        func value(_ tensor: TensorName) -> Output {
            copies[tensor] ?? copied[tensor.node].map { $0.output(tensor.index) } ?? graph.output(tensor)
        }
        for node in try bodyNodes(graph) {
            let controls = node.controlInputs.compactMap { copied[$0] }
            copied[node.name] = graph.addOperation(
                node.op,
                name: String(node.name.split(separator: "/").last ?? Substring(node.name)),
                inputs: node.dataInputs.map(value),
                controlInputs: controls,
                attributes: graph.node(named: node.name)?.attr ?? [:]
            )
        }
        return variables.map { value($0.update) }
    }
}

extension ControlFlowContext {
    /// Marks ops built before this context existed as part of it: a loop found in a graph.
    func adopt(_ names: Set<String>) {
        for name in names { add(name) }
    }
}

extension Graph {
    /// The tensor `name` of this graph as an `Output` (its dtype as recorded when it was built).
    func output(_ name: TensorName) -> Output {
        Output(
            operation: Operation(graph: self, name: name.node),
            index: name.index,
            dtype: outputTypes(of: name.node)[safe: name.index]?.dtype ?? .float
        )
    }
}

extension DType {
    /// Whether gradients flow through values of this type.
    var isDifferentiable: Bool { isFloatingPoint || isComplex }
}
