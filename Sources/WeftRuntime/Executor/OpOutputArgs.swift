/// The output arguments of TensorFlow's ops, which function bodies name tensors by: a FunctionDef
/// writes `node:out_arg:index` (the op's output argument, then the position within it) where a
/// GraphDef writes `node:flat_index`. The table comes from TensorFlow's OpDefs
/// (`scripts/tensorflow-op-outputs`).
enum OpOutputArgs {
    /// One output argument: a single tensor, or a list whose length an attribute gives.
    struct Argument: Sendable {
        /// The argument's name (`y`, `batch_mean`).
        let name: String
        /// The `int` attribute holding the list length (`num` of `Unpack`), for `number_attr` lists.
        let countAttribute: String?
        /// The `list(type)` attribute whose length is the list length (`T` of `IdentityN`).
        let typeListAttribute: String?

        init(_ name: String, countAttribute: String? = nil, typeListAttribute: String? = nil) {
            self.name = name
            self.countAttribute = countAttribute
            self.typeListAttribute = typeListAttribute
        }

        /// How many tensors the argument holds on a node with `attributes`.
        func count(_ attributes: NodeAttributes) throws(WeftError) -> Int {
            if let countAttribute { return try attributes.int(countAttribute) }
            if let typeListAttribute {
                guard case .list(let list)? = attributes.values[typeListAttribute]?.value else {
                    throw WeftError(
                        .invalidArgument,
                        "node '\(attributes.node)' needs a list(type) attribute '\(typeListAttribute)'"
                    )
                }
                return list.type.count
            }
            return 1
        }
    }

    /// Whether TensorFlow calls `op` stateful, `nil` for an op the table lacks; a function body
    /// keeps stateful nodes even when no output needs them.
    static func isStateful(_ op: String) -> Bool? {
        tensorFlow[op] == nil ? nil : tensorFlowStateful.contains(op)
    }

    /// The flat output index of `argument:index` on a node running `op` with `attributes`.
    static func flatIndex(
        op: String,
        argument: String,
        index: Int,
        attributes: NodeAttributes
    ) throws(WeftError) -> Int {
        guard let arguments = tensorFlow[op] else {
            throw WeftError(
                .unimplemented,
                "node '\(attributes.node)' (\(op)) is used in a function body, but Weft's table of op output arguments lacks \(op); regenerate it with scripts/tensorflow-op-outputs"
            )
        }
        var offset = 0
        for candidate in arguments {
            let count = try candidate.count(attributes)
            if candidate.name == argument {
                guard index >= 0, index < count else {
                    throw WeftError(
                        .invalidArgument,
                        "'\(attributes.node):\(argument):\(index)' does not exist: output '\(argument)' of \(op) holds \(count) tensor\(count == 1 ? "" : "s")"
                    )
                }
                return offset + index
            }
            offset += count
        }
        let names = arguments.map(\.name).joined(separator: ", ")
        throw WeftError(
            .invalidArgument,
            "node '\(attributes.node)' (\(op)) has no output named '\(argument)'; its outputs are: \(names)"
        )
    }
}
