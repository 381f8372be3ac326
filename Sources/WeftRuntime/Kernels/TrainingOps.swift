/// TensorFlow's fused optimizer updates (`ApplyAdam`, `SparseApplyMomentum`, …) on variables
/// taken by reference. The same rules, through `UpdateKernel`, serve the resource forms
/// (`ResourceApplyAdam`), which differ only in how they reach their variables.
enum TrainingOps {
    /// The ref-variable forms, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = definitions(form: .reference)

    /// Every optimizer op in `form`: dense and sparse variants of each rule that has them.
    static func definitions(form: VariableForm) -> [OpDefinition] {
        UpdateRuleSpec.all.flatMap { spec in
            var ops: [OpDefinition] = []
            if spec.hasRefForm || form.isResource {
                if let dense = spec.dense {
                    ops.append(form.definition(form.prefix + "Apply" + spec.name, dense, spec))
                }
                if let sparse = spec.sparse {
                    ops.append(form.definition(form.prefix + "SparseApply" + spec.name, sparse, spec))
                }
            }
            return ops
        }
    }
}

// MARK: - Op layouts

/// One input of an update op, in TensorFlow's input order.
enum UpdateInput: Sendable {
    /// A variable or slot (`var`, `accum`, `m`), by TensorFlow's argument name.
    case variable(String)
    /// A scalar hyperparameter (`lr`, `beta1`), by its argument name.
    case scalar(String)
    /// The gradient: the variable's shape (dense) or some of its rows (sparse).
    case gradient
    /// The rows a sparse gradient updates.
    case indices
}

/// Where an op's inputs are: the positions of its variables, scalars, gradient and indices.
struct UpdateLayout: Sendable {
    /// Positions and names of the variable inputs; the variable first, then its slots.
    var variables: [(index: Int, name: String)] = []
    /// Positions and names of the scalar inputs, in order.
    var scalars: [(index: Int, name: String)] = []
    /// Position of the gradient.
    var gradient = 0
    /// Position of the indices, for sparse ops.
    var indices: Int?

    /// Reads a TensorFlow argument list.
    init(_ inputs: [UpdateInput]) {
        for (index, input) in inputs.enumerated() {
            switch input {
            case .variable(let name): variables.append((index, name))
            case .scalar(let name): scalars.append((index, name))
            case .gradient: gradient = index
            case .indices: self.indices = index
            }
        }
    }

    /// The number of inputs.
    var inputCount: Int { variables.count + scalars.count + 1 + (indices == nil ? 0 : 1) }
}

/// An optimizer: its name (`Adam` in `ApplyAdam`), the input lists of its dense and sparse
/// ops, and how attributes choose its math.
struct UpdateRuleSpec: Sendable {
    /// The name after `Apply`.
    var name: String
    /// TensorFlow's inputs of the dense op, `nil` when there is none.
    var dense: [UpdateInput]?
    /// TensorFlow's inputs of the sparse op, `nil` when there is none.
    var sparse: [UpdateInput]?
    /// Whether TensorFlow has ref-variable forms (Keras momentum exists only for resources).
    var hasRefForm = true
    /// Whether sparse ops refuse negative hyperparameters up front (FTRL's do).
    var checksSigns = false
    /// Whether TensorFlow's CPU build registers the dense ops for `bfloat16`.
    var bfloat16Dense = true
    /// Whether it registers the sparse ops for `bfloat16`.
    var bfloat16Sparse = true
    /// The rule for a node's attributes.
    var math: @Sendable (NodeAttributes) throws(WeftError) -> UpdateMath

    private static let nesterov: @Sendable (NodeAttributes) throws(WeftError) -> Bool = {
        attributes throws(WeftError) in
        try attributes.bool("use_nesterov", default: false)
    }

