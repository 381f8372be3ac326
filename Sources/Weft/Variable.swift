import WeftProto
import WeftRuntime

/// A variable as TensorFlow 1.x builds it: a `VariableV2` node holding the value in each
/// session, an `Assign` initializer from the initial value, and an `Identity` read, all
/// colocated with the variable (`_class: loc:@name`).
///
/// The graph only describes the variable; every session has its own value, uninitialized
/// until that session runs the initializer.
public struct Variable: Sendable, Hashable {
    /// The `VariableV2` node.
    public let operation: Operation
    /// The `Assign` node that sets the initial value.
    public let initializer: Operation
    /// The `Identity` read (`name/read:0`): the value as of when it runs.
    public let value: Output
    /// The variable's initial value.
    public let initialValue: Output

    /// The variable reference, `name:0`; fetching it reads the current value.
    public var output: Output { operation.output(0) }
    /// The element type.
    public var dtype: DType { initialValue.dtype }
    /// The variable's node name.
    public var name: String { operation.name }

    /// Makes a variable with a constant initial value, in the current default graph.
    public init(_ initialValue: some TensorConvertible, name: String = "Variable") {
        let tensor = initialValue.tensor
        self.init(name: name, shape: PartialShape(tensor.shape.dimensions)) { constant(tensor, name: "initial_value") }
    }

    /// Makes a variable initialised from another tensor of the graph.
    public init(initialValue: Output, shape: [Int?]? = nil, name: String = "Variable") {
        self.init(name: name, shape: PartialShape(shape)) { identity(initialValue, name: "initial_value") }
    }

    /// Builds every node inside one `name/` scope, as TensorFlow does: `foo` itself,
    /// `foo/initial_value`, `foo/Assign` and `foo/read`. Optimizers build their slots' initial
    /// values inside that scope too (`w/Adam/Initializer/zeros`).
    init(name: String, shape: PartialShape, initialValue makeInitial: () -> Output) {
        let graph = Graph.current
        let nodes = graph.nameScope(name) { () -> (Operation, Output, Operation, Output) in
            let initial = makeInitial()
            let operation = graph.addOperation(
                "VariableV2",
                name: BuildScope.of(graph).namePrefix,
                attributes: [
                    "dtype": .type(initial.dtype), "shape": .shape(shape), "container": .string(""),
                    "shared_name": .string(""),
                ]
            )
            return graph.colocate(with: operation) {
                let assign = graph.addOperation(
                    "Assign",
                    name: "Assign",
                    inputs: [operation.output(0), initial],
                    attributes: [
                        "T": .type(initial.dtype), "use_locking": .bool(true),
                        "validate_shape": .bool(shape.dimensions != nil),
                    ]
                )
                return (operation, initial, assign, identity(operation.output(0), name: "read"))
            }
        }
        (operation, initialValue, initializer, value) = nodes
        graph.recordVariable(initializer: initializer.name)
    }

    /// Builds `op(variable, value)` the way TensorFlow does: the value's helper nodes in a
    /// scope named after the op (`assign/value`), the op colocated with the variable.
    private func update(_ op: String, name: String?, _ makeValue: () -> Output) -> Output {
        let graph = operation.graph
        return opScope(graph, name, default: op) { opName in
            let value = makeValue()
            var attributes: [String: Tensorflow_AttrValue] = ["T": .type(dtype), "use_locking": .bool(false)]
            if op == "Assign" { attributes["validate_shape"] = .bool(true) }
            return graph.colocate(with: operation) {
                graph.addOperation(op, name: opName, inputs: [output, value], attributes: attributes).output()
            }
        }
    }

    /// An `Assign` that sets the variable to `value` and yields the new value.
    public func assign(_ value: Output, name: String? = nil) -> Output { update("Assign", name: name) { value } }
    /// An `Assign` of a constant (the constant is named `name/value`, as TensorFlow does).
    public func assign(_ value: some TensorConvertible, name: String? = nil) -> Output {
        update("Assign", name: name) { constant(value, name: "value") }
    }
    /// An `AssignAdd`: variable += `value`.
    public func assignAdd(_ value: Output, name: String? = nil) -> Output { update("AssignAdd", name: name) { value } }
    /// An `AssignAdd` of a constant.
    public func assignAdd(_ value: some TensorConvertible, name: String? = nil) -> Output {
        update("AssignAdd", name: name) { constant(value, name: "value") }
    }
    /// An `AssignSub`: variable -= `value`.
    public func assignSub(_ value: Output, name: String? = nil) -> Output { update("AssignSub", name: name) { value } }
    /// An `AssignSub` of a constant.
    public func assignSub(_ value: some TensorConvertible, name: String? = nil) -> Output {
        update("AssignSub", name: name) { constant(value, name: "value") }
    }
}

/// A `NoOp` named `init` that runs every variable initializer of the current default graph.
@discardableResult
public func globalVariablesInitializer(name: String = "init") -> Operation {
    let graph = Graph.current
    return graph.addOperation(
        "NoOp",
        name: name,
        controlInputs: graph.variableInitializers.map { Operation(graph: graph, name: $0) }
    )
}
