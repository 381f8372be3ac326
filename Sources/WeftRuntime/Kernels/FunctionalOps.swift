import Synchronization
import WeftProto

/// TensorFlow 2's functional control flow: `If`, `Case`, `While` and `PartitionedCall` call
/// functions of the graph's library (`NodeInfo.functions`), each call a nested step of the
/// function's plan sharing the caller's resources and cancellation.
///
/// Kernels are asynchronous: a call starts the nested step and finishes when it does, so no
/// kernel-pool thread waits for a nested step (the pool is bounded; loops inside loops would
/// exhaust it). The stateful forms differ from the stateless ones only in the flag.
///
/// Distributed sessions run a functional op wholly on the worker it is placed on: its body is
/// not partitioned. A body that uses a variable receives its handle as a `resource` input, and
/// placement colocates every op taking a resource input with the variable (`PlacementProblem`),
/// so the op runs where the variable lives; the worker gets the library functions its
/// partition calls with the partition. (Variables pinned to different workers cannot all be
/// local to one op: placement refuses such a graph, naming the conflicting devices.)
enum FunctionalOps {
    static let definitions: [OpDefinition] = [
        conditional("If", isStateful: true),
        conditional("StatelessIf", isStateful: false),
        caseOp("Case", isStateful: true),
        caseOp("StatelessCase", isStateful: false),
        whileOp("While", isStateful: true),
        whileOp("StatelessWhile", isStateful: false),
        // The forms TensorFlow's lowering leaves for its own runtime: the same inputs and attrs.
        conditional("_If", isStateful: true),
        whileOp("_While", isStateful: true),
        call("PartitionedCall", isStateful: false),
        call("StatefulPartitionedCall", isStateful: true),
    ]

    private static func conditional(_ name: String, isStateful: Bool) -> OpDefinition {
        functional(name, isStateful: isStateful, leading: 1, inputs: "Tin", outputs: "Tout") { node, signature throws(WeftError) in
            CallKernel(
                node: node.name,
                signature: signature,
                branches: [
                    try signature.function(node, attribute: "then_branch"),
                    try signature.function(node, attribute: "else_branch"),
                ],
                leading: 1,
                choose: { condition throws(WeftError) in try truth(of: condition, node: node.name) ? 0 : 1 }
            )
        }
    }

    private static func caseOp(_ name: String, isStateful: Bool) -> OpDefinition {
        functional(name, isStateful: isStateful, leading: 1, inputs: "Tin", outputs: "Tout") { node, signature throws(WeftError) in
            let names = try functionNames(node, "branches")
            guard !names.isEmpty else {
                throw WeftError(.invalidArgument, "node '\(node.name)' (\(node.op)) needs at least one branch")
            }
            let branches = try names.map { (name) throws(WeftError) in try signature.function(node, named: name) }
            return CallKernel(node: node.name, signature: signature, branches: branches, leading: 1) {
                index throws(WeftError) in
                try branch(index, count: branches.count, node: node.name)
            }
        }
    }

    private static func whileOp(_ name: String, isStateful: Bool) -> OpDefinition {
        functional(name, isStateful: isStateful, leading: 0, inputs: "T", outputs: "T") { node, loop throws(WeftError) in
            let body = try loop.function(node, attribute: "body")
            // The condition takes the loop variables and returns one tensor of any type.
            let condition = try CallSignature(inputs: loop.inputs, outputs: nil).function(node, attribute: "cond")
            return WhileKernel(node: node.name, signature: loop, condition: condition, body: body)
        }
    }

    private static func call(_ name: String, isStateful: Bool) -> OpDefinition {
        functional(name, isStateful: isStateful, leading: 0, inputs: "Tin", outputs: "Tout") { node, signature throws(WeftError) in
            CallKernel(node: node.name, signature: signature, branches: [try signature.function(node, attribute: "f")], leading: 0) {
                _ in 0
            }
        }
    }