    /// The optimizers Weft implements, with TensorFlow's argument orders.
    static let all: [UpdateRuleSpec] = {
        let v = UpdateInput.variable("var")
        let g = UpdateInput.gradient
        let i = UpdateInput.indices
        func s(_ name: String) -> UpdateInput { .scalar(name) }
        func slots(_ names: String...) -> [UpdateInput] { names.map { .variable($0) } }
        return [
            UpdateRuleSpec(name: "GradientDescent", dense: [v, s("alpha"), g], sparse: nil) { _ in .gradientDescent },
            UpdateRuleSpec(
                name: "ProximalGradientDescent",
                dense: [v, s("alpha"), s("l1"), s("l2"), g],
                sparse: [v, s("alpha"), s("l1"), s("l2"), g, i],
                bfloat16Dense: false,
                bfloat16Sparse: false
            ) { _ in .proximalGradientDescent },
            UpdateRuleSpec(
                name: "Adagrad",
                dense: [v] + slots("accum") + [s("lr"), g],
                sparse: [v] + slots("accum") + [s("lr"), g, i]
            ) { attributes throws(WeftError) in
                .adagrad(updateSlots: try attributes.bool("update_slots", default: true))
            },
            UpdateRuleSpec(
                name: "AdagradV2",
                dense: [v] + slots("accum") + [s("lr"), s("epsilon"), g],
                sparse: [v] + slots("accum") + [s("lr"), s("epsilon"), g, i]
            ) { attributes throws(WeftError) in
                .adagradV2(updateSlots: try attributes.bool("update_slots", default: true))
            },
            UpdateRuleSpec(
                name: "ProximalAdagrad",
                dense: [v] + slots("accum") + [s("lr"), s("l1"), s("l2"), g],
                sparse: [v] + slots("accum") + [s("lr"), s("l1"), s("l2"), g, i],
                bfloat16Dense: false,
                bfloat16Sparse: false
            ) { _ in .proximalAdagrad },
            UpdateRuleSpec(
                name: "Momentum",
                dense: [v] + slots("accum") + [s("lr"), g, s("momentum")],
                sparse: [v] + slots("accum") + [s("lr"), g, i, s("momentum")]
            ) { attributes throws(WeftError) in .momentum(nesterov: try nesterov(attributes)) },
            UpdateRuleSpec(
                name: "KerasMomentum",
                dense: [v] + slots("accum") + [s("lr"), g, s("momentum")],
                sparse: [v] + slots("accum") + [s("lr"), g, i, s("momentum")],
                hasRefForm: false
            ) { attributes throws(WeftError) in .kerasMomentum(nesterov: try nesterov(attributes)) },
            UpdateRuleSpec(
                name: "Adam",
                dense: [v] + slots("m", "v")
                    + [s("beta1_power"), s("beta2_power"), s("lr"), s("beta1"), s("beta2"), s("epsilon"), g],
                sparse: nil
            ) { attributes throws(WeftError) in .adam(nesterov: try nesterov(attributes)) },
            UpdateRuleSpec(
                name: "RMSProp",
                dense: [v] + slots("ms", "mom") + [s("lr"), s("rho"), s("momentum"), s("epsilon"), g],
                sparse: [v] + slots("ms", "mom") + [s("lr"), s("rho"), s("momentum"), s("epsilon"), g, i],
                bfloat16Sparse: false
            ) { _ in .rmsProp },
            UpdateRuleSpec(
                name: "CenteredRMSProp",
                dense: [v] + slots("mg", "ms", "mom") + [s("lr"), s("rho"), s("momentum"), s("epsilon"), g],
                sparse: [v] + slots("mg", "ms", "mom") + [s("lr"), s("rho"), s("momentum"), s("epsilon"), g, i],
                bfloat16Sparse: false
            ) { _ in .centeredRMSProp },
            UpdateRuleSpec(
                name: "Adadelta",
                dense: [v] + slots("accum", "accum_update") + [s("lr"), s("rho"), s("epsilon"), g],
                sparse: [v] + slots("accum", "accum_update") + [s("lr"), s("rho"), s("epsilon"), g, i]
            ) { _ in .adadelta },
            UpdateRuleSpec(
                name: "Ftrl",
                dense: [v] + slots("accum", "linear") + [g, s("lr"), s("l1"), s("l2"), s("lr_power")],
                sparse: [v] + slots("accum", "linear") + [g, i, s("lr"), s("l1"), s("l2"), s("lr_power")],
                checksSigns: true
            ) { attributes throws(WeftError) in
                .ftrl(
                    multiplyLinearByLR: try attributes.bool("multiply_linear_by_lr", default: false),
                    shrinkage: false
                )
            },
            UpdateRuleSpec(
                name: "FtrlV2",
                dense: [v] + slots("accum", "linear")
                    + [g, s("lr"), s("l1"), s("l2"), s("l2_shrinkage"), s("lr_power")],
                sparse: [v] + slots("accum", "linear")
                    + [g, i, s("lr"), s("l1"), s("l2"), s("l2_shrinkage"), s("lr_power")],
                checksSigns: true
            ) { attributes throws(WeftError) in
                .ftrl(multiplyLinearByLR: try attributes.bool("multiply_linear_by_lr", default: false), shrinkage: true)
            },
        ]
    }()
}

