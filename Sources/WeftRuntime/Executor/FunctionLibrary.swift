import Synchronization
import WeftProto

/// The functions of a GraphDef's `library`, which functional ops (`If`, `While`,
/// `PartitionedCall`, …) call. A function is parsed into a `RuntimeGraph` and compiled into one
/// `StepPlan` the first time a kernel asks for it; that plan is then reused for every call.
public final class FunctionLibrary: Sendable {
    /// The FunctionDefs by name; the first of two with one name wins, as in a merged library.
    private let definitions: [String: Tensorflow_FunctionDef]
    /// The registry body ops come from.
    let registry: OpRegistry
    /// Functions loaded so far. Held weakly: a body's nodes refer back to this library (for
    /// nested calls), so a strong cache would be a cycle; the kernels calling a function keep it.
    private let loaded = Mutex<[String: WeakFunction]>([:])

    private struct WeakFunction {
        weak var function: LibraryFunction?
    }

    /// Makes a library of `library`'s functions, whose bodies use ops of `registry`.
    public init(_ library: Tensorflow_FunctionDefLibrary, registry: OpRegistry = .standard) {
        var definitions: [String: Tensorflow_FunctionDef] = [:]
        for function in library.function where definitions[function.signature.name] == nil {
            definitions[function.signature.name] = function
        }
        self.definitions = definitions
        self.registry = registry
    }

    /// A library of `library`'s functions, or `nil` when it has none.
    public convenience init?(nonEmpty library: Tensorflow_FunctionDefLibrary, registry: OpRegistry = .standard) {
        guard !library.function.isEmpty else { return nil }
        self.init(library, registry: registry)
    }

    /// The FunctionDef named `name`, or `notFound`.
    public func definition(named name: String) throws(WeftError) -> Tensorflow_FunctionDef {
        guard let definition = definitions[name] else {
            throw WeftError(.notFound, "Function \(name) is not defined in the graph's function library")
        }
        return definition
    }

    /// `roots` and the functions they call, directly or through other functions.
    private func closure(of roots: some Sequence<String>) -> Set<String> {
        var found = Set<String>()
        var stack = Array(roots)
        while let name = stack.popLast() {
            guard found.insert(name).inserted, let definition = definitions[name] else { continue }
            for node in definition.nodeDef {
                stack.append(contentsOf: Self.calledFunctions(node.attr))
            }
        }
        return found
    }

    /// The functions a node's attributes name (`then_branch`, `body`, `f`, `branches`, …).
    private static func calledFunctions(_ attributes: [String: Tensorflow_AttrValue]) -> [String] {
        attributes.values.flatMap { value -> [String] in
            switch value.value {
            case .func(let function): [function.name]
            case .list(let list): list.func.map(\.name)
            default: []
            }
        }
    }

    /// The sub-library a process running `nodes` needs: the functions they call, directly or
    /// through other functions.
    public func needed(by nodes: [Tensorflow_NodeDef]) -> Tensorflow_FunctionDefLibrary {
        let names = closure(of: nodes.flatMap { Self.calledFunctions($0.attr) })
        var library = Tensorflow_FunctionDefLibrary()
        library.function = names.sorted().compactMap { definitions[$0] }
        return library
    }

    /// The function named `name`, loaded and compiled; `notFound` when the library lacks it,
    /// `unimplemented` when its body uses an op Weft lacks.
    func function(named name: String) throws(WeftError) -> LibraryFunction {
        if let function = loaded.withLock({ $0[name]?.function }) { return function }
        try checkNesting(from: name)
        // Built outside the lock: loading compiles kernels, and two callers racing to load one
        // function only waste a little work (the first stored wins).
        let built = try LibraryFunction(try definition(named: name), library: self)
        return loaded.withLock { loaded in
            if let existing = loaded[name]?.function { return existing }
            loaded[name] = WeakFunction(function: built)
            return built
        }
    }
}

extension FunctionLibrary {
    /// How deep calls may nest. A call runs its body on the calling thread, one stack frame
    /// chain per level, and pool threads have small stacks; functions TensorFlow writes nest a
    /// few levels (a cond in a loop in a loop).
    public static let maximumNesting = 32

    /// Refuses a function that calls itself, directly or through others, or whose calls nest
    /// deeper than `maximumNesting`: either would exhaust the thread's stack.
    private func checkNesting(from root: String) throws(WeftError) {
        // Depth-first over the call graph: the path so far reports a cycle, and each function's
        // height (the deepest chain of calls it starts) is computed once.
        var path: [String] = []
        var heights: [String: Int] = [:]
        func height(_ name: String) throws(WeftError) -> Int {
            if let known = heights[name] { return known }
            if let start = path.firstIndex(of: name) {
                let cycle = (path[start...] + [name]).joined(separator: " → ")
                throw WeftError(
                    .unimplemented,
                    "function \(root) is recursive (\(cycle)); Weft does not run recursive functions"
                )
            }
            guard let definition = definitions[name] else { return 0 }
            guard path.count < Self.maximumNesting else {
                throw WeftError(
                    .invalidArgument,
                    "function \(root) nests calls more than \(Self.maximumNesting) deep (\(path.prefix(4).joined(separator: " → ")) → …)"
                )
            }
            path.append(name)
            var deepest = 0
            for node in definition.nodeDef {
                for called in Self.calledFunctions(node.attr) { deepest = max(deepest, try height(called)) }
            }
            path.removeLast()
            heights[name] = deepest + 1
            return deepest + 1
        }
        _ = try height(root)
    }
}

