import WeftProto
import WeftRuntime

// Gradients of ops that move elements around (TensorFlow's array_grad.py): each sends every
// output element's gradient back to the input element it came from.

extension GradientRegistry {
    func registerArrayGradients() {
        for op in ["Reshape", "ExpandDims", "Squeeze"] {
            register(op) { context throws(WeftError) in
                let shape = OpBuilder.shape(try context.input(0))
                return [.dense(OpBuilder.reshape(try context.gradient(), shape))] + context.nilForRest(after: 1)
            }
        }
        register("Transpose") { context throws(WeftError) in
            let inverse = OpBuilder.invertPermutation(try context.input(1))
            return [.dense(OpBuilder.transpose(try context.gradient(), inverse)), nil]
        }
        register("ConcatV2") { context throws(WeftError) in
            let values = Array(context.inputs.dropLast())
            return try context.concatGradients(values: values, axis: try context.input(context.inputs.count - 1))
                + [nil]
        }
        register("Concat") { context throws(WeftError) in
            [nil] + (try context.concatGradients(values: Array(context.inputs.dropFirst()), axis: try context.input(0)))
        }
        register("Split") { context throws(WeftError) in
            let gradients = try context.outputs.indices.map { (index) throws(WeftError) in try context.gradient(index) }
            return [nil, .dense(OpBuilder.concat(gradients, axis: try context.input(0)))]
        }
        register("SplitV") { context throws(WeftError) in
            let gradients = try context.outputs.indices.map { (index) throws(WeftError) in try context.gradient(index) }
            return [.dense(OpBuilder.concat(gradients, axis: try context.input(2))), nil, nil]
        }
        register("Pack") { context throws(WeftError) in
            let axis = try context.attributes.int("axis", default: 0)
            let parts = OpBuilder.unpack(try context.gradient(), count: context.inputs.count, axis: axis)
            return parts.map(Gradient.dense)
        }
        register("Unpack") { context throws(WeftError) in
            let axis = try context.attributes.int("axis", default: 0)
            let gradients = try context.outputs.indices.map { (index) throws(WeftError) in try context.gradient(index) }
            return [.dense(OpBuilder.pack(gradients, axis: axis))]
        }
        register("Slice") { context throws(WeftError) in [.dense(try context.sliceGradient()), nil, nil] }
        register("StridedSlice") { context throws(WeftError) in
            [.dense(try context.stridedSliceGradient()), nil, nil, nil]
        }
        register("Tile") { context throws(WeftError) in [.dense(try context.tileGradient()), nil] }
        for op in ["Pad", "PadV2"] {
            register(op) { context throws(WeftError) in
                [.dense(try context.padGradient())] + context.nilForRest(after: 1)
            }
        }
        register("MirrorPad") { context throws(WeftError) in
            let gradient = try context.gradient()
            let paddings = try context.input(1)
            let mode = context.attributes.values["mode"] ?? .string("REFLECT")
            let node = OpBuilder.node(
                "MirrorPadGrad",
                [gradient, paddings],
                ["T": .type(gradient.dtype), "Tpaddings": .type(paddings.dtype), "mode": mode]
            )
            return [.dense(node.output()), nil]
        }
        register("Fill") { context throws(WeftError) in [nil, .dense(sum(try context.gradient()))] }
        register("Select") { context throws(WeftError) in
            let condition = try context.input(0)
            let gradient = try context.gradient()
            let zeros = OpBuilder.zerosLike(try context.input(1))
            return [
                nil, .dense(OpBuilder.select(condition, gradient, zeros)),
                .dense(OpBuilder.select(condition, zeros, gradient)),
            ]
        }
        register("SelectV2") { context throws(WeftError) in try context.selectV2Gradients() }
        register("BroadcastTo") { context throws(WeftError) in
            let x = try context.input(0)
            let xShape = OpBuilder.shape(x, type: try context.input(1).dtype)
            let (_, axes) = OpBuilder.broadcastGradientArgs(try context.input(1), xShape)
            let summed = OpBuilder.sum(try context.gradient(), axes: axes, keepDims: true)
            return [.dense(OpBuilder.reshape(summed, xShape)), nil]
        }
        register("ReverseV2") { context throws(WeftError) in
            let gradient = try context.gradient()
            let axes = try context.input(1)
            let node = OpBuilder.node(
                "ReverseV2",
                [gradient, axes],
                ["T": .type(gradient.dtype), "Tidx": .type(axes.dtype)]
            )
            return [.dense(node.output()), nil]
        }
        register("Cumsum") { context throws(WeftError) in
            let exclusive = try context.attributes.bool("exclusive", default: false)
            let reverse = try context.attributes.bool("reverse", default: false)
            let axis = try context.input(1)
            let gradient = try context.gradient()
            return [
                .dense(OpBuilder.scan("Cumsum", gradient, axis: axis, exclusive: exclusive, reverse: !reverse)), nil,
            ]
        }
        register("Cumprod") { context throws(WeftError) in
            let x = try context.input(0)
            let axis = try context.input(1)
            let exclusive = try context.attributes.bool("exclusive", default: false)
            let reverse = try context.attributes.bool("reverse", default: false)
            let products = OpBuilder.scan("Cumprod", x, axis: axis, exclusive: exclusive, reverse: reverse)
            let summed = OpBuilder.scan(
                "Cumsum",
                products * (try context.gradient()),
                axis: axis,
                exclusive: exclusive,
                reverse: !reverse
            )
            return [.dense(OpBuilder.binary("DivNoNan", summed, x)), nil]
        }
        register("ReverseSequence") { context throws(WeftError) in
            let gradient = try context.gradient()
            let lengths = try context.input(1)
            var attributes = context.copiedAttributes(["seq_dim", "batch_dim"])
            attributes["T"] = .type(gradient.dtype)
            attributes["Tlen"] = .type(lengths.dtype)
            return [.dense(OpBuilder.node("ReverseSequence", [gradient, lengths], attributes).output()), nil]
        }
        register("MatrixBandPart") { context throws(WeftError) in
            let gradient = try context.gradient()
            let lower = try context.input(1)
            let band = OpBuilder.node(
                "MatrixBandPart",
                [gradient, lower, try context.input(2)],
                ["T": .type(gradient.dtype), "Tindex": .type(lower.dtype)]
            )
            return [.dense(band.output()), nil, nil]
        }
        for (op, inverse) in [("SpaceToDepth", "DepthToSpace"), ("DepthToSpace", "SpaceToDepth")] {
            register(op) { context throws(WeftError) in
                let gradient = try context.gradient()
                var attributes = context.copiedAttributes(["block_size", "data_format"])
                attributes["T"] = .type(gradient.dtype)
                return [.dense(OpBuilder.node(inverse, [gradient], attributes).output())]
            }
        }
        for (op, inverse) in [("SpaceToBatchND", "BatchToSpaceND"), ("BatchToSpaceND", "SpaceToBatchND")] {
            register(op) { context throws(WeftError) in
                let gradient = try context.gradient()
                let blockShape = try context.input(1)
                let amounts = try context.input(2)
                let attributes: [String: Tensorflow_AttrValue] = [
                    "T": .type(gradient.dtype), "Tblock_shape": .type(blockShape.dtype),
                    op == "SpaceToBatchND" ? "Tcrops" : "Tpaddings": .type(amounts.dtype),
                ]
                return [
                    .dense(OpBuilder.node(inverse, [gradient, blockShape, amounts], attributes).output()), nil, nil,
                ]
            }
        }
        register("Roll") { context throws(WeftError) in
            let gradient = try context.gradient()
            let shift = try context.input(1)
            let axis = try context.input(2)
            let rolled = OpBuilder.node(
                "Roll",
                [gradient, negate(shift), axis],
                ["T": .type(gradient.dtype), "Tshift": .type(shift.dtype), "Taxis": .type(axis.dtype)]
            )
            return [.dense(rolled.output()), nil, nil]
        }
        for (op, inverse) in [("Diag", "DiagPart"), ("DiagPart", "Diag")] {
            register(op) { context throws(WeftError) in
                [.dense(OpBuilder.unary(inverse, try context.gradient()))]
            }
        }
    }
}