// MARK: - Variable forms

/// How an op reaches the variables it updates: by reference (`ApplyAdam`: its variable inputs
/// are `*_REF` edges and it outputs the updated variable) or through resource handles
/// (`ResourceApplyAdam`: no outputs).
struct VariableForm: Sendable {
    /// The op-name prefix: empty or `Resource`.
    var prefix: String
    /// Whether variables come as resource handles.
    var isResource: Bool
    /// The variable behind input `index`.
    var variable: @Sendable (OpKernelContext, Int) throws(WeftError) -> VariableResource

    /// Variables passed by reference; the op outputs its first variable input (`out`).
    static let reference = VariableForm(prefix: "", isResource: false) { context, index throws(WeftError) in
        try context.variable(index)
    }

    /// The definition of an optimizer op in this form.
    func definition(_ op: String, _ inputs: [UpdateInput], _ spec: UpdateRuleSpec) -> OpDefinition {
        let layout = UpdateLayout(inputs)
        return OpDefinition(
            op,
            inputCount: layout.inputCount,
            refInputs: isResource ? [] : Set(layout.variables.map(\.index)),
            isStateful: true,
            outputTypes: isResource ? OpDefinition.noOutputs : StateOps.refOfInput,
            makeKernel: { node throws(WeftError) in
                let math = try spec.math(node.attributes)
                let acceptsBFloat16 = layout.indices == nil ? spec.bfloat16Dense : spec.bfloat16Sparse
                let declared = try node.optionalType("T")
                // A dtype TensorFlow registers no kernel for fails when the graph is placed,
                // before any step runs, as in TensorFlow.
                if let declared,
                    declared == .bfloat16 && !acceptsBFloat16 || declared.isComplex && !math.isFieldArithmetic
                {
                    throw .unsupported(op: op, dtype: declared, node: node.name)
                }
                return UpdateKernel(
                    op: op,
                    layout: layout,
                    math: math,
                    checksSigns: spec.checksSigns,
                    acceptsBFloat16: acceptsBFloat16,
                    declared: declared,
                    form: self
                )
            }
        )
    }
}

// MARK: - The kernel

