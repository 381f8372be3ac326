import WeftProto
import WeftRuntime

/// A function of the graph's library that a gradient builds again as ops of the graph, so the
/// gradient walk can differentiate it: the branches of a functional `If`, the condition and body
/// of a functional `While`.
///
/// Running a function again is only sound when it does the same thing twice. Its variable reads
/// are the exception Weft allows: each `ReadVariableOp` of an argument handle becomes one read
/// outside the rebuilt control flow (`hoistedReads`), which reads the same value while nothing
/// in the function writes, and carries the read's gradient to the handle.
struct InlinedFunction {
    let name: String
    private let body: FunctionBody
    /// Whether each argument is a resource handle.
    private let isResource: [Bool]

    /// The function named `name` in `graph`'s library, whose arguments have `inputTypes`;
    /// `caller` names the node differentiated, for errors.
    init(named name: String, in graph: Graph, inputTypes: [DType], caller: String) throws(WeftError) {
        guard let library = graph.functions else {
            throw WeftError(
                .invalidArgument,
                "node '\(caller)' calls function '\(name)', but the graph has no function library"
            )
        }
        self.name = name
        body = try FunctionBody(try library.definition(named: name), inputTypes: inputTypes)
        isResource = inputTypes.map { $0 == .resource }
        try checkRecomputable(graph, library: library, caller: caller, depth: 0)
    }

    /// The number of values the function returns.
    var returnCount: Int { body.returns.count }

    /// The argument each return value passes through unchanged, `nil` where it computes one.
    func passedThrough(_ position: Int) -> Int? {
        guard let returned = body.returns[safe: position], returned.index == 0 else { return nil }
        return body.arguments.firstIndex { $0.node == returned.node }
    }

    /// The variable reads of argument handles as (argument position, value type).
    var reads: [ResourceRead] {
        body.nodes.compactMap { node in
            guard node.op == "ReadVariableOp", let dtype = try? DType(node.attr["dtype"]?.type ?? .dtInvalid),
                let argument = resourceArgument(read: node)
            else { return nil }
            return ResourceRead(argument: argument, dtype: dtype)
        }
    }

    /// Adds the function's nodes to the graph, in the current scope and control-flow context,
    /// with its arguments bound to `arguments` and each read of an argument handle to the value
    /// in `reads`. Returns the values it returns.
    func build(in graph: Graph, arguments: [Output], reads: [ResourceRead: Output]) throws(WeftError) -> [Output] {
        var values: [String: Operation] = [:]
        var bound: [String: Output] = [:]
        for (argument, value) in zip(body.arguments, arguments) { bound[argument.node] = value }
        func tensor(_ name: TensorName) throws(WeftError) -> Output {
            if let value = bound[name.node] { return value }
            guard let operation = values[name.node] else {
                throw WeftError(.invalidArgument, "function '\(self.name)' reads '\(name)' before it is computed")
            }
            return operation.output(name.index)
        }
        for node in try topologicalOrder() {
            if node.op == "ReadVariableOp", let argument = resourceArgument(read: node),
                let dtype = try? DType(node.attr["dtype"]?.type ?? .dtInvalid),
                let read = reads[ResourceRead(argument: argument, dtype: dtype)]
            {
                bound[node.name] = read
                continue
            }
            var inputs: [Output] = []
            var controls: [Operation] = []
            for input in node.input {
                if input.hasPrefix("^") {
                    if let operation = values[String(input.dropFirst())] { controls.append(operation) }
                } else {
                    inputs.append(try tensor(try TensorName(parsing: input)))
                }
            }
            var attributes = node.attr
            attributes["_class"] = nil
            values[node.name] = graph.addOperation(
                node.op,
                name: node.name,
                inputs: inputs,
                controlInputs: controls,
                attributes: attributes
            )
        }
        return try body.returns.map { (name) throws(WeftError) in try tensor(name) }
    }

