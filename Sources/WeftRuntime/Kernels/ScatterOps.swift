/// `ScatterUpdate`, `ScatterAdd`, … : combine rows of a variable chosen by `indices` with
/// `updates`, in place. The resource forms (`ResourceScatterAdd`) share the kernel.
enum ScatterOps {
    /// The ref-variable forms, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = definitions(form: .reference)

    /// Every scatter op in `form`.
    static func definitions(form: VariableForm) -> [OpDefinition] {
        ScatterOp.allCases.map { operation in
            let op = form.prefix + "Scatter" + operation.name
            return OpDefinition(
                op,
                inputCount: 3,
                refInputs: form.isResource ? [] : [0],
                isStateful: true,
                outputTypes: form.isResource ? OpDefinition.noOutputs : StateOps.refOfInput,
                makeKernel: { _ in
                    ClosureKernel { context throws(WeftError) in
                        let variable = try form.variable(context, 0)
                        let indices = try context.input(1)
                        let updates = try context.input(2)
                        var failure: WeftError?
                        _ = try variable.update { (old: Tensor) throws(WeftError) -> Tensor in
                            let result = try operation.apply(
                                old,
                                indices: indices,
                                updates: updates,
                                op: op,
                                node: context.node
                            )
                            failure = result.failure
                            return result.value
                        }
                        if let failure { throw failure }
                        return form.isResource ? [] : [.ref(variable)]
                    }
                }
            )
        }
    }
}

/// How a scatter combines a variable's element with an update. Repeated indices apply in
/// order: they accumulate, and for `update` the last one wins.
enum ScatterOp: Sendable, CaseIterable {
    /// Replaces the element.
    case update
    /// Adds the update.
    case add
    /// Subtracts the update.
    case sub
    /// Multiplies by the update.
    case mul
    /// Divides by the update.
    case div
    /// Keeps the smaller; a NaN update never replaces an element, as in TensorFlow.
    case min
    /// Keeps the larger; a NaN update never replaces an element.
    case max

    /// The name after `Scatter`.
    var name: String {
        switch self {
        case .update: "Update"
        case .add: "Add"
        case .sub: "Sub"
        case .mul: "Mul"
        case .div: "Div"
        case .min: "Min"
        case .max: "Max"
        }
    }

    /// `params` with rows `indices` combined with `updates` (of shape `indices.shape +
    /// params.shape[1:]`, or a scalar for every element), as a new tensor. Like TensorFlow,
    /// an index out of range stops the scatter there: the rows before it stay updated, and
    /// the error comes back with that value for the variable to keep.
    func apply(
        _ params: Tensor,
        indices: Tensor,
        updates: Tensor,
        op: String,
        node: String
    ) throws(WeftError) -> (value: Tensor, failure: WeftError?) {
        guard params.shape.rank >= 1 else {
            throw .invalidArgument("params must be at least 1-D, got shape \(params.shape)", node: node)
        }
        let expected = indices.shape.dimensions + params.shape.dimensions.dropFirst()
        guard updates.shape.rank == 0 || updates.shape.dimensions == expected else {
            throw .invalidArgument(
                "Must have updates.shape = indices.shape + params.shape[1:] or updates.shape = [], got updates.shape \(updates.shape), indices.shape \(indices.shape), params.shape \(params.shape)",
                node: node
            )
        }
        try KernelChecks.dtype(updates, input: 2, expected: params.dtype, op: op, node: node)
        let rows = try KernelChecks.indices(indices, what: "indices", node: node)
        let limit = params.shape.dimensions[0]
        var failure: WeftError?
        var valid = rows[...]
        if let position = rows.firstIndex(where: { $0 < 0 || $0 >= limit }) {
            failure = .invalidArgument("indices[\(position)] = \(rows[position]) is not in [0, \(limit))", node: node)
            valid = rows[..<position]
        }
        guard !valid.isEmpty else { return (params, failure) }
        if params.dtype == .string, self == .update {
            return (try replacingStrings(params, rows: valid, updates: updates), failure)
        }
        let out = Tensor(uninitialized: params.dtype, shape: params.shape)
        out.buffer.base.copyMemory(from: params.buffer.base, byteCount: params.byteCount)
        let visitor = Visitor(operation: self, out: out, rows: valid, updates: updates, op: op, node: node)
        // bfloat16 rounds every combination, as TensorFlow's Eigen kernels do (see BFloat16Updates).
        if params.dtype == .bfloat16 { visitor.ordered(BFloat16.self) } else { try params.dtype.visit(visitor) }
        return (out, failure)
    }