/// Runs one optimizer update: checks the inputs against the variables' current values, then
/// computes new values of the variable and all its slots and swaps them in together.
struct UpdateKernel: OpKernel {
    let op: String
    let layout: UpdateLayout
    let math: UpdateMath
    let checksSigns: Bool
    let acceptsBFloat16: Bool
    let declared: DType?
    let form: VariableForm

    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        var variables: [VariableResource] = []
        for (index, _) in layout.variables { variables.append(try form.variable(context, index)) }
        var scalars: [Tensor] = []
        for (index, name) in layout.scalars {
            let scalar = try context.input(index)
            guard scalar.shape.rank == 0 else {
                throw .invalidArgument("\(name) is not a scalar: \(scalar.shape)", node: context.node)
            }
            scalars.append(scalar)
        }
        let gradient = try context.input(layout.gradient)
        let indices = try layout.indices.map { (index: Int) throws(WeftError) -> Tensor in try context.input(index) }
        try checkTypes(variables, scalars, gradient, node: context.node)
        try VariableResource.update(variables) { (old: [Tensor]) throws(WeftError) -> [Tensor] in
            let rows = try checkShapes(old, gradient: gradient, indices: indices, node: context.node)
            let visitor = UpdateVisitor(
                math: math,
                old: old,
                scalars: scalars,
                scalarNames: layout.scalars.map(\.name),
                gradient: gradient,
                rows: rows,
                checksSigns: checksSigns && rows != nil,
                op: op,
                node: context.node
            )
            // bfloat16 rounds after every operation, as TensorFlow's Eigen kernels do.
            guard old[0].dtype != .bfloat16 else {
                guard acceptsBFloat16 else { throw .unsupported(op: op, dtype: .bfloat16, node: context.node) }
                return try visitor.updateOrdered(BFloat16.self)
            }
            return try old[0].dtype.visit(visitor)
        }
        return form.isResource ? [] : [.ref(variables[0])]
    }

    /// Every input must have the variable's dtype (TensorFlow's `T`).
    private func checkTypes(
        _ variables: [VariableResource],
        _ scalars: [Tensor],
        _ gradient: Tensor,
        node: String
    ) throws(WeftError) {
        let dtype = variables[0].dtype
        if let declared, declared != dtype {
            throw .invalidArgument("\(op) declares T=\(declared) but var is a \(dtype) variable", node: node)
        }
        let types =
            zip(layout.variables, variables).map { ($0.index, $1.dtype) }
            + zip(layout.scalars, scalars).map { ($0.index, $1.dtype) } + [(layout.gradient, gradient.dtype)]
        for (index, type) in types where type != dtype {
            throw .invalidArgument(
                "cannot compute \(op) as input #\(index)(zero-based) was expected to be a \(dtype) tensor but is a \(type) tensor",
                node: node
            )
        }
    }

    /// TensorFlow's shape rules; returns the rows a sparse update touches (`nil` when dense).
    private func checkShapes(
        _ old: [Tensor],
        gradient: Tensor,
        indices: Tensor?,
        node: String
    ) throws(WeftError) -> [Int]? {
        let shape = old[0].shape
        for (position, slot) in old.enumerated().dropFirst() where slot.shape != shape {
            throw .invalidArgument(
                "var and \(layout.variables[position].name) do not have the same shape\(shape) \(slot.shape)",
                node: node
            )
        }
        guard let indices else {
            guard gradient.shape == shape else {
                throw .invalidArgument("var and grad do not have the same shape\(shape) \(gradient.shape)", node: node)
            }
            return nil
        }
        guard shape.rank >= 1 else { throw .invalidArgument("var must be at least 1 dimensional", node: node) }
        guard indices.shape.rank == 1 else { throw .invalidArgument("indices must be one-dimensional", node: node) }
        guard gradient.shape.rank == shape.rank else {
            throw .invalidArgument("var and grad must have the same rank: \(shape) \(gradient.shape)", node: node)
        }
        for dimension in 1..<shape.rank where gradient.shape.dimensions[dimension] != shape.dimensions[dimension] {
            throw .invalidArgument("var and grad must match in dimension \(dimension)", node: node)
        }
        guard gradient.shape.dimensions[0] == indices.shape.dimensions[0] else {
            throw .invalidArgument("grad must be the same size as indices in the first dimension.", node: node)
        }
        let rows = try KernelChecks.indices(indices, what: "indices", node: node)
        for (offset, row) in rows.enumerated() where row < 0 || row >= shape.dimensions[0] {
            throw .invalidArgument("Index \(row) at offset \(offset) in indices is out of range", node: node)
        }
        return rows
    }
}

/// Computes the new values in the variable's element type: copies of the old values, updated
/// in place row by row (one row for a dense update).
private struct UpdateVisitor: ElementVisitor {
    let math: UpdateMath
    let old: [Tensor]
    let scalars: [Tensor]
    let scalarNames: [String]
    let gradient: Tensor
    let rows: [Int]?
    let checksSigns: Bool
    let op: String
    let node: String

    func float<T: FloatElement>(_ type: T.Type) throws(WeftError) -> [Tensor] {
        try updateOrdered(T.self)
    }

    /// TensorFlow registers complex kernels only for the rules that need no comparison.
    func complex<R: ComplexReal>(_ type: R.Type) throws(WeftError) -> [Tensor] {
        guard math.isFieldArithmetic else { throw .unsupported(op: op, dtype: R.complexDType, node: node) }
        return try update(ComplexElement<R>.self)
    }

    /// The update in a real type `T`, after sparse FTRL's checks of its hyperparameters.
    func updateOrdered<T: UpdateScalar & TensorElement>(_ type: T.Type) throws(WeftError) -> [Tensor] {
        if checksSigns { try checkSigns(scalars.map { $0.withElements(of: T.self) { $0[0] } }) }
        return try update(T.self)
    }