    /// A functional op: `leading` inputs of its own, then one per entry of the `inputs` type list,
    /// and outputs of the `outputs` type list; `makeKernel` gets the checked call signature.
    private static func functional(
        _ name: String,
        isStateful: Bool,
        leading: Int,
        inputs: String,
        outputs: String,
        makeKernel: @escaping @Sendable (NodeInfo, CallSignature) throws(WeftError) -> any OpKernel
    ) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: nil,
            isStateful: isStateful,
            outputTypes: { node, inputTypes throws(WeftError) in
                try checkInputs(node, inputTypes, leading: leading, typesAttribute: inputs)
                return try types(node, outputs).map { OutputType($0) }
            },
            makeKernel: { node throws(WeftError) in
                try makeKernel(node, try CallSignature(node, inputsAttribute: inputs, outputsAttribute: outputs))
            }
        )
    }

    /// Checks the node's data inputs: `leading` inputs of their own, then one per entry of the
    /// `list(type)` attribute, of those types.
    private static func checkInputs(
        _ node: NodeInfo,
        _ inputs: [OutputType],
        leading: Int,
        typesAttribute: String
    ) throws(WeftError) {
        let expected = try types(node, typesAttribute)
        guard inputs.count == leading + expected.count else {
            throw WeftError(
                .invalidArgument,
                "node '\(node.name)' (\(node.op)) has \(inputs.count) inputs, but its attribute \(typesAttribute) lists \(expected.count) argument types\(leading > 0 ? " (plus \(leading) leading input)" : "")"
            )
        }
        for (position, type) in expected.enumerated() where inputs[leading + position].dtype != type {
            throw WeftError(
                .invalidArgument,
                "node '\(node.name)' (\(node.op)): input \(leading + position) is \(inputs[leading + position].dtype), but \(typesAttribute)[\(position)] is \(type)"
            )
        }
    }

    /// A `list(type)` attribute.
    static func types(_ node: NodeInfo, _ key: String) throws(WeftError) -> [DType] {
        guard case .list(let list)? = node.attributes.values[key]?.value else {
            throw WeftError(.invalidArgument, "node '\(node.name)' needs a list(type) attribute '\(key)'")
        }
        return try list.type.map { (type) throws(WeftError) in try DType(type) }
    }

    /// The function a `func` attribute names.
    static func functionName(_ node: NodeInfo, _ key: String) throws(WeftError) -> String {
        guard case .func(let function)? = node.attributes.values[key]?.value, !function.name.isEmpty else {
            throw WeftError(.invalidArgument, "node '\(node.name)' needs a func attribute '\(key)'")
        }
        return function.name
    }

    /// The functions a `list(func)` attribute names.
    private static func functionNames(_ node: NodeInfo, _ key: String) throws(WeftError) -> [String] {
        guard case .list(let list)? = node.attributes.values[key]?.value else {
            throw WeftError(.invalidArgument, "node '\(node.name)' needs a list(func) attribute '\(key)'")
        }
        return list.func.map(\.name)
    }

    /// TensorFlow's truth of a condition: a scalar is true when nonzero (a string when not
    /// empty); any other tensor is true when it has elements.
    static func truth(of condition: Tensor, node: String) throws(WeftError) -> Bool {
        guard condition.shape.rank == 0 else { return condition.elementCount > 0 }
        switch condition.dtype {
        case .bool: return condition.scalar(as: Bool.self) ?? false
        case .float: return (condition.scalar(as: Float.self) ?? 0) != 0
        case .double: return (condition.scalar(as: Double.self) ?? 0) != 0
        case .int32: return (condition.scalar(as: Int32.self) ?? 0) != 0
        case .int64: return (condition.scalar(as: Int64.self) ?? 0) != 0
        case .int16: return (condition.scalar(as: Int16.self) ?? 0) != 0
        case .int8: return (condition.scalar(as: Int8.self) ?? 0) != 0
        case .uint8: return (condition.scalar(as: UInt8.self) ?? 0) != 0
        case .string: return !(condition.strings.first?.isEmpty ?? true)
        default:
            throw WeftError(.invalidArgument, "node '\(node)': \(condition.dtype) cannot be converted to a boolean")
        }
    }

    /// The branch `Case` runs: `index`, or the last branch (the default) when out of range.
    private static func branch(_ index: Tensor, count: Int, node: String) throws(WeftError) -> Int {
        guard index.dtype == .int32, index.shape.rank == 0, let value = index.scalar(as: Int32.self) else {
            throw WeftError(
                .invalidArgument,
                "node '\(node)': branch_index must be an int32 scalar, got \(index.dtype) of shape \(index.shape)"
            )
        }
        return value >= 0 && Int(value) < count ? Int(value) : count - 1
    }
}

/// The argument and result types a functional node declares, checked against the functions it
/// calls when its kernel is built.
struct CallSignature: Sendable {
    /// The argument types.
    let inputs: [DType]
    /// The result types; `nil` for a `While` condition, which may return any one tensor.
    let outputs: [DType]?

    init(inputs: [DType], outputs: [DType]?) {
        self.inputs = inputs
        self.outputs = outputs
    }

    init(_ node: NodeInfo, inputsAttribute: String, outputsAttribute: String) throws(WeftError) {
        inputs = try FunctionalOps.types(node, inputsAttribute)
        outputs = try FunctionalOps.types(node, outputsAttribute)
    }

    /// The function a `func` attribute names, checked against this signature.
    func function(_ node: NodeInfo, attribute: String) throws(WeftError) -> FunctionReference {
        try function(node, named: try FunctionalOps.functionName(node, attribute))
    }

