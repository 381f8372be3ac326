/// Optionals (`tf.experimental.Optional`): a scalar `variant` holding a list of tensors or
/// nothing. Control flow v2 wraps a branch's intermediates in optionals so the gradient of an
/// `If` can read them (`OptionalFromValue` in the branch, `OptionalGetValue` in its gradient).
enum OptionalOps {
    static let definitions: [OpDefinition] = [
        OpDefinition(
            "OptionalFromValue",
            inputCount: nil,
            isExpensive: false,
            outputTypes: { node, inputs throws(WeftError) in
                let declared = try FunctionalOps.types(node, "Toutput_types")
                guard declared == inputs.map(\.dtype) else {
                    throw WeftError(
                        .invalidArgument,
                        "node '\(node.name)' (OptionalFromValue): its inputs are \(inputs.map(\.dtype)), but Toutput_types is \(declared)"
                    )
                }
                return [OutputType(.variant)]
            },
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let components = try context.inputs.map { (value) throws(WeftError) in try value.read() }
                    return [.tensor(try Tensor(variants: [OptionalVariant(components)], shape: []))]
                }
            }
        ),
        OpDefinition(
            "OptionalNone",
            inputCount: 0,
            isExpensive: false,
            outputTypes: { _, _ in [OutputType(.variant)] },
            makeKernel: { _ in
                ClosureKernel { _ throws(WeftError) in
                    [.tensor(try Tensor(variants: [OptionalVariant(nil)], shape: []))]
                }
            }
        ),
        OpDefinition(
            "OptionalHasValue",
            inputCount: 1,
            isExpensive: false,
            outputTypes: { _, _ in [OutputType(.bool)] },
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let optional = try optional(context, op: "OptionalHasValue")
                    return [.tensor(Tensor(optional.components != nil))]
                }
            }
        ),
        OpDefinition(
            "OptionalGetValue",
            inputCount: 1,
            isExpensive: false,
            outputTypes: { node, _ throws(WeftError) in
                try FunctionalOps.types(node, "output_types").map { OutputType($0) }
            },
            makeKernel: { node throws(WeftError) in
                let types = try FunctionalOps.types(node, "output_types")
                let shapes = try shapeList(node, "output_shapes", count: types.count)
                return ClosureKernel { context throws(WeftError) in
                    try value(of: try optional(context, op: "OptionalGetValue"), types: types, shapes: shapes)
                        .map(Value.tensor)
                }
            }
        ),
    ]

    /// The optional in the node's scalar `variant` input.
    private static func optional(_ context: OpKernelContext, op: String) throws(WeftError) -> OptionalVariant {
        let input = try context.input(0)
        guard input.dtype == .variant, input.shape.rank == 0 else {
            throw WeftError(
                .invalidArgument,
                "Input to \(op) must be a scalar tensor containing an OptionalVariant object (node '\(context.node)')"
            )
        }
        guard let optional = input.variants.first as? OptionalVariant else {
            throw WeftError(
                .invalidArgument,
                "Input tensor must contain an OptionalVariant object (node '\(context.node)')"
            )
        }
        return optional
    }

    /// The optional's components, checked against the declared types and shapes.
    private static func value(
        of optional: OptionalVariant,
        types: [DType],
        shapes: [PartialShape]
    ) throws(WeftError) -> [Tensor] {
        guard let components = optional.components else {
            throw WeftError(.invalidArgument, "The given optional does not have a value.")
        }
        guard components.count == types.count else {
            throw WeftError(
                .invalidArgument,
                "The given optional does not match the expected number of components. Expected: \(types.count). Actual: \(components.count)."
            )
        }
        for (position, component) in components.enumerated() {
            guard component.dtype == types[position] else {
                throw WeftError(
                    .invalidArgument,
                    "The given optional does not match the expected type for component \(position). Expected: \(types[position]). Actual: \(component.dtype)."
                )
            }
            guard shapes[position].isCompatible(with: component.shape) else {
                throw WeftError(
                    .invalidArgument,
                    "The given optional does not match the expected shape for component \(position). Expected: \(shapes[position]). Actual: \(component.shape)."
                )
            }
        }
        return components
    }

    /// A `list(shape)` attribute of `count` entries; all unknown when absent or empty.
    private static func shapeList(_ node: NodeInfo, _ key: String, count: Int) throws(WeftError) -> [PartialShape] {
        guard case .list(let list)? = node.attributes.values[key]?.value, !list.shape.isEmpty else {
            return Array(repeating: .unknown, count: count)
        }
        guard list.shape.count == count else {
            throw WeftError(
                .invalidArgument,
                "node '\(node.name)': \(key) has \(list.shape.count) shapes for \(count) output types"
            )
        }
        return list.shape.map(PartialShape.init)
    }
}

/// The value of an optional: its components, or `nil` for none.
public struct OptionalVariant: VariantValue, ZerosLikeVariant {
    /// The tensors the optional holds; `nil` when it holds no value.
    public let components: [Tensor]?

    /// Makes an optional holding `components`, or none.
    public init(_ components: [Tensor]?) {
        self.components = components
    }

    /// TensorFlow's type name.
    public var typeName: String { "tensorflow::data::OptionalVariant" }

    /// Equal when both are empty, or hold equal components.
    public func isEqual(to other: any VariantValue) -> Bool {
        guard let other = other as? OptionalVariant else { return false }
        switch (components, other.components) {
        case (nil, nil): return true
        case (let mine?, let theirs?): return mine.count == theirs.count && zip(mine, theirs).allSatisfy { $0 == $1 }
        default: return false
        }
    }

    /// An optional of zeros shaped like the components (none when this holds none): what
    /// `ZerosLike` makes of an optional, as the gradient of an unused intermediate.
    public func zerosLike(node: String) throws(WeftError) -> any VariantValue {
        guard let components else { return self }
        return OptionalVariant(
            try components.map { (component) throws(WeftError) in try VariantZeros.zeros(like: component, node: node) }
        )
    }
}
