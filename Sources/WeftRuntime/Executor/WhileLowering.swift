import Foundation
import WeftProto

/// Lowers functional `While` loops to dataflow loops, as TensorFlow's `LowerFunctionalOpsPass`
/// does for the nodes it marks `_lower_using_switch_merge`: the condition and the body are
/// inlined between `Enter`, `Merge`, `Switch`, `Exit` and `NextIteration` nodes, so the loop runs
/// in the executor's frames (on one thread when its kernels are quick) instead of as two nested
/// steps per iteration. The node keeps its name as an `IdentityN` of the exits, so its outputs
/// and control edges mean what they did.
///
/// A loop stays functional when lowering could change it: no loop variables, a condition that
/// does not return a bool, or no free scope for the inlined nodes' names.
enum WhileLowering {
    /// `defs` with every marked `While` lowered, inlined bodies included.
    static func lower(_ defs: [Tensorflow_NodeDef], functions: FunctionLibrary?) throws(WeftError) -> [Tensorflow_NodeDef] {
        guard let functions, defs.contains(where: isMarked) else { return defs }
        var names = Set(defs.map(\.name))
        var pending = defs
        var lowered: [Tensorflow_NodeDef] = []
        var next = 0
        while next < pending.count {
            let def = pending[next]
            next += 1
            if isMarked(def), let replacement = try loop(def, functions: functions, taken: names) {
                for node in replacement where node.name != def.name { names.insert(node.name) }
                pending.append(contentsOf: replacement)
            } else {
                lowered.append(def)
            }
        }
        return lowered
    }

    private static func isMarked(_ def: Tensorflow_NodeDef) -> Bool {
        ["While", "StatelessWhile"].contains(def.op) && def.attr["_lower_using_switch_merge"]?.b == true
    }

    /// The nodes that replace loop `def`, or `nil` to keep it functional.
    private static func loop(
        _ def: Tensorflow_NodeDef,
        functions: FunctionLibrary,
        taken: Set<String>
    ) throws(WeftError) -> [Tensorflow_NodeDef]? {
        let types = def.attr["T"]?.list.type ?? []
        let data = def.input.filter { !$0.hasPrefix("^") }
        guard !types.isEmpty, data.count == types.count,
            let condName = def.attr["cond"]?.func.name, let bodyName = def.attr["body"]?.func.name
        else { return nil }
        let condition = try functions.definition(named: condName)
        let body = try functions.definition(named: bodyName)
        guard condition.signature.outputArg.count == 1, condition.signature.outputArg[0].type == .dtBool,
            condition.signature.inputArg.count == types.count, body.signature.inputArg.count == types.count,
            body.signature.outputArg.count == types.count
        else { return nil }
        let dtypes = try types.map { (type) throws(WeftError) in try DType(type) }
        // TensorFlow's own nodes may hold the names under the loop's (its `Identity` outputs
        // do), so the lowered nodes take the first scope whose names are all free.
        for attempt in 0..<scopeAttempts {
            let scope = attempt == 0 ? def.name : "\(def.name)/_lowered_\(attempt)"
            let nodes = try lowered(
                def,
                scope: scope,
                condition: condition,
                body: body,
                types: types,
                dtypes: dtypes,
                functions: functions
            )
            if nodes.allSatisfy({ $0.name == def.name || !taken.contains($0.name) }) { return nodes }
        }
        return nil
    }

    private static let scopeAttempts = 4

    /// The nodes of loop `def` lowered, named under `scope`.
    private static func lowered(
        _ def: Tensorflow_NodeDef,
        scope: String,
        condition: Tensorflow_FunctionDef,
        body: Tensorflow_FunctionDef,
        types: [Tensorflow_DataType],
        dtypes: [DType],
        functions: FunctionLibrary
    ) throws(WeftError) -> [Tensorflow_NodeDef] {
        let data = def.input.filter { !$0.hasPrefix("^") }
        var builder = LoopBuilder(def: def, scope: scope, types: types)
        let merges = (0..<types.count).map { builder.merge($0, input: data[$0]) }
        let cond = try builder.inline(condition, registry: functions.registry, prefix: "cond", inputTypes: dtypes, arguments: merges, pivot: merges[0])
        let switches = builder.switches(predicate: cond.returns[0], controls: cond.controls)
        let bodyInputs = (0..<types.count).map { builder.identity($0, of: switches[$0]) }
        let stepped = try builder.inline(body, registry: functions.registry, prefix: "body", inputTypes: dtypes, arguments: bodyInputs, pivot: bodyInputs[0])
        builder.close(returns: stepped.returns, controls: stepped.controls, switches: switches)
        return builder.nodes
    }
}

/// Builds the dataflow form of one `While` node.
private struct LoopBuilder {
    private(set) var nodes: [Tensorflow_NodeDef] = []
    private let def: Tensorflow_NodeDef
    /// What the lowered nodes' names start with.
    private let scope: String
    private let types: [Tensorflow_DataType]