    /// `ScatterUpdate` of a `string` variable: strings are values beside the buffer, so the
    /// rows are replaced in an array of them.
    private func replacingStrings(_ params: Tensor, rows: ArraySlice<Int>, updates: Tensor) throws(WeftError) -> Tensor
    {
        let size = params.shape.dimensions.dropFirst().reduce(1, *)
        let source = updates.strings
        var values = params.strings
        for (k, row) in zip(rows.indices, rows) {
            for j in 0..<size { values[row * size + j] = source[updates.shape.rank == 0 ? 0 : k * size + j] }
        }
        return try Tensor(strings: values, shape: params.shape)
    }

    private struct Visitor: ElementVisitor {
        let operation: ScatterOp
        let out: Tensor
        let rows: ArraySlice<Int>
        let updates: Tensor
        let op: String
        let node: String

        func float<T: FloatElement>(_ type: T.Type) { ordered(T.self) }

        /// The combinations on a real floating-point type, `bfloat16` included.
        func ordered<T: UpdateScalar & TensorElement>(_ type: T.Type) {
            switch operation {
            case .update: run(T.self) { _, u in u }
            case .add: run(T.self) { $0 + $1 }
            case .sub: run(T.self) { $0 - $1 }
            case .mul: run(T.self) { $0 * $1 }
            case .div: run(T.self) { $0 / $1 }
            case .min: run(T.self) { p, u in u < p ? u : p }
            case .max: run(T.self) { p, u in u > p ? u : p }
            }
        }

        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) {
            switch operation {
            case .update: run(T.self) { _, u in u }
            case .add: run(T.self) { $0 &+ $1 }
            case .sub: run(T.self) { $0 &- $1 }
            case .mul: run(T.self) { $0 &* $1 }
            case .div:
                // TensorFlow's kernel would trap on a zero divisor; Weft refuses it instead.
                if !rows.isEmpty, updates.withElements(of: T.self, { $0.contains(0) }) {
                    throw .invalidArgument("Integer division by zero", node: node)
                }
                run(T.self) { $0.dividedReportingOverflow(by: $1).partialValue }
            case .min: run(T.self) { Swift.min($0, $1) }
            case .max: run(T.self) { Swift.max($0, $1) }
            }
        }

        func bool() throws(WeftError) {
            guard operation == .update else { throw .unsupported(op: op, dtype: .bool, node: node) }
            run(Bool.self) { _, u in u }
        }

        /// Combines each indexed row of `out` with its row of updates (or the scalar update).
        @inline(__always)
        private func run<T: TensorElement>(_ type: T.Type, _ combine: (T, T) -> T) {
            let size = out.shape.dimensions.dropFirst().reduce(1, *)
            let scalar = updates.shape.rank == 0
            out.withMutableElements(of: T.self) { params in
                updates.withElements(of: T.self) { u in
                    for (k, row) in zip(rows.indices, rows) {
                        let base = row * size
                        if scalar {
                            for j in 0..<size { params[base + j] = combine(params[base + j], u[0]) }
                        } else {
                            let source = k * size
                            for j in 0..<size { params[base + j] = combine(params[base + j], u[source + j]) }
                        }
                    }
                }
            }
        }
    }
}