    /// The function `name` of the node's library, checked against this signature: `notFound`
    /// when it does not exist, `invalidArgument` when its arguments or results differ.
    func function(_ node: NodeInfo, named name: String) throws(WeftError) -> FunctionReference {
        guard let library = node.functions else {
            throw WeftError(
                .notFound,
                "node '\(node.name)' (\(node.op)) calls function \(name), but its graph has no function library"
            )
        }
        let signature: Tensorflow_OpDef
        do {
            signature = try library.definition(named: name).signature
        } catch {
            throw WeftError(error.code, "node '\(node.name)' (\(node.op)): \(error.message)")
        }
        try check(signature.inputArg, against: inputs, what: "arguments", node: node, function: name)
        if let outputs {
            try check(signature.outputArg, against: outputs, what: "results", node: node, function: name)
        } else if signature.outputArg.count != 1 {
            throw WeftError(
                .invalidArgument,
                "node '\(node.name)' (\(node.op)): the condition \(name) must return one tensor, but returns \(signature.outputArg.count)"
            )
        }
        return FunctionReference(library: library, name: name)
    }

    private func check(
        _ args: [Tensorflow_OpDef.ArgDef],
        against types: [DType],
        what: String,
        node: NodeInfo,
        function: String
    ) throws(WeftError) {
        guard args.count == types.count else {
            throw WeftError(
                .invalidArgument,
                "node '\(node.name)' (\(node.op)) passes \(types.count) \(what) to function \(function), which has \(args.count)"
            )
        }
        for (arg, type) in zip(args, types) where arg.typeAttr.isEmpty && arg.type != type.proto {
            let declared = (try? DType(arg.type)).map { "\($0)" } ?? "\(arg.type)"
            throw WeftError(
                .invalidArgument,
                "node '\(node.name)' (\(node.op)): function \(function)'s \(what == "arguments" ? "argument" : "result") '\(arg.name)' is \(declared), but the node declares \(type)"
            )
        }
    }
}

/// A library function a kernel calls, loaded on its first call and kept by the kernel.
final class FunctionReference: Sendable {
    let library: FunctionLibrary
    let name: String
    private let loaded = Mutex<LibraryFunction?>(nil)

    init(library: FunctionLibrary, name: String) {
        self.library = library
        self.name = name
    }

    /// The compiled function.
    func load() throws(WeftError) -> LibraryFunction {
        if let function = loaded.withLock({ $0 }) { return function }
        let function = try library.function(named: name)
        loaded.withLock { $0 = function }
        return function
    }
}

/// Calls a library function as a nested step. `run` returns the result when the step finished
/// before it returned (everything ran on this thread), and otherwise hands it to `later`: a loop
/// then continues in place instead of nesting one call per iteration on the stack.
struct NestedCall {
    private enum Phase {
        case running
        case finished(Result<[Tensor], WeftError>)
        case detached
    }

    /// The context nested steps run in: the caller's step id, resources and cancellation; no
    /// rendezvous (a body is never partitioned) and no statistics (its node names are the body's).
    static func context(for step: StepContext) -> StepContext {
        StepContext(id: step.id, resources: step.resources, cancellation: step.cancellation)
    }

    static func run(
        _ function: LibraryFunction,
        _ arguments: [Tensor],
        step: StepContext,
        later: @escaping @Sendable (Result<[Tensor], WeftError>) -> Void
    ) -> Result<[Tensor], WeftError>? {
        let phase = Mutex<Phase>(.running)
        function.call(arguments, step: step) { result in
            let inline = phase.withLock { phase -> Bool in
                guard case .running = phase else { return false }
                phase = .finished(result)
                return true
            }
            if !inline { later(result) }
        }
        return phase.withLock { phase -> Result<[Tensor], WeftError>? in
            if case .finished(let result) = phase { return result }
            phase = .detached
            return nil
        }
    }

    /// The node's data inputs from `first` on, as tensors of the declared types.
    static func arguments(
        _ context: OpKernelContext,
        from first: Int,
        types: [DType]
    ) throws(WeftError) -> [Tensor] {
        guard context.inputs.count == first + types.count else {
            throw WeftError(
                .invalidArgument,
                "node '\(context.node)' got \(context.inputs.count) inputs, expected \(first + types.count)"
            )
        }
        var tensors: [Tensor] = []
        tensors.reserveCapacity(types.count)
        for (position, type) in types.enumerated() {
            let tensor = try context.input(first + position)
            guard tensor.dtype == type else {
                throw WeftError(
                    .invalidArgument,
                    "node '\(context.node)': argument \(position) is \(tensor.dtype), but the function takes \(type)"
                )
            }
            tensors.append(tensor)
        }
        return tensors
    }
}