    init(def: Tensorflow_NodeDef, scope: String, types: [Tensorflow_DataType]) {
        self.def = def
        self.scope = scope
        self.types = types
    }

    private func name(_ suffix: String) -> String { "\(scope)/\(suffix)" }

    private mutating func add(_ op: String, _ suffix: String, _ inputs: [String], type: Int?) -> String {
        var node = Tensorflow_NodeDef()
        node.name = name(suffix)
        node.op = op
        node.input = inputs
        node.device = def.device
        if let type { node.attr["T"] = .with { $0.type = types[type] } }
        nodes.append(node)
        return node.name
    }

    /// `Enter` of loop variable `index` (after the loop's control inputs) and its `Merge` with
    /// the `NextIteration` that `close` adds.
    mutating func merge(_ index: Int, input: String) -> String {
        let controls = def.input.filter { $0.hasPrefix("^") }
        let enter = add("Enter", "Enter_\(index)", [input] + controls, type: index)
        nodes[nodes.count - 1].attr["frame_name"] = .with { $0.s = Data(def.name.utf8) }
        nodes[nodes.count - 1].attr["is_constant"] = .with { $0.b = false }
        let parallel = def.attr["parallel_iterations"]?.i ?? 10
        nodes[nodes.count - 1].attr["parallel_iterations"] = .with { $0.i = parallel > 0 ? parallel : 10 }
        let merge = add("Merge", "Merge_\(index)", [enter, name("NextIteration_\(index)")], type: index)
        nodes[nodes.count - 1].attr["N"] = .with { $0.i = 2 }
        return merge
    }

    /// `LoopCond` of the condition's value, and a `Switch` of each merged variable on it.
    mutating func switches(predicate: String, controls: [String]) -> [String] {
        let loopCond = add("LoopCond", "LoopCond", [predicate] + controls.map { "^" + $0 }, type: nil)
        return types.indices.map { add("Switch", "Switch_\($0)", [name("Merge_\($0)"), loopCond], type: $0) }
    }

    /// The body's view of a variable: the `Switch`'s output taken while the loop goes on.
    mutating func identity(_ index: Int, of switched: String) -> String {
        add("Identity", "Identity_\(index)", ["\(switched):1"], type: index)
    }

    /// The `NextIteration` of each variable (after the body's control returns), the `Exit`s, and
    /// the node of the loop's name passing the exits on.
    mutating func close(returns: [String], controls: [String], switches: [String]) {
        for index in types.indices {
            _ = add("NextIteration", "NextIteration_\(index)", [returns[index]] + controls.map { "^" + $0 }, type: index)
        }
        let exits = types.indices.map { add("Exit", "Exit_\($0)", [switches[$0]], type: $0) }
        var output = Tensorflow_NodeDef()
        output.name = def.name
        output.op = "IdentityN"
        output.input = exits
        output.device = def.device
        output.attr["T"] = .with { $0.list.type = types }
        nodes.append(output)
    }

    /// Inlines `function` with its arguments bound to `arguments`; nodes without inputs wait for
    /// `pivot`, so they run in the loop's frame, once per iteration. Returns its return values
    /// and control returns as names in the graph.
    mutating func inline(
        _ function: Tensorflow_FunctionDef,
        registry: OpRegistry,
        prefix: String,
        inputTypes: [DType],
        arguments: [String],
        pivot: String
    ) throws(WeftError) -> (returns: [String], controls: [String]) {
        let body = try FunctionBody(function, inputTypes: inputTypes)
        // Every stateful node runs once per iteration, as in a call of the function, and before
        // the next iteration starts.
        let effects = body.nodes.filter { node in
            !body.arguments.contains { $0.node == node.name }
                && (OpOutputArgs.isStateful(node.op) ?? ((try? registry.definition(of: node.op, node: node.name))?.isStateful ?? false))
        }.map(\.name)
        var bound: [String: String] = [:]
        for (argument, tensor) in zip(body.arguments, arguments) { bound[argument.node] = tensor }
        func rename(_ node: String) -> String { name("\(prefix)/\(node)") }
        func tensor(_ name: TensorName) -> String {
            if let value = bound[name.node] { return value }
            return name.index == 0 ? rename(name.node) : "\(rename(name.node)):\(name.index)"
        }
        for var node in body.nodes where bound[node.name] == nil {
            node.name = rename(node.name)
            if node.device.isEmpty { node.device = def.device }
            node.input = node.input.map { input in
                if input.hasPrefix("^") { return "^" + rename(String(input.dropFirst())) }
                guard let parsed = try? TensorName(parsing: input) else { return input }
                return tensor(parsed)
            }
            if node.input.isEmpty { node.input = ["^" + pivot] }
            nodes.append(node)
        }
        return (body.returns.map(tensor), Array(Set(body.controlReturns + effects)).sorted().map(rename))
    }
}
