import Synchronization
import WeftProto
import WeftRuntime

/// A hyperparameter of an optimizer: a number, or a tensor of the graph such as a
/// learning-rate schedule of the global step.
public enum Hyperparameter: Sendable, Hashable, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral {
    /// A number: a `float32` constant in the graph, as TensorFlow makes of a Python float.
    case constant(Double)
    /// A scalar tensor of the graph.
    case tensor(Output)

    /// A number.
    public init(floatLiteral value: Double) { self = .constant(value) }
    /// A whole number.
    public init(integerLiteral value: Int) { self = .constant(Double(value)) }

    /// The value as a tensor of the current default graph, a constant named `name`.
    func output(name: String) -> Output {
        switch self {
        case .constant(let value): Weft.constant(Float(value), name: name)
        case .tensor(let tensor): tensor
        }
    }
}

/// TensorFlow 1.x's `tf.compat.v1.train.Optimizer`: builds the ops that update variables from
/// their gradients with one of the fused `Apply*` kernels, as TensorFlow does.
///
/// `applyGradients` creates the optimizer's slot variables (`w/Adam`, `w/Adam_1`, …) next to
/// each variable (same device, `_class: loc:@w`), so on a cluster they live on the variable's
/// parameter server, and builds each update in `NAME/update_VAR/` colocated with its
/// variable. An optimizer keeps its slots, so applying it again reuses them, as TensorFlow does.
///
/// The subclasses are the optimizers; this class is not meant to be used by itself.
public class Optimizer: @unchecked Sendable {  // Sendable: only `let`s of Sendable types and Mutexes.
    /// The name scope of the update ops and the suffix of slot names (`Adam`).
    public let name: String
    /// Whether updates lock their variables (TensorFlow's `use_locking`).
    public let useLocking: Bool
    /// The optimizer's hyperparameters, in the order TensorFlow's `_prepare` makes them.
    let hyperparameters: [(name: String, value: Hyperparameter)]
    /// Slot name → variable → slot variable.
    private let slots = Mutex<[String: [Variable: Variable]]>([:])
    /// Variables of the optimizer that belong to no variable (Adam's `beta1_power`), per graph.
    private let nonSlotVariables = Mutex<[NonSlotKey: Variable]>([:])

    private struct NonSlotKey: Hashable {
        var graph: ObjectIdentifier
        var name: String
    }

    init(name: String, useLocking: Bool, hyperparameters: [(name: String, value: Hyperparameter)]) {
        self.name = name
        self.useLocking = useLocking
        self.hyperparameters = hyperparameters
    }

    /// The slot names this optimizer has made, sorted (TensorFlow's `get_slot_names`).
    public var slotNames: [String] { slots.withLock { $0.keys.sorted() } }

    /// The slot `name` of `variable` (Adam's `m` is `w/Adam`), once gradients were applied.
    public func slot(_ name: String, for variable: Variable) -> Variable? {
        slots.withLock { $0[name]?[variable] }
    }

    /// Builds the op that applies dense gradients to their variables, then adds 1 to
    /// `globalStep` if given; the op is named `name`, by default the optimizer's name.
    @discardableResult
    public func applyGradients(
        _ gradients: [(Output, Variable)],
        globalStep: Variable? = nil,
        name: String? = nil
    ) -> Operation {
        applyGradients(gradients.map { (Gradient.dense($0.0), $0.1) }, globalStep: globalStep, name: name)
    }

    /// Builds the op that applies gradients, dense or sparse, to their variables (a `nil`
    /// gradient leaves its variable alone), then adds 1 to `globalStep` if given.
    ///
    /// Sparse gradients are summed per row first, then applied with the `SparseApply*` ops.
    /// Like every builder this never throws: a list without any gradient, or a variable that
    /// is not a float, is an `invalidArgument` recorded on the graph.
    @discardableResult
    public func applyGradients(
        _ gradients: [(Gradient?, Variable)],
        globalStep: Variable? = nil,
        name: String? = nil
    ) -> Operation {
        let graph = gradients.first?.1.operation.graph ?? globalStep?.operation.graph ?? Graph.current
        return graph.asDefault {
            if let failure = check(gradients) {
                graph.recordError(failure)
                return noOp(name: name ?? self.name)
            }
            let pairs = gradients.compactMap { gradient, variable in gradient.map { ($0, variable) } }
            Self.atTopLevel(of: graph) { createSlots(for: pairs.map(\.1)) }
            return graph.nameScope(name ?? self.name) {
                let scope = BuildScope.of(graph).namePrefix
                let prepared = Prepared(
                    tensors: Dictionary(
                        uniqueKeysWithValues: hyperparameters.map { ($0.name, $0.value.output(name: $0.name)) }
                    )
                )
                let updates = pairs.map { gradient, variable in
                    graph.nameScope("update_" + variable.name) {
                        graph.colocate(with: variable.operation) { update(variable, with: gradient, prepared) }
                    }
                }
                guard let globalStep else { return finish(updates, name: scope, prepared) }
                let finished = finish(updates, name: "update", prepared)
                return graph.controlDependencies(on: [finished]) {
                    graph.colocate(with: globalStep.operation) { increment(globalStep, name: scope) }
                }
            }
        }
    }