/// `If`, `Case` and `PartitionedCall`: picks one of its functions by the first input (a call has
/// one function and no selector) and calls it with the other inputs.
struct CallKernel: AsyncOpKernel {
    let node: String
    let signature: CallSignature
    let branches: [FunctionReference]
    /// Inputs before the arguments: 1 for the selector of `If` and `Case`, 0 for a call.
    let leading: Int
    /// The branch to run, from the selector.
    let choose: @Sendable (Tensor) throws(WeftError) -> Int

    func computeAsync(_ context: OpKernelContext, done: @escaping @Sendable (Result<[Value], WeftError>) -> Void) {
        do throws(WeftError) {
            let branch = leading == 1 ? try choose(try context.input(0)) : 0
            let function = try branches[branch].load()
            let arguments = try NestedCall.arguments(context, from: leading, types: signature.inputs)
            function.call(arguments, step: NestedCall.context(for: context.step)) { result in
                done(result.map { $0.map(Value.tensor) })
            }
        } catch {
            done(.failure(error))
        }
    }
}

/// `While`: runs the body while the condition holds, the loop variables flowing from each
/// iteration to the next. Iterations are sequential by data dependence, so the
/// `parallel_iterations` attribute has nothing to overlap and is ignored. Every iteration checks
/// the step's cancellation, so a loop that never ends stops at the step's deadline.
struct WhileKernel: AsyncOpKernel {
    let node: String
    let signature: CallSignature
    let condition: FunctionReference
    let body: FunctionReference

    func computeAsync(_ context: OpKernelContext, done: @escaping @Sendable (Result<[Value], WeftError>) -> Void) {
        do throws(WeftError) {
            let variables = try NestedCall.arguments(context, from: 0, types: signature.inputs)
            let loop = WhileLoop(
                node: node,
                condition: try condition.load(),
                body: try body.load(),
                step: context.step,
                done: done
            )
            loop.iterate(from: variables)
        } catch {
            done(.failure(error))
        }
    }
}

/// One running `While`: alternates nested steps of the condition and the body. Steps that
/// finish on the calling thread continue the loop in place; one that finishes later continues it
/// on the thread that finished it.
private final class WhileLoop: Sendable {
    let node: String
    let condition: LibraryFunction
    let body: LibraryFunction
    let step: StepContext
    let nested: StepContext
    let done: @Sendable (Result<[Value], WeftError>) -> Void

    init(
        node: String,
        condition: LibraryFunction,
        body: LibraryFunction,
        step: StepContext,
        done: @escaping @Sendable (Result<[Value], WeftError>) -> Void
    ) {
        self.node = node
        self.condition = condition
        self.body = body
        self.step = step
        self.nested = NestedCall.context(for: step)
        self.done = done
    }

    func iterate(from start: [Tensor]) {
        var variables = start
        while true {
            do throws(WeftError) {
                try step.cancellation.check()
            } catch {
                return done(.failure(WeftError(error.code, "While loop '\(node)': \(error.message)")))
            }
            let current = variables
            guard let tested = NestedCall.run(condition, current, step: nested, later: { self.tested(current, $0) })
            else { return }
            guard holds(current, tested) else { return }
            guard let stepped = NestedCall.run(body, current, step: nested, later: { self.stepped($0) }) else { return }
            guard let next = updated(stepped) else { return }
            variables = next
        }
    }

    /// The condition finished on another thread: run the body, then go on looping.
    private func tested(_ variables: [Tensor], _ result: Result<[Tensor], WeftError>) {
        guard holds(variables, result) else { return }
        guard let stepped = NestedCall.run(body, variables, step: nested, later: { self.stepped($0) }) else { return }
        self.stepped(stepped)
    }

    /// The body finished: loop with its results.
    private func stepped(_ result: Result<[Tensor], WeftError>) {
        guard let next = updated(result) else { return }
        iterate(from: next)
    }

    /// Whether the condition's result says to run the body; when not, the loop is over and
    /// `done` has its outcome.
    private func holds(_ variables: [Tensor], _ result: Result<[Tensor], WeftError>) -> Bool {
        do throws(WeftError) {
            let outputs = try result.get()
            guard outputs.count == 1 else {
                throw WeftError(.internal, "While loop '\(node)': the condition returned \(outputs.count) tensors")
            }
            if try FunctionalOps.truth(of: outputs[0], node: node) { return true }
            done(.success(variables.map(Value.tensor)))
        } catch {
            done(.failure(error))
        }
        return false
    }

    /// The body's results as the next loop variables, or `nil` after reporting its failure.
    private func updated(_ result: Result<[Tensor], WeftError>) -> [Tensor]? {
        switch result {
        case .success(let next): return next
        case .failure(let error):
            done(.failure(error))
            return nil
        }
    }
}