extension GradientContext {
    /// `nil` for every input from `first` on: the inputs (shapes, axes) that take no gradient.
    func nilForRest(after first: Int) -> [Gradient?] {
        Array(repeating: nil, count: Swift.max(inputs.count - first, 0))
    }

    /// Concatenation: each value's part of the gradient, sliced at the offsets `ConcatOffset`
    /// computes from the values' shapes.
    func concatGradients(values: [Output], axis: Output) throws(WeftError) -> [Gradient?] {
        guard let first = values.first else { return [] }
        let gradient = try gradient()
        let positiveAxis = OpBuilder.binary("FloorMod", axis, cast(OpBuilder.rank(first), to: axis.dtype))
        let shapes = OpBuilder.shapes(values)
        let offsets = OpBuilder.node(
            "ConcatOffset",
            [cast(positiveAxis, to: .int32)] + shapes,
            ["N": .int(values.count), "shape_type": .type(.int32)]
        )
        return shapes.indices.map { index in
            .dense(OpBuilder.slice(gradient, begin: offsets.output(index), size: shapes[index]))
        }
    }

    /// `Slice`: the gradient padded with zeros before (`begin`) and after the slice.
    func sliceGradient() throws(WeftError) -> Output {
        let x = try input(0)
        let begin = try input(1)
        let sliceShape = OpBuilder.shape(try output(0), type: begin.dtype)
        let padShape = OpBuilder.pack([
            cast(OpBuilder.rank(x), to: begin.dtype), OpBuilder.scalar(1, like: begin),
        ])
        let before = OpBuilder.reshape(begin, padShape)
        let after = OpBuilder.reshape(OpBuilder.shape(x, type: begin.dtype) - sliceShape - begin, padShape)
        let paddings = OpBuilder.concat([before, after], axis: 1)
        let gradient = try gradient()
        return OpBuilder.node(
            "Pad",
            [gradient, paddings],
            ["T": .type(gradient.dtype), "Tpaddings": .type(paddings.dtype)]
        )
        .output()
    }