/// One function of a library, ready to run: its body as a graph whose arguments are fed and
/// whose return values are fetched, compiled into one plan.
final class LibraryFunction: Sendable {
    /// The function's name.
    let name: String
    /// The dtypes of the arguments, in order.
    let inputTypes: [DType]
    /// The dtypes of the return values, in order.
    let outputTypes: [DType]
    /// The body's plan: feeds are the arguments, fetches the return values computed in the
    /// body, targets the nodes that must run for their effects.
    let plan: StepPlan
    /// Where each return value comes from: the plan's fetch, or an argument returned as it is
    /// (fetched from the plan, a fed tensor would still run its placeholder).
    private let returns: [Source]

    private enum Source {
        case fetch(Int)
        case argument(Int)
    }

    init(_ definition: Tensorflow_FunctionDef, library: FunctionLibrary) throws(WeftError) {
        let signature = definition.signature
        name = signature.name
        do throws(WeftError) {
            inputTypes = try signature.inputArg.map { (arg) throws(WeftError) in try Self.concreteType(arg) }
            outputTypes = try signature.outputArg.map { (arg) throws(WeftError) in try Self.concreteType(arg) }
            let body = try FunctionBody(definition, inputTypes: inputTypes)
            let graph = try RuntimeGraph(nodes: body.nodes, registry: library.registry, functions: library, lowersLoops: true)
            try Self.checkReturns(body.returns, of: graph, against: signature.outputArg, types: outputTypes)
            var fetches: [TensorName] = []
            returns = body.returns.map { name in
                if let argument = body.arguments.firstIndex(of: name) { return .argument(argument) }
                fetches.append(name)
                return .fetch(fetches.count - 1)
            }
            plan = try StepPlan(
                graph: graph,
                feeds: body.arguments,
                fetches: fetches,
                targets: body.targets(in: graph)
            )
        } catch {
            throw WeftError(error.code, "function \(signature.name): \(error.message)")
        }
    }

    /// Runs the function as a nested step of `step` and calls `done` with its return values;
    /// the calling thread runs the body's kernels (see `StepPlan.run`).
    func call(
        _ arguments: [Tensor],
        step: StepContext,
        done: @escaping @Sendable (Result<[Tensor], WeftError>) -> Void
    ) {
        plan.run(feeds: arguments, step: step, inline: .all) { [returns] result in
            done(
                result.map { fetched in
                    returns.map { source in
                        switch source {
                        case .fetch(let index): fetched[index]
                        case .argument(let index): arguments[index]
                        }
                    }
                }
            )
        }
    }

    /// Checks that each return value has the type its output argument declares.
    private static func checkReturns(
        _ returns: [TensorName],
        of graph: RuntimeGraph,
        against args: [Tensorflow_OpDef.ArgDef],
        types: [DType]
    ) throws(WeftError) {
        for (position, name) in returns.enumerated() {
            let (node, output) = try graph.resolve(name)
            let actual = graph.nodes[node].outputTypes[output].dtype
            guard actual == types[position] else {
                throw WeftError(
                    .invalidArgument,
                    "output '\(args[position].name)' is declared \(types[position]), but '\(name)' is \(actual)"
                )
            }
        }
    }

    /// The dtype of an argument. Functions TensorFlow 2 writes have one tensor of a fixed type
    /// per argument; polymorphic ones (a `type_attr` or a list) are instantiated by TensorFlow's
    /// function runtime with the caller's attributes, which Weft does not do.
    private static func concreteType(_ arg: Tensorflow_OpDef.ArgDef) throws(WeftError) -> DType {
        guard arg.typeAttr.isEmpty, arg.numberAttr.isEmpty, arg.typeListAttr.isEmpty else {
            throw WeftError(
                .unimplemented,
                "argument '\(arg.name)' has a polymorphic type; Weft runs only functions whose arguments have fixed types"
            )
        }
        return try DType(arg.type)
    }
}