    /// The update in element type `T`.
    private func update<T: UpdateArithmetic & TensorElement>(_ type: T.Type) throws(WeftError) -> [Tensor] {
        let hyper = scalars.map { $0.withElements(of: T.self) { $0[0] } }
        let new = old.map { tensor in
            let copy = Tensor(uninitialized: tensor.dtype, shape: tensor.shape)
            copy.buffer.base.copyMemory(from: tensor.buffer.base, byteCount: tensor.byteCount)
            return copy
        }
        let bases = new.map { $0.buffer.base.assumingMemoryBound(to: T.self) }
        let g = gradient.buffer.base.assumingMemoryBound(to: T.self)
        func row(_ offset: Int, gradient gradientOffset: Int, count: Int) -> UpdateRow<T> {
            UpdateRow(
                variable: bases[0] + offset,
                slot1: bases[min(1, bases.count - 1)] + offset,
                slot2: bases[min(2, bases.count - 1)] + offset,
                slot3: bases[min(3, bases.count - 1)] + offset,
                gradient: UnsafePointer(g + gradientOffset),
                count: count,
                isSparseVector: rows != nil && count > 1
            )
        }
        if let rows {
            let size = old[0].shape.dimensions.dropFirst().reduce(1, *)
            for (k, index) in rows.enumerated() {
                T.update(math, row(index * size, gradient: k * size, count: size), hyper)
            }
        } else {
            T.update(math, row(0, gradient: 0, count: old[0].elementCount), hyper)
        }
        return new
    }

    /// Sparse FTRL refuses hyperparameters of the wrong sign before touching anything.
    private func checkSigns<T: UpdateScalar>(_ hyper: [T]) throws(WeftError) {
        guard case .ftrl(let multiply, _) = math else { return }
        for (name, value) in zip(scalarNames, hyper) {
            switch name {
            case "lr" where multiply ? value < 0 : value <= 0:
                throw .invalidArgument(
                    "lr is not a positive scalar (or zero if multiply_linear_by_lr is set): []",
                    node: node
                )
            case "l1" where value < 0, "l2" where value < 0:
                throw .invalidArgument("\(name) regularization strength is not a non-negative scalar: []", node: node)
            case "l2_shrinkage" where value < 0:
                throw .invalidArgument(
                    "l2 shrinkage regularization strength is not a non-negative scalar: []",
                    node: node
                )
            case "lr_power" where value > 0:
                throw .invalidArgument("lr_power is not a non-positive scalar: []", node: node)
            default: continue
            }
        }
    }
}

// MARK: - The update rules

/// One run of elements to update in place: the variable's, up to three slots' (unused ones
/// alias the variable and are never touched) and the gradient's.
struct UpdateRow<T: UpdateArithmetic> {
    /// The variable's elements.
    var variable: UnsafeMutablePointer<T>
    /// The first slot (`accum`, `m`, `ms`, `mg`).
    var slot1: UnsafeMutablePointer<T>
    /// The second slot (`v`, `mom`, `linear`, `accum_update`, `ms`).
    var slot2: UnsafeMutablePointer<T>
    /// The third slot (`mom` of centered RMSProp).
    var slot3: UnsafeMutablePointer<T>
    /// The gradient's elements.
    var gradient: UnsafePointer<T>
    /// The number of elements.
    var count: Int
    /// Whether this is a row of more than one element of a sparse update, which TensorFlow's
    /// kernels compute with vector expressions whose order of operations (so bfloat16's
    /// rounding) differs from the dense kernel's for some rules.
    var isSparseVector = false
}

/// The math of TensorFlow's optimizer kernels, in the order of operations of its CPU kernels
/// so that results round the same way. Hyperparameters come in the op's input order.
enum UpdateMath: Sendable {
    /// `var -= alpha * delta`.
    case gradientDescent
    /// A gradient step, then soft-thresholding by `alpha * l1` and shrinking by `1 + alpha * l2`.
    case proximalGradientDescent
    /// `accum += grad²` (when `updateSlots`), `var -= lr * grad / √accum`.
    case adagrad(updateSlots: Bool)
    /// Adagrad with `epsilon` added to `√accum`.
    case adagradV2(updateSlots: Bool)
    /// Adagrad's step, then proximal regularization with the per-element learning rate.
    case proximalAdagrad
    /// `accum = accum * momentum + grad`, `var -= lr * accum` (or the Nesterov look-ahead).
    case momentum(nesterov: Bool)
    /// Keras' form: `accum = accum * momentum - lr * grad`, `var += accum`.
    case kerasMomentum(nesterov: Bool)
    /// Adam with bias correction folded into the step size.
    case adam(nesterov: Bool)
    /// RMSProp with momentum.
    case rmsProp
    /// RMSProp normalized by the centered second moment.
    case centeredRMSProp
    /// Adadelta.
    case adadelta
    /// FTRL-proximal; `shrinkage` adds FtrlV2's `l2_shrinkage` input.
    case ftrl(multiplyLinearByLR: Bool, shrinkage: Bool)