    /// TensorFlow's checks of `apply_gradients`: some gradient, and float variables only.
    private func check(_ gradients: [(Gradient?, Variable)]) -> WeftError? {
        guard !gradients.isEmpty else { return WeftError(.invalidArgument, "\(name): No variables provided.") }
        guard gradients.contains(where: { $0.0 != nil }) else {
            let names = gradients.map(\.1.name).joined(separator: ", ")
            return WeftError(.invalidArgument, "\(name): No gradients provided for any variable: [\(names)].")
        }
        for (gradient, variable) in gradients where gradient != nil {
            guard variable.dtype.isFloatingPoint || variable.dtype.isComplex else {
                return WeftError(
                    .invalidArgument,
                    "\(name): Invalid type \(variable.dtype) for \(variable.name), expected a floating-point or complex type."
                )
            }
        }
        return nil
    }

    /// One variable's update: dense, or sparse through `applySparseWithDuplicates`.
    private func update(_ variable: Variable, with gradient: Gradient, _ prepared: Prepared) -> Operation {
        switch gradient {
        case .dense(let tensor): applyDense(tensor, to: variable, prepared)
        case .sparse(let slices): applySparseWithDuplicates(slices, to: variable, prepared)
        }
    }

    /// `global_step += 1`, named as the whole training op.
    private func increment(_ globalStep: Variable, name: String) -> Operation {
        let graph = globalStep.operation.graph
        guard let one = try? Tensor(converting: [1], to: globalStep.dtype, shape: .scalar) else {
            graph.recordError(
                WeftError(
                    .invalidArgument,
                    "\(self.name): the global step '\(globalStep.name)' is \(globalStep.dtype), not a number"
                )
            )
            return noOp(name: name)
        }
        let step = constant(one, name: "Const")
        guard globalStep.isResource else {
            return graph.addOperation(
                "AssignAdd",
                name: name,
                inputs: [globalStep.output, step],
                attributes: ["T": .type(globalStep.dtype), "use_locking": .bool(false)]
            )
        }
        return graph.addOperation(
            "AssignAddVariableOp",
            name: name,
            inputs: [globalStep.output, step],
            attributes: ["dtype": .type(globalStep.dtype)]
        )
    }

    // MARK: - What each optimizer provides

    /// Creates the slots of `variables`; called at the graph's top level (TensorFlow's
    /// `init_scope`).
    func createSlots(for variables: [Variable]) {}

    /// The update of one variable by a dense gradient.
    func applyDense(_ gradient: Output, to variable: Variable, _ prepared: Prepared) -> Operation {
        preconditionFailure("every optimizer implements applyDense")
    }

    /// The update of one variable by rows whose indices are unique.
    func applySparse(_ gradient: IndexedSlices, to variable: Variable, _ prepared: Prepared) -> Operation {
        preconditionFailure("every optimizer implements applySparse or applySparseWithDuplicates")
    }

    /// The update of one variable by rows whose indices may repeat: by default the rows of
    /// one index are summed first, since adding is what a repeated index means.
    func applySparseWithDuplicates(_ gradient: IndexedSlices, to variable: Variable, _ prepared: Prepared) -> Operation
    {
        applySparse(deduplicated(gradient), to: variable, prepared)
    }

    /// The op that ends the step after every update; Adam advances its beta powers here.
    func finish(_ updates: [Operation], name: String, _ prepared: Prepared) -> Operation {
        group(updates, name: name)
    }

    // MARK: - Helpers for the optimizers