/// A FunctionDef's body rewritten as GraphDef nodes: one `Placeholder` per argument (always
/// fed), and every `node:out_arg:index` input turned into `node:flat_index`.
public struct FunctionBody: Sendable {
    /// The argument placeholders (first, in signature order), then the body's nodes in the
    /// definition's order, which need not be topological.
    public private(set) var nodes: [Tensorflow_NodeDef] = []
    /// Each argument's placeholder output, in signature order.
    public private(set) var arguments: [TensorName] = []
    /// The tensor each output of the signature returns.
    public private(set) var returns: [TensorName] = []
    /// The nodes the signature's control outputs name.
    public private(set) var controlReturns: [String] = []
    /// Node name → op, for the body's nodes (not the arguments).
    private var ops: [String: String] = [:]
    private var attributes: [String: NodeAttributes] = [:]
    private var argumentNames = Set<String>()

    /// Parses `definition`, whose arguments have `inputTypes`; throws `invalidArgument` for a
    /// malformed body and `unimplemented` for attribute placeholders.
    public init(_ definition: Tensorflow_FunctionDef, inputTypes: [DType]) throws(WeftError) {
        let signature = definition.signature
        guard inputTypes.count == signature.inputArg.count else {
            throw WeftError(
                .invalidArgument,
                "function '\(signature.name)' takes \(signature.inputArg.count) arguments, but is given \(inputTypes.count)"
            )
        }
        for (position, arg) in signature.inputArg.enumerated() {
            guard argumentNames.insert(arg.name).inserted else {
                throw WeftError(.invalidArgument, "two arguments are named '\(arg.name)'")
            }
            nodes.append(
                .with {
                    $0.name = arg.name
                    $0.op = "Placeholder"
                    $0.attr["dtype"] = .with { $0.type = inputTypes[position].proto }
                }
            )
            arguments.append(TensorName(node: arg.name, index: 0))
        }
        for node in definition.nodeDef {
            guard !argumentNames.contains(node.name), ops.updateValue(node.op, forKey: node.name) == nil else {
                throw WeftError(.invalidArgument, "two nodes or arguments are named '\(node.name)'")
            }
            if let placeholder = node.attr.first(where: { !$0.value.placeholder.isEmpty }) {
                throw WeftError(
                    .unimplemented,
                    "node '\(node.name)' takes attribute '\(placeholder.key)' from the caller ('\(placeholder.value.placeholder)'); Weft runs only functions without attribute placeholders"
                )
            }
            attributes[node.name] = NodeAttributes(node.attr, node: node.name)
        }
        for node in definition.nodeDef {
            var rewritten = node
            rewritten.input = []
            for input in node.input {
                if let text = try rewrite(input, of: node.name) { rewritten.input.append(text) }
            }
            nodes.append(rewritten)
        }
        for arg in signature.outputArg {
            guard let tensor = definition.ret[arg.name] else {
                throw WeftError(.invalidArgument, "output '\(arg.name)' has no entry in the function's ret map")
            }
            returns.append(try tensorName(tensor, of: "ret '\(arg.name)'"))
        }
        for name in signature.controlOutput {
            guard let node = definition.controlRet[name], ops[node] != nil else {
                throw WeftError(.invalidArgument, "control output '\(name)' names no node of the body")
            }
            controlReturns.append(node)
        }
    }

    /// The nodes that run even when no return value needs them: control returns, and every
    /// stateful node, as TensorFlow's function runtime keeps them.
    func targets(in graph: RuntimeGraph) -> [String] {
        let stateful = graph.nodes.lazy
            .filter { !argumentNames.contains($0.info.name) }
            .filter { OpOutputArgs.isStateful($0.info.op) ?? $0.definition.isStateful }
            .map(\.info.name)
        return Array(Set(controlReturns + stateful)).sorted()
    }

    /// A body input in GraphDef form; `nil` for a control input on an argument, which is always
    /// there before the body starts.
    private func rewrite(_ input: String, of node: String) throws(WeftError) -> String? {
        if input.hasPrefix("^") {
            let producer = String(input.dropFirst())
            if argumentNames.contains(producer) { return nil }
            guard ops[producer] != nil else {
                throw WeftError(
                    .invalidArgument,
                    "node '\(node)' has a control input from '\(producer)', which is not in the body"
                )
            }
            return input
        }
        let name = try tensorName(input, of: "node '\(node)'")
        return name.index == 0 ? name.node : name.description
    }

    /// `arg` or `node:out_arg:index` as a `node:flat_index` tensor name.
    private func tensorName(_ text: String, of user: String) throws(WeftError) -> TensorName {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1 where argumentNames.contains(text):
            return TensorName(node: text, index: 0)
        case 3:
            let producer = String(parts[0])
            guard let op = ops[producer], let attributes = attributes[producer], let index = Int(parts[2]) else {
                break
            }
            let flat = try OpOutputArgs.flatIndex(
                op: op,
                argument: String(parts[1]),
                index: index,
                attributes: attributes
            )
            return TensorName(node: producer, index: flat)
        default:
            break
        }
        throw WeftError(
            .invalidArgument,
            "\(user) reads '\(text)', which is neither an argument nor a 'node:output:index' of the body"
        )
    }
}