    /// Whether the rule needs only field arithmetic and square roots (no comparison), so
    /// that TensorFlow also runs it on complex numbers.
    var isFieldArithmetic: Bool {
        switch self {
        case .proximalGradientDescent, .proximalAdagrad, .ftrl: false
        default: true
        }
    }

    /// Updates one row in place.
    func apply<T: UpdateScalar>(_ row: UpdateRow<T>, _ h: [T]) {
        let (v, g, n) = (row.variable, row.gradient, row.count)
        switch self {
        case .proximalGradientDescent:
            let (lr, l1, l2) = (h[0], h[1], h[2])
            for i in 0..<n {
                v[i] = Self.proximal(v[i] - g[i] * lr, threshold: lr * l1, shrink: 1 + lr * l2, l1: l1)
            }
        case .proximalAdagrad:
            let (a, lr, l1, l2) = (row.slot1, h[0], h[1], h[2])
            for i in 0..<n {
                a[i] += g[i] * g[i]
                let rate = lr / a[i].squareRoot()
                v[i] = Self.proximal(v[i] - g[i] * rate, threshold: rate * l1, shrink: 1 + l2 * rate, l1: l1)
            }
        case .ftrl(let multiply, let shrinkage):
            Self.ftrl(row, h, multiplyLinearByLR: multiply, shrinkage: shrinkage)
        default:
            applyArithmetic(row, h)
        }
    }

    /// Updates one row in place with a rule for which `isFieldArithmetic` holds; the others
    /// are `apply`'s and leave the row unchanged here.
    func applyArithmetic<T: UpdateArithmetic>(_ row: UpdateRow<T>, _ h: [T]) {
        let (v, g, n) = (row.variable, row.gradient, row.count)
        switch self {
        case .proximalGradientDescent, .proximalAdagrad, .ftrl:
            return
        case .gradientDescent:
            let alpha = h[0]
            for i in 0..<n { v[i] -= g[i] * alpha }
        case .adagrad(let updateSlots):
            let (a, lr) = (row.slot1, h[0])
            for i in 0..<n {
                if updateSlots { a[i] += g[i] * g[i] }
                v[i] -= row.isSparseVector ? lr * g[i] * a[i].reciprocalSquareRoot() : g[i] * lr / a[i].squareRoot()
            }
        case .adagradV2(let updateSlots):
            let (a, lr, epsilon) = (row.slot1, h[0], h[1])
            for i in 0..<n {
                if updateSlots { a[i] += g[i] * g[i] }
                v[i] -= g[i] * lr / (a[i].squareRoot() + epsilon)
            }
        case .momentum(let nesterov):
            let (a, lr, momentum) = (row.slot1, h[0], h[1])
            for i in 0..<n {
                a[i] = a[i] * momentum + g[i]
                v[i] -= nesterov ? g[i] * lr + a[i] * momentum * lr : a[i] * lr
            }
        case .kerasMomentum(let nesterov):
            let (a, lr, momentum) = (row.slot1, h[0], h[1])
            for i in 0..<n {
                a[i] = a[i] * momentum - g[i] * lr
                v[i] += nesterov ? a[i] * momentum - g[i] * lr : a[i]
            }
        case .adam(let nesterov):
            Self.adam(row, h, nesterov: nesterov)
        case .rmsProp:
            let (ms, mom, lr, rho, momentum, epsilon) = (row.slot1, row.slot2, h[0], h[1], h[2], h[3])
            for i in 0..<n {
                ms[i] += (g[i] * g[i] - ms[i]) * (1 - rho)
                mom[i] = mom[i] * momentum + lr * g[i] / (ms[i] + epsilon).squareRoot()
                v[i] -= mom[i]
            }
        case .centeredRMSProp:
            let (mg, ms, mom) = (row.slot1, row.slot2, row.slot3)
            let (lr, rho, momentum, epsilon) = (h[0], h[1], h[2], h[3])
            for i in 0..<n {
                ms[i] += (g[i] * g[i] - ms[i]) * (1 - rho)
                mg[i] += (g[i] - mg[i]) * (1 - rho)
                let denominator = (ms[i] - mg[i] * mg[i]) + epsilon
                mom[i] = mom[i] * momentum + lr * g[i] / denominator.squareRoot()
                v[i] -= mom[i]
            }
        case .adadelta:
            let (accum, update, lr, rho, epsilon) = (row.slot1, row.slot2, h[0], h[1], h[2])
            for i in 0..<n {
                accum[i] = accum[i] * rho + g[i] * g[i] * (1 - rho)
                // TensorFlow multiplies by the reciprocal root rather than dividing by the root.
                let step = (update[i] + epsilon).squareRoot() * (accum[i] + epsilon).reciprocalSquareRoot() * g[i]
                v[i] -= step * lr
                update[i] = update[i] * rho + step * step * (1 - rho)
            }
        }
    }

