import WeftProto
import WeftRuntime

// Gradients of TensorFlow 2.x's functional control flow: `If`/`StatelessIf` and
// `While`/`StatelessWhile`, whose branches, condition and body are functions of the graph's
// library, and of the calls of such functions (`PartitionedCall`, `StatefulPartitionedCall`).
//
// TensorFlow rewrites the forward op to output the intermediate values its gradient needs.
// Weft leaves the forward op as it is: the gradient builds the op again as TensorFlow 1.x
// control flow (a `cond` of the inlined branches, a `whileLoop` of the inlined condition and
// body) on the op's inputs, and differentiates that copy with the gradients of v1 control flow.
// The copy runs the taken branch, or the loop, a second time; for loops that is the cost the
// v1 loop gradient already pays, as it runs the body again per iteration.

extension GradientRegistry {
    func registerFunctionalControlFlowGradients() {
        for op in ["If", "StatelessIf"] { register(op, Self.ifGradient) }
        for op in ["While", "StatelessWhile"] { register(op, Self.whileGradient) }
        for op in ["PartitionedCall", "StatefulPartitionedCall"] { register(op, Self.callGradient) }
    }

    /// A call of a function (a `tf.function` called in a graph): the function built again as
    /// ops on the call's inputs, and differentiated.
    @Sendable private static func callGradient(_ context: GradientContext) throws(WeftError) -> [Gradient?] {
        let arguments = context.inputs
        let function = try InlinedFunction(
            named: functionName("f", of: context),
            in: context.graph,
            inputTypes: arguments.map(\.dtype),
            caller: context.operation.name
        )
        let copies = try function.build(
            in: context.graph,
            arguments: arguments,
            reads: hoistedReads([function], arguments)
        )
        return try differentiate(copies, against: arguments, context)
    }

    /// An `If`: input 0 is the predicate, the rest are the branches' arguments.
    @Sendable private static func ifGradient(_ context: GradientContext) throws(WeftError) -> [Gradient?] {
        let predicate = try context.input(0)
        guard predicate.dtype == .bool else {
            throw WeftError(
                .unimplemented,
                "cannot differentiate node '\(context.operation.name)' (\(context.type)): its predicate is \(predicate.dtype); "
                    + "gradients are implemented for bool predicates"
            )
        }
        let arguments = Array(context.inputs.dropFirst())
        let types = arguments.map(\.dtype)
        let branches = try ["then_branch", "else_branch"].map { (key) throws(WeftError) in
            try InlinedFunction(
                named: functionName(key, of: context),
                in: context.graph,
                inputTypes: types,
                caller: context.operation.name
            )
        }
        let reads = hoistedReads(branches, arguments)
        var failure: WeftError?
        let build = { (branch: InlinedFunction) -> [Output] in
            do throws(WeftError) {
                return try branch.build(in: context.graph, arguments: arguments, reads: reads)
            } catch {
                failure = failure ?? error
                return []
            }
        }
        let copies = cond(predicate, then: { build(branches[0]) }, else: { build(branches[1]) }, name: "recomputed")
        if let failure { throw failure }
        return [nil] + (try differentiate(copies, against: arguments, context))
    }

