import Foundation
import WeftProto
import WeftRuntime

/// The builder state that nested blocks change: name scope, device, colocation and control
/// dependencies. Task-local, so concurrent tasks building into one graph do not interfere.
struct BuildScope: Sendable {
    var graph: ObjectIdentifier?
    /// `""` or a prefix ending in `/`.
    var namePrefix = ""
    var device: String?
    var colocation: [String] = []
    var controlInputs: [String] = []
    /// The cond branch or while loop being built, if any.
    var controlFlow: ControlFlowContext?

    @TaskLocal static var current = BuildScope()

    /// The scope for `graph`: blocks entered for another graph do not apply.
    static func of(_ graph: Graph) -> BuildScope {
        current.graph == ObjectIdentifier(graph) ? current : BuildScope(graph: ObjectIdentifier(graph))
    }
}

extension Graph {
    private func withScope<R>(_ change: (inout BuildScope) -> Void, _ body: () throws -> R) rethrows -> R {
        var scope = BuildScope.of(self)
        change(&scope)
        return try BuildScope.$current.withValue(scope) { try body() }
    }

    /// Prefixes the names of ops built in `body` with `name/`, made unique like TensorFlow's
    /// `tf.name_scope` (`layer`, then `layer_1`). An empty name resets to the top level.
    public func nameScope<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
        let prefix = BuildScope.of(self).namePrefix
        let scoped = name.isEmpty ? "" : uniqueName(prefix + name) + "/"
        return try withScope({ $0.namePrefix = scoped }, body)
    }

    /// Places the ops built in `body` on `device` (`/job:ps/task:0`); an empty string clears it.
    public func device<R>(_ device: String, _ body: () throws -> R) rethrows -> R {
        try withScope({ $0.device = device.isEmpty ? nil : device }, body)
    }

    /// Colocates the ops built in `body` with `operation`: same device, recorded in `_class` as
    /// `loc:@name`, the way TensorFlow keeps a variable's ops with the variable.
    public func colocate<R>(with operation: Operation, _ body: () throws -> R) rethrows -> R {
        let device = operation.device
        return try withScope(
            { scope in
                scope.colocation = operation.colocationGroups
                if !device.isEmpty { scope.device = device }
            },
            body
        )
    }

    /// Makes every op built in `body` run after `operations`.
    public func controlDependencies<R>(on operations: [Operation], _ body: () throws -> R) rethrows -> R {
        try withScope({ $0.controlInputs += operations.map(\.name) }, body)
    }

    /// The full name for a new op: the scope prefix plus `name`, made unique.
    func scopedName(_ name: String?, default fallback: String) -> String {
        let scope = BuildScope.of(self)
        guard let name, name.hasSuffix("/") else {
            return uniqueName(scope.namePrefix + (name ?? fallback))
        }
        // A name ending in `/` is a scope already made unique: TensorFlow's convention.
        return String(name.dropLast())
    }

    /// Builds and adds a node with the scope's device, colocation and control dependencies.
    @discardableResult
    func addOperation(
        _ op: String,
        name: String? = nil,
        default fallback: String? = nil,
        inputs: [Output] = [],
        controlInputs: [Operation] = [],
        attributes: [String: Tensorflow_AttrValue] = [:]
    ) -> Operation {
        let scope = BuildScope.of(self)
        let context = scope.controlFlow
        let inputs = context.map { context in inputs.map { context.value(of: $0) } } ?? inputs
        var node = Tensorflow_NodeDef()
        node.name = scopedName(name, default: fallback ?? op)
        node.op = op
        node.input = inputs.map { input in
            input.index == 0 ? input.operation.name : "\(input.operation.name):\(input.index)"
        }
        if let foreign = inputs.first(where: { $0.operation.graph !== self }) {
            recordError(
                WeftError(
                    .invalidArgument,
                    "while building node '\(node.name)' (\(op)): its input '\(foreign)' belongs to another graph"
                )
            )
        }
        var controls = (scope.controlInputs + controlInputs.map(\.name)).filter { control in
            !inputs.contains { $0.operation.name == control }
        }
        if let context {
            if let error = context.checkControls(controls, node: node.name) { recordError(error) }
            controls += context.extraControls(inputs: inputs, controls: controls)
        }
        var seen = Set<String>()
        node.input += controls.filter { seen.insert($0).inserted }.map { "^" + $0 }
        node.device = scope.device ?? ""
        node.attr = attributes
        if !scope.colocation.isEmpty {
            node.attr["_class"] = .strings(scope.colocation.map { "loc:@" + $0 })
        }
        let types = inputs.map { input in
            outputTypes(of: input.operation.name)[safe: input.index] ?? OutputType(input.dtype)
        }
        let operation = addNode(node, inputTypes: types)
        context?.add(operation)
        return operation
    }

    /// Runs `body` with `context` as the control-flow context ops join.
    func withControlFlow<R>(_ context: ControlFlowContext?, _ body: () throws -> R) rethrows -> R {
        try withScope({ $0.controlFlow = context }, body)
    }

    /// The control-flow context ops built now join.
    var currentControlFlow: ControlFlowContext? { BuildScope.of(self).controlFlow }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

extension Tensorflow_AttrValue {
    static func type(_ dtype: DType) -> Self { with { $0.type = dtype.proto } }
    static func bool(_ flag: Bool) -> Self { with { $0.b = flag } }
    static func int(_ value: Int) -> Self { with { $0.i = Int64(value) } }
    static func string(_ value: String) -> Self { with { $0.s = Data(value.utf8) } }
    static func ints(_ values: [Int]) -> Self { with { $0.list.i = values.map(Int64.init) } }
    static func strings(_ values: [String]) -> Self { with { $0.list.s = values.map { Data($0.utf8) } } }
    static func shape(_ shape: PartialShape) -> Self { with { $0.shape = shape.proto } }
    static func tensor(_ tensor: Tensor) -> Self { with { $0.tensor = tensor.proto } }
}