    /// The hyperparameter tensors of one `applyGradients`, made in its name scope.
    struct Prepared {
        var tensors: [String: Output]

        /// Hyperparameter `name` as `dtype`: cast when it differs, as TensorFlow does.
        func callAsFunction(_ name: String, as dtype: DType) -> Output {
            let tensor = self(name)
            return tensor.dtype == dtype ? tensor : cast(tensor, to: dtype)
        }

        /// Hyperparameter `name` as it was given.
        func callAsFunction(_ name: String) -> Output {
            guard let tensor = tensors[name] else { preconditionFailure("'\(name)' is not a hyperparameter here") }
            return tensor
        }
    }

    /// How a slot starts.
    enum SlotStart {
        case zeros, ones
        case value(Double)

        var value: Double {
            switch self {
            case .zeros: 0
            case .ones: 1
            case .value(let value): value
            }
        }

        /// TensorFlow's name for the initial value: `Initializer/zeros`.
        var nodeName: String {
            switch self {
            case .zeros: "zeros"
            case .ones: "ones"
            case .value: "Const"
            }
        }
    }

    /// The slot `slotName` of `variable`, made the first time: a variable `VAR/NAME` (made
    /// unique: `w/Adam_1`) of the variable's shape and type, colocated with it.
    @discardableResult
    func makeSlot(_ slotName: String, for variable: Variable, startingAt start: SlotStart) -> Variable {
        if let existing = slot(slotName, for: variable) { return existing }
        let graph = variable.operation.graph
        let shape = variable.declaredShape
        let created = graph.colocate(with: variable.operation) {
            Variable(name: variable.name + "/" + name, shape: shape, useResource: variable.isResource) {
                graph.nameScope("Initializer") {
                    filled(
                        shape: shape,
                        value: start.value,
                        dtype: variable.dtype,
                        like: variable.initialValue,
                        name: start.nodeName
                    )
                }
            }
        }
        slots.withLock { $0[slotName, default: [:]][variable] = created }
        return created
    }

    /// A variable of the optimizer named `name` in `first`'s graph, colocated with `first`,
    /// made once per graph.
    func nonSlotVariable(_ name: String, startingAt initial: Hyperparameter, colocatedWith first: Variable) -> Variable
    {
        let graph = first.operation.graph
        let key = NonSlotKey(graph: ObjectIdentifier(graph), name: name)
        if let existing = nonSlotVariables.withLock({ $0[key] }) { return existing }
        let created = graph.colocate(with: first.operation) {
            switch initial {
            case .constant(let value): Variable(Float(value), name: name, useResource: first.isResource)
            case .tensor(let tensor): Variable(initialValue: tensor, shape: [], name: name, useResource: first.isResource)
            }
        }
        nonSlotVariables.withLock { $0[key] = created }
        return created
    }

    /// The non-slot variable `name` of `graph`, if made.
    func nonSlotVariable(_ name: String, in graph: Graph) -> Variable? {
        nonSlotVariables.withLock { $0[NonSlotKey(graph: ObjectIdentifier(graph), name: name)] }
    }

    /// An `Apply*` or `SparseApply*` op on `inputs` (variables first, by reference), with
    /// TensorFlow's attributes; its `Resource` form when the variables are resource handles.
    func training(
        _ op: String,
        _ inputs: [Output],
        dtype: DType,
        indices: DType? = nil,
        attributes extra: [String: Tensorflow_AttrValue] = [:]
    ) -> Operation {
        var attributes: [String: Tensorflow_AttrValue] = ["T": .type(dtype), "use_locking": .bool(useLocking)]
        if let indices { attributes["Tindices"] = .type(indices) }
        attributes.merge(extra) { $1 }
        let form = inputs.first?.dtype == .resource ? "Resource" + op : op
        return Graph.current.addOperation(form, inputs: inputs, attributes: attributes)
    }

    /// `variable <op> value` (`Assign`, `AssignSub`) with this optimizer's locking; the output is
    /// the new value (a resource variable's read after the update).
    func update(_ op: String, _ variable: Variable, _ value: Output) -> Output {
        guard variable.isResource else {
            var attributes: [String: Tensorflow_AttrValue] = ["T": .type(variable.dtype), "use_locking": .bool(useLocking)]
            if op == "Assign" { attributes["validate_shape"] = .bool(true) }
            return Graph.current.addOperation(op, inputs: [variable.output, value], attributes: attributes).output()
        }
        let update = Graph.current.addOperation(
            op + "VariableOp",
            inputs: [variable.output, value],
            attributes: ["dtype": .type(variable.dtype)]
        )
        return variable.readValue(after: update)
    }