    /// `StridedSlice`: `StridedSliceGrad` with the forward op's bounds and masks.
    func stridedSliceGradient() throws(WeftError) -> Output {
        let begin = try input(1)
        let gradient = try gradient()
        var attributes: [String: Tensorflow_AttrValue] = ["T": .type(gradient.dtype), "Index": .type(begin.dtype)]
        for mask in ["begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"] {
            attributes[mask] = self.attributes.values[mask] ?? .int(0)
        }
        let shape = OpBuilder.shape(try input(0), type: begin.dtype)
        return OpBuilder.node("StridedSliceGrad", [shape, begin, try input(2), try input(3), gradient], attributes)
            .output()
    }

    /// `Tile`: the gradient reshaped to interleave (multiple, dimension) pairs, summed over
    /// the multiples.
    func tileGradient() throws(WeftError) -> Output {
        let multiples = try input(1)
        let shape = OpBuilder.shape(try input(0), type: multiples.dtype)
        let pairs = OpBuilder.reshape(OpBuilder.transpose(OpBuilder.pack([multiples, shape]), [1, 0]), [-1])
        let axes = OpBuilder.range(from: 0, to: OpBuilder.size(pairs), by: 2)
        return OpBuilder.sum(OpBuilder.reshape(try gradient(), pairs), axes: axes)
    }

    /// `Pad`: the part of the gradient where the input lies.
    func padGradient() throws(WeftError) -> Output {
        let x = try input(0)
        let paddings = try input(1)
        let graph = x.graph
        let type = paddings.dtype
        let zeros = (try? Tensor(converting: [0, 0], to: type, shape: TensorShape([2]))) ?? Tensor([Int32(0), 0])
        let size = OpBuilder.pack([cast(OpBuilder.rank(x), to: type), OpBuilder.scalar(1, like: paddings)])
        let before = OpBuilder.slice(paddings, begin: OpBuilder.constant(zeros, in: graph), size: size)
        let begin = OpBuilder.reshape(before, [-1])
        return OpBuilder.slice(try gradient(), begin: begin, size: OpBuilder.shape(x, type: type))
    }

    /// `SelectV2`: each branch gets the gradient where it was chosen, summed over the axes it
    /// was broadcast along.
    func selectV2Gradients() throws(WeftError) -> [Gradient?] {
        let condition = try input(0)
        let gradient = try gradient()
        let zeros = OpBuilder.scalar(0, like: gradient)
        let outputShape = OpBuilder.shape(try output(0))
        func reduced(_ part: Output, to input: Output) -> Output {
            let shape = OpBuilder.shape(input)
            let (axes, _) = OpBuilder.broadcastGradientArgs(shape, outputShape)
            return OpBuilder.reshape(OpBuilder.sum(part, axes: axes, keepDims: true), shape)
        }
        return [
            nil, .dense(reduced(OpBuilder.selectV2(condition, gradient, zeros), to: try input(1))),
            .dense(reduced(OpBuilder.selectV2(condition, zeros, gradient), to: try input(2))),
        ]
    }
}