    /// The body's nodes (not the arguments) with every node after its inputs.
    private func topologicalOrder() throws(WeftError) -> [Tensorflow_NodeDef] {
        let arguments = Set(body.arguments.map(\.node))
        let nodes = body.nodes.filter { !arguments.contains($0.name) }
        let positions = Dictionary(nodes.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        var waiting = [Int](repeating: 0, count: nodes.count)
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (position, node) in nodes.enumerated() {
            for input in node.input {
                let producer =
                    input.hasPrefix("^") ? String(input.dropFirst()) : (try? TensorName(parsing: input))?.node
                guard let producer, let from = positions[producer] else { continue }
                waiting[position] += 1
                consumers[from].append(position)
            }
        }
        var ready = waiting.indices.filter { waiting[$0] == 0 }
        var order: [Tensorflow_NodeDef] = []
        while let position = ready.popLast() {
            order.append(nodes[position])
            for consumer in consumers[position] {
                waiting[consumer] -= 1
                if waiting[consumer] == 0 { ready.append(consumer) }
            }
        }
        guard order.count == nodes.count else {
            throw WeftError(.invalidArgument, "the body of function '\(name)' has a cycle")
        }
        return order
    }

    /// The position of the argument handle `node` (a `ReadVariableOp`) reads, if it reads one.
    private func resourceArgument(read node: Tensorflow_NodeDef) -> Int? {
        guard node.input.count >= 1, let handle = try? TensorName(parsing: node.input[0]) else { return nil }
        return body.arguments.indices.first { body.arguments[$0] == handle && isResource[$0] }
    }

    /// Throws `unimplemented` naming the first stateful op other than a read of an argument
    /// handle, here or in the functions this one calls.
    private func checkRecomputable(
        _ graph: Graph,
        library: FunctionLibrary,
        caller: String,
        depth: Int
    ) throws(WeftError) {
        guard depth < FunctionLibrary.maximumNesting else {
            throw WeftError(
                .invalidArgument,
                "function '\(name)' nests calls more than \(FunctionLibrary.maximumNesting) deep"
            )
        }
        for node in body.nodes where !body.arguments.contains(where: { $0.node == node.name }) {
            if node.op == "ReadVariableOp", resourceArgument(read: node) != nil { continue }
            if Self.functionalOps.contains(node.op),
                try Self.checkCalled(by: node, graph, library: library, caller: caller, depth: depth + 1)
            {
                continue
            }
            guard try graph.registry.definition(of: node.op, node: node.name).isStateful else { continue }
            throw WeftError(
                .unimplemented,
                "cannot differentiate node '\(caller)': its function '\(name)' holds the stateful op '\(node.name)' "
                    + "(\(node.op)), and Weft's gradients of functional control flow run the function again; "
                    + "only variable reads may be stateful"
            )
        }
    }

    private init(name: String, body: FunctionBody, node: Tensorflow_NodeDef) {
        self.name = name
        self.body = body
        // A nested call's arguments are resources where its types say so.
        let types = node.attr["Tin"]?.list.type ?? node.attr["T"]?.list.type ?? []
        isResource = body.arguments.indices.map { types[safe: $0] == .dtResource }
    }

    /// The argument types of `function` as `node` calls it.
    private static func callTypes(
        _ node: Tensorflow_NodeDef,
        _ function: String,
        _ library: FunctionLibrary
    ) throws(WeftError) -> [DType] {
        let declared = try library.definition(named: function).signature.inputArg
        let listed = node.attr["Tin"]?.list.type ?? node.attr["T"]?.list.type ?? []
        // A functional If's branches take its inputs after the predicate, a While's take them all.
        return try declared.indices.map { (position) throws(WeftError) -> DType in
            try DType(listed[safe: position] ?? declared[position].type)
        }
    }

    /// Whether `node` calls functions of the library, all of which may run again (see
    /// `checkRecomputable`); throws `unimplemented` for one that may not. A v1 loop's body may
    /// hold such a call although the op is stateful.
    static func callsOnlyRecomputable(
        _ node: Tensorflow_NodeDef,
        in graph: Graph,
        caller: String
    ) throws(WeftError)
        -> Bool
    {
        guard functionalOps.contains(node.op), let library = graph.functions else { return false }
        return try checkCalled(by: node, graph, library: library, caller: caller, depth: 1)
    }

    /// Checks that every function `node` calls through its attributes may run again; returns
    /// whether it calls any.
    private static func checkCalled(
        by node: Tensorflow_NodeDef,
        _ graph: Graph,
        library: FunctionLibrary,
        caller: String,
        depth: Int
    ) throws(WeftError) -> Bool {
        let called = functionalAttributes.compactMap { node.attr[$0]?.func.name }.filter { !$0.isEmpty }
        for function in called {
            let body = try FunctionBody(
                try library.definition(named: function),
                inputTypes: try callTypes(node, function, library)
            )
            try InlinedFunction(name: function, body: body, node: node)
                .checkRecomputable(graph, library: library, caller: caller, depth: depth)
        }
        return !called.isEmpty
    }

    /// Ops that call functions of the library through attributes, and those attributes.
    private static let functionalOps: Set<String> = [
        "If", "StatelessIf", "While", "StatelessWhile", "PartitionedCall", "StatefulPartitionedCall",
    ]
    private static let functionalAttributes = ["then_branch", "else_branch", "cond", "body", "f"]
}

/// A read of an argument handle as a value of a type.
struct ResourceRead: Hashable {
    let argument: Int
    let dtype: DType
}