    /// `variable[indices] <op>= updates` (`ScatterAdd`, `ScatterSub`); the output is the
    /// variable's new value.
    func scatter(_ op: String, _ variable: Variable, _ indices: Output, _ updates: Output) -> Output {
        guard variable.isResource else {
            return Graph.current.addOperation(
                op,
                inputs: [variable.output, indices, updates],
                attributes: [
                    "T": .type(variable.dtype), "Tindices": .type(indices.dtype), "use_locking": .bool(useLocking),
                ]
            ).output()
        }
        let scatter = Graph.current.addOperation(
            "Resource" + op,
            inputs: [variable.output, indices, updates],
            attributes: ["dtype": .type(variable.dtype), "Tindices": .type(indices.dtype)]
        )
        return variable.readValue(after: scatter)
    }

    /// TensorFlow's `_deduplicate_indexed_slices`: one row per index, the sum of its rows.
    func deduplicated(_ slices: IndexedSlices) -> IndexedSlices {
        let graph = Graph.current
        let unique = graph.addOperation(
            "Unique",
            inputs: [slices.indices],
            attributes: ["T": .type(slices.indices.dtype), "out_idx": .type(.int32)]
        )
        let count = graph.addOperation(
            "Size",
            inputs: [unique.output(0)],
            attributes: ["T": .type(slices.indices.dtype), "out_type": .type(.int32)]
        ).output()
        let summed = graph.addOperation(
            "UnsortedSegmentSum",
            inputs: [slices.values, unique.output(1), count],
            attributes: [
                "T": .type(slices.values.dtype), "Tindices": .type(.int32), "Tnumsegments": .type(.int32),
            ]
        ).output()
        return IndexedSlices(values: summed, indices: unique.output(0), denseShape: slices.denseShape)
    }

    /// Runs `body` at the top level of `graph`: no name scope, device, colocation or control
    /// dependency of the caller (TensorFlow's `init_scope`, where slots are made).
    static func atTopLevel<R>(of graph: Graph, _ body: () -> R) -> R {
        BuildScope.$current.withValue(BuildScope(graph: ObjectIdentifier(graph))) { graph.asDefault(body) }
    }
}

extension Variable {
    /// The shape the `VariableV2` node declares.
    var declaredShape: PartialShape {
        operation.nodeDef.attr["shape"].map { PartialShape($0.shape) } ?? .unknown
    }
}

/// A tensor of `shape` full of `value`: a constant when the shape is known and small, else a
/// `Fill` (of the shape of `like` when the shape is not fully known), as TensorFlow's `zeros`.
func filled(shape: PartialShape, value: Double, dtype: DType, like: Output, name: String) -> Output {
    let graph = Graph.current
    guard let scalar = try? Tensor(converting: [value], to: dtype, shape: .scalar) else {
        graph.recordError(WeftError(.invalidArgument, "cannot make a \(dtype) tensor of \(value) for '\(name)'"))
        return constant(Float(value), name: name)
    }
    let known = shape.dimensions.flatMap { dimensions in
        dimensions.allSatisfy { $0 != nil } ? dimensions.compactMap { $0 } : nil
    }
    // TensorFlow writes a constant up to 1000 elements; a larger one would bloat the GraphDef.
    if let known, TensorShape(known).elementCount <= 1000,
        let tensor = try? Tensor(
            converting: [Double](repeating: value, count: TensorShape(known).elementCount),
            to: dtype,
            shape: TensorShape(known)
        )
    {
        return constant(tensor, name: name)
    }
    return opScope(graph, name, default: name) { opName in
        let dims: Output
        if let known {
            dims = constant(known.map { Int32(clamping: $0) }, name: "shape_as_tensor")
        } else {
            dims = graph.addOperation(
                "Shape",
                inputs: [like],
                attributes: ["T": .type(like.dtype), "out_type": .type(.int32)]
            ).output()
        }
        return graph.addOperation(
            "Fill",
            name: opName,
            inputs: [dims, constant(scalar, name: "Const")],
            attributes: ["T": .type(dtype), "index_type": .type(.int32)]
        ).output()
    }
}