    /// A `While`: its inputs are the loop variables, its outputs their final values. Handles
    /// (variables the body reads) must pass through the body unchanged; they stay out of the
    /// rebuilt loop, whose reads of them happen once before it.
    @Sendable private static func whileGradient(_ context: GradientContext) throws(WeftError) -> [Gradient?] {
        let inputs = context.inputs
        let types = inputs.map(\.dtype)
        let caller = context.operation.name
        let condition = try InlinedFunction(
            named: functionName("cond", of: context),
            in: context.graph,
            inputTypes: types,
            caller: caller
        )
        let body = try InlinedFunction(
            named: functionName("body", of: context),
            in: context.graph,
            inputTypes: types,
            caller: caller
        )
        guard condition.returnCount == 1, body.returnCount == inputs.count else {
            throw WeftError(
                .invalidArgument,
                "node '\(caller)' (\(context.type)): its condition returns \(condition.returnCount) values and its body "
                    + "\(body.returnCount) for \(inputs.count) loop variables"
            )
        }
        for position in inputs.indices where types[position] == .resource && body.passedThrough(position) != position {
            throw WeftError(
                .unimplemented,
                "cannot differentiate node '\(caller)' (\(context.type)): its body changes the resource loop variable \(position); "
                    + "gradients are implemented for handles the body passes on unchanged"
            )
        }
        let carried = inputs.indices.filter { types[$0] != .resource }
        guard !carried.isEmpty else { return [Gradient?](repeating: nil, count: inputs.count) }
        let reads = hoistedReads([condition, body], inputs)
        var failure: WeftError?
        /// The loop variables as the functions take them: the carried values, and the handles.
        func arguments(_ values: [Output]) -> [Output] {
            var all = inputs
            for (position, value) in zip(carried, values) { all[position] = value }
            return all
        }
        func build(_ function: InlinedFunction, _ values: [Output]) -> [Output] {
            do throws(WeftError) {
                return try function.build(in: context.graph, arguments: arguments(values), reads: reads)
            } catch {
                failure = failure ?? error
                return []
            }
        }
        let parallelIterations = try context.attributes.int("parallel_iterations", default: 10)
        let copies = whileLoop(
            carried.map { inputs[$0] },
            parallelIterations: parallelIterations > 0 ? parallelIterations : 10,
            name: "recomputed",
            condition: { values in build(condition, values).first ?? values[0] },
            body: { values in
                let next = build(body, values)
                return next.count == inputs.count ? carried.map { next[$0] } : values
            }
        )
        if let failure { throw failure }
        var outputs = [Output?](repeating: nil, count: inputs.count)
        for (position, copy) in zip(carried, copies) { outputs[position] = identity(copy) }
        return try differentiate(outputs, against: inputs, context)
    }

    private static func functionName(_ key: String, of context: GradientContext) throws(WeftError) -> String {
        guard let name = context.operation.nodeDef.attr[key]?.func.name, !name.isEmpty else {
            throw WeftError(
                .invalidArgument,
                "node '\(context.operation.name)' (\(context.type)) has no function '\(key)'"
            )
        }
        return name
    }

    /// One `ReadVariableOp` per handle and type the functions read, built before the copy.
    private static func hoistedReads(_ functions: [InlinedFunction], _ arguments: [Output]) -> [ResourceRead: Output] {
        var reads: [ResourceRead: Output] = [:]
        for read in functions.flatMap(\.reads) where reads[read] == nil {
            guard let handle = arguments[safe: read.argument] else { continue }
            reads[read] = OpBuilder.node("ReadVariableOp", [handle], ["dtype": .type(read.dtype)], name: "read")
                .output()
        }
        return reads
    }

    /// The gradients of the op's inputs: those of the copy's values (`copies`, one per output of
    /// the op, `nil` where the copy has none) with respect to `arguments`, seeded with the op's
    /// output gradients. A tensor given twice gets its gradient at its first position.
    private static func differentiate(
        _ copies: [Output?],
        against arguments: [Output],
        _ context: GradientContext
    ) throws(WeftError) -> [Gradient?] {
        var ys: [Output] = []
        var seeds: [Output] = []
        for (copy, gradient) in zip(copies, context.outputGradients) {
            guard let copy, let gradient, copy.dtype.isDifferentiable else { continue }
            ys.append(copy)
            seeds.append(gradient.densified)
        }
        var firsts: [TensorName: Int] = [:]
        for (position, argument) in arguments.enumerated() where firsts[argument.tensorName] == nil {
            firsts[argument.tensorName] = position
        }
        let xs = arguments.indices.filter { firsts[arguments[$0].tensorName] == $0 }.map { arguments[$0] }
        guard !ys.isEmpty else { return [Gradient?](repeating: nil, count: arguments.count) }
        var builder = try GradientBuilder(
            graph: context.graph,
            registry: context.registry,
            colocateWithOps: context.colocateWithOps
        )
        // The walk stops at the op's inputs: what lies before them is the caller's walk.
        let gradients = try builder.gradients(of: ys, with: xs, gradYs: seeds, unconnected: .none, stopGradients: xs)
        var result = [Gradient?](repeating: nil, count: arguments.count)
        for (x, gradient) in zip(xs, gradients) {
            if let position = firsts[x.tensorName] { result[position] = gradient }
        }
        return result
    }
}