    /// Soft-thresholds `x` by `threshold` when `l1` is positive, then divides by `shrink`.
    @inline(__always)
    private static func proximal<T: UpdateScalar>(_ x: T, threshold: T, shrink: T, l1: T) -> T {
        guard l1 > 0 else { return x / shrink }
        let magnitude = Swift.max(x.magnitude - threshold, 0)
        return (x > 0 ? magnitude : x < 0 ? -magnitude : 0) / shrink
    }

    /// Adam: `alpha = lr·√(1−β₂ᵗ)/(1−β₁ᵗ)`, moments by exponential averages, then
    /// `var -= alpha·m / (√v + ε)` (Nesterov: `m` replaced by `(1−β₁)·grad + β₁·m`).
    private static func adam<T: UpdateArithmetic>(_ row: UpdateRow<T>, _ h: [T], nesterov: Bool) {
        let (v, g, m, s) = (row.variable, row.gradient, row.slot1, row.slot2)
        let (beta1Power, beta2Power, lr, beta1, beta2, epsilon) = (h[0], h[1], h[2], h[3], h[4], h[5])
        let alpha = lr * (1 - beta2Power).squareRoot() / (1 - beta1Power)
        for i in 0..<row.count {
            m[i] += (g[i] - m[i]) * (1 - beta1)
            s[i] += (g[i] * g[i] - s[i]) * (1 - beta2)
            let moment = nesterov ? g[i] * (1 - beta1) + beta1 * m[i] : m[i]
            v[i] -= moment * alpha / (s[i].squareRoot() + epsilon)
        }
    }

    /// FTRL-proximal: the accumulator grows by `grad²`, `linear` by the gradient (with FtrlV2's
    /// shrinkage) less the change of the per-coordinate rate times `var`, and `var` is the
    /// closed-form minimizer: zero where `|linear| ≤ l1`.
    private static func ftrl<T: UpdateScalar>(
        _ row: UpdateRow<T>,
        _ h: [T],
        multiplyLinearByLR: Bool,
        shrinkage: Bool
    ) {
        let (v, g, accum, linear) = (row.variable, row.gradient, row.slot1, row.slot2)
        let (lr, l1, l2) = (h[0], h[1], h[2])
        let l2Shrinkage = shrinkage ? h[3] : 0
        let power = shrinkage ? h[4] : h[3]
        // TensorFlow takes square roots for the usual -0.5, which rounds better than pow.
        let squareRoot = power == -1 / 2
        @inline(__always) func rate(_ x: T) -> T { squareRoot ? x.squareRoot() : T.pow(x, -power) }
        for i in 0..<row.count {
            let newAccum = accum[i] + g[i] * g[i]
            let shrunk = shrinkage ? g[i] + 2 * l2Shrinkage * v[i] : g[i]
            let sigma = rate(newAccum) - rate(accum[i])
            let threshold: T
            let quadratic: T
            if multiplyLinearByLR {
                linear[i] += shrunk * lr - sigma * v[i]
                threshold = l1 * lr
                quadratic = rate(newAccum) + 2 * l2 * lr
            } else {
                linear[i] += shrunk - sigma / lr * v[i]
                threshold = l1
                quadratic = rate(newAccum) / lr + 2 * l2
            }
            let l = linear[i]
            v[i] = l.magnitude > threshold ? ((l > 0 ? threshold : l < 0 ? -threshold : 0) - l) / quadratic : 0
            accum[i] = newAccum
        }
    }
}
