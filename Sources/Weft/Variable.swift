import WeftProto
import WeftRuntime

/// A variable as TensorFlow 1.x builds it, in one of its two forms, all nodes colocated with
/// the variable (`_class: loc:@name`):
/// - a reference variable: a `VariableV2` node holding the value in each session, an `Assign`
///   initializer from the initial value, and an `Identity` read (`name/read`);
/// - a resource variable (`useResource`, as `tf.compat.v1` makes with `use_resource=True` and
///   Keras always does): a `VarHandleOp`, an `AssignVariableOp` initializer and a
///   `ReadVariableOp` read (`name/Read/ReadVariableOp`).
///
/// The graph only describes the variable; every session has its own value, uninitialized
/// until that session runs the initializer. Updates and optimizers build the ops of the
/// variable's form (`AssignAdd` or `AssignAddVariableOp`, `ApplyAdam` or `ResourceApplyAdam`).
public struct Variable: Sendable, Hashable {
    /// The `VariableV2` or `VarHandleOp` node.
    public let operation: Operation
    /// The `Assign` or `AssignVariableOp` node that sets the initial value.
    public let initializer: Operation
    /// The read: the value as of when it runs.
    public let value: Output
    /// The variable's initial value.
    public let initialValue: Output

    /// `name:0`: the variable reference, or a resource variable's handle. Ops that update the
    /// variable take it; fetching a variable reads its value. Kept rather than looked up in the
    /// graph, since every fetch of the variable asks for it.
    public let output: Output
    /// The element type.
    public var dtype: DType { initialValue.dtype }
    /// The variable's node name.
    public var name: String { operation.name }
    /// Whether it is a resource variable (`VarHandleOp`).
    public var isResource: Bool { output.dtype == .resource }

    /// Makes a variable with a constant initial value, in the current default graph.
    public init(_ initialValue: some TensorConvertible, name: String = "Variable", useResource: Bool = false) {
        let tensor = Graph.current.tensor(of: initialValue)
        self.init(name: name, shape: PartialShape(tensor.shape.dimensions), useResource: useResource) {
            constant(tensor, name: "initial_value")
        }
    }

    /// Makes a variable initialised from another tensor of the graph.
    public init(initialValue: Output, shape: [Int?]? = nil, name: String = "Variable", useResource: Bool = false) {
        self.init(name: name, shape: PartialShape(shape), useResource: useResource) {
            identity(initialValue, name: "initial_value")
        }
    }

    /// Builds every node inside one `name/` scope, as TensorFlow does: `foo` itself,
    /// `foo/initial_value`, `foo/Assign` and the read. Optimizers build their slots' initial
    /// values inside that scope too (`w/Adam/Initializer/zeros`).
    init(name: String, shape: PartialShape, useResource: Bool = false, initialValue makeInitial: () -> Output) {
        if useResource {
            self = Self.resource(name: name, shape: shape, initialValue: makeInitial)
            return
        }
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
        output = operation.output(0)
        graph.recordVariable(initializer: initializer.name)
    }

    /// Builds `op(variable, value)` the way TensorFlow does: the value's helper nodes in a
    /// scope named after the op (`assign/value`), the op colocated with the variable. A
    /// resource variable's update yields a read made after it, as TensorFlow's `read_value`.
    private func update(_ op: String, name: String?, _ makeValue: () -> Output) -> Output {
        let graph = operation.graph
        return opScope(graph, name, default: op) { opName in
            let value = makeValue()
            return graph.colocate(with: operation) {
                guard isResource else {
                    var attributes: [String: Tensorflow_AttrValue] = ["T": .type(dtype), "use_locking": .bool(false)]
                    if op == "Assign" { attributes["validate_shape"] = .bool(true) }
                    return graph.addOperation(op, name: opName, inputs: [output, value], attributes: attributes).output()
                }
                let update = graph.addOperation(
                    op + "VariableOp",
                    name: opName,
                    inputs: [output, value],
                    attributes: ["dtype": .type(dtype)]
                )
                return readValue(after: update)
            }
        }
    }

    /// A resource variable's value read once `update` ran.
    func readValue(after update: Operation) -> Output {
        let graph = operation.graph
        return graph.controlDependencies(on: [update]) {
            graph.addOperation("ReadVariableOp", inputs: [output], attributes: ["dtype": .type(dtype)]).output()
        }
    }

    /// A resource variable: `VarHandleOp` (shared under its own name, as TensorFlow), the
    /// initial value, `Assign` (`AssignVariableOp`) and `Read/ReadVariableOp`.
    private static func resource(name: String, shape: PartialShape, initialValue makeInitial: () -> Output) -> Variable {
        let graph = Graph.current
        let variable = graph.nameScope(name) { () -> Variable in
            let initial = makeInitial()
            // The scope's prefix (`w/`) names the node `w` exactly; the shared name is that name.
            let prefix = BuildScope.of(graph).namePrefix
            let handle = graph.addOperation(
                "VarHandleOp",
                name: prefix,
                attributes: [
                    "dtype": .type(initial.dtype), "shape": .shape(shape), "container": .string(""),
                    "shared_name": .string(prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix),
                ]
            )
            return graph.colocate(with: handle) {
                let assign = graph.addOperation(
                    "AssignVariableOp",
                    name: "Assign",
                    inputs: [handle.output(0), initial],
                    attributes: ["dtype": .type(initial.dtype)]
                )
                let read = graph.nameScope("Read") {
                    graph.addOperation(
                        "ReadVariableOp",
                        name: "ReadVariableOp",
                        inputs: [handle.output(0)],
                        attributes: ["dtype": .type(initial.dtype)]
                    ).output()
                }
                return Variable(operation: handle, initializer: assign, value: read, initialValue: initial)
            }
        }
        graph.recordVariable(initializer: variable.initializer.name)
        return variable
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
