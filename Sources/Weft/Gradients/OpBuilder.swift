import WeftProto
import WeftRuntime

/// Builders for the ops gradient functions need that have no public builder yet, each adding
/// one node with TensorFlow's attributes to the graph of its first input, under the current
/// scope. Kept in one namespace so they never clash with public builders added later.
enum OpBuilder {
    /// Adds a node of `type` in the graph of `inputs[0]` and returns the operation.
    static func node(
        _ type: String,
        _ inputs: [Output],
        _ attributes: [String: Tensorflow_AttrValue] = [:],
        name: String? = nil
    ) -> Operation {
        let graph = inputs.first?.graph ?? Graph.current
        return graph.addOperation(type, name: name, inputs: inputs, attributes: attributes)
    }

    /// A constant in `graph`.
    static func constant(_ value: some TensorConvertible, in graph: Graph, name: String = "Const") -> Output {
        graph.asDefault { Weft.constant(value, name: name) }
    }

    /// `Shape`.
    static func shape(_ x: Output, type: DType = .int32, name: String? = nil) -> Output {
        node("Shape", [x], ["T": .type(x.dtype), "out_type": .type(type)], name: name).output()
    }

    /// `ShapeN`: the shapes of several tensors in one node.
    static func shapes(_ xs: [Output], type: DType = .int32) -> [Output] {
        let op = node(
            "ShapeN",
            xs,
            ["T": .type(xs.first?.dtype ?? .float), "N": .int(xs.count), "out_type": .type(type)]
        )
        return xs.indices.map { op.output($0) }
    }

    /// `Rank`.
    static func rank(_ x: Output) -> Output { node("Rank", [x], ["T": .type(x.dtype)]).output() }

    /// `Size`.
    static func size(_ x: Output, type: DType = .int32) -> Output {
        node("Size", [x], ["T": .type(x.dtype), "out_type": .type(type)]).output()
    }

    /// `VariableShape` of a resource variable's handle.
    static func variableShape(_ handle: Output) -> Output {
        node("VariableShape", [handle], ["out_type": .type(.int32)]).output()
    }

    /// `Reshape` to a shape tensor.
    static func reshape(_ x: Output, _ shape: Output, name: String? = nil) -> Output {
        node("Reshape", [x, shape], ["T": .type(x.dtype), "Tshape": .type(shape.dtype)], name: name).output()
    }

    /// `Reshape` to a constant shape.
    static func reshape(_ x: Output, _ shape: [Int]) -> Output {
        reshape(x, constant(shape.map(Int32.init), in: x.graph))
    }

    /// A reduction (`Sum`, `Prod`, `Max`, …) over the axes a tensor holds.
    static func reduce(_ op: String, _ x: Output, axes: Output, keepDims: Bool = false) -> Output {
        node(op, [x, axes], ["T": .type(x.dtype), "Tidx": .type(axes.dtype), "keep_dims": .bool(keepDims)]).output()
    }

    /// `Sum` over the axes a tensor holds.
    static func sum(_ x: Output, axes: Output, keepDims: Bool = false) -> Output {
        reduce("Sum", x, axes: axes, keepDims: keepDims)
    }

    /// `BroadcastGradientArgs`: the axes each side was broadcast along.
    static func broadcastGradientArgs(_ a: Output, _ b: Output) -> (Output, Output) {
        let op = node("BroadcastGradientArgs", [a, b], ["T": .type(a.dtype)])
        return (op.output(0), op.output(1))
    }

    /// `gradient` summed over the axes that broadcasting stretched to reach `shape`, then
    /// reshaped to it: how every broadcasting op hands a gradient back to one of its inputs.
    static func unbroadcast(_ gradient: Output, axes: Output, to shape: Output) -> Output {
        reshape(sum(gradient, axes: axes), shape)
    }

    /// The gradients of `x` and `y` of a broadcasting binary op whose output gradient, before
    /// reduction, is `gx` for `x` and `gy` for `y`.
    static func unbroadcast(_ gx: Output?, _ gy: Output?, x: Output, y: Output) -> (Output?, Output?) {
        let (sx, sy) = (shape(x), shape(y))
        let (rx, ry) = broadcastGradientArgs(sx, sy)
        return (gx.map { unbroadcast($0, axes: rx, to: sx) }, gy.map { unbroadcast($0, axes: ry, to: sy) })
    }

    /// `ZerosLike`.
    static func zerosLike(_ x: Output) -> Output { node("ZerosLike", [x], ["T": .type(x.dtype)]).output() }

    /// `OnesLike`.
    static func onesLike(_ x: Output) -> Output { node("OnesLike", [x], ["T": .type(x.dtype)]).output() }

    /// `Fill` of a shape tensor with `value` of `dtype`.
    static func fill(_ dims: Output, with value: Double, dtype: DType, name: String? = nil) -> Output {
        let tensor = (try? Tensor(converting: [value], to: dtype, shape: .scalar)) ?? Tensor(value)
        return fill(dims, value: constant(tensor, in: dims.graph), name: name)
    }

    /// `Fill` of a shape tensor with a scalar tensor.
    static func fill(_ dims: Output, value: Output, name: String? = nil) -> Output {
        node("Fill", [dims, value], ["T": .type(value.dtype), "index_type": .type(dims.dtype)], name: name).output()
    }

    /// `Transpose` by a permutation tensor.
    static func transpose(_ x: Output, _ permutation: Output) -> Output {
        node("Transpose", [x, permutation], ["T": .type(x.dtype), "Tperm": .type(permutation.dtype)]).output()
    }

    /// `Transpose` by a constant permutation.
    static func transpose(_ x: Output, _ permutation: [Int]) -> Output {
        transpose(x, constant(permutation.map(Int32.init), in: x.graph))
    }

    /// `InvertPermutation`.
    static func invertPermutation(_ x: Output) -> Output {
        node("InvertPermutation", [x], ["T": .type(x.dtype)]).output()
    }

    /// `BatchMatMulV2` with the adjoint flags.
    static func batchMatMul(_ x: Output, _ y: Output, adjointX: Bool = false, adjointY: Bool = false) -> Output {
        node(
            "BatchMatMulV2",
            [x, y],
            ["T": .type(x.dtype), "adj_x": .bool(adjointX), "adj_y": .bool(adjointY)]
        ).output()
    }

    /// `Select` (`condition` of `x`'s shape or a vector over its first dimension).
    static func select(_ condition: Output, _ x: Output, _ y: Output) -> Output {
        node("Select", [condition, x, y], ["T": .type(x.dtype)]).output()
    }

    /// `SelectV2`, broadcasting all three.
    static func selectV2(_ condition: Output, _ x: Output, _ y: Output) -> Output {
        node("SelectV2", [condition, x, y], ["T": .type(x.dtype)]).output()
    }

    /// `ConcatV2` along a constant axis.
    static func concat(_ values: [Output], axis: Int) -> Output {
        concat(values, axis: constant(Int32(axis), in: values.first?.graph ?? Graph.current, name: "axis"))
    }

    /// `ConcatV2` along an axis tensor.
    static func concat(_ values: [Output], axis: Output) -> Output {
        node(
            "ConcatV2",
            values + [axis],
            ["T": .type(values.first?.dtype ?? .float), "N": .int(values.count), "Tidx": .type(axis.dtype)]
        ).output()
    }

    /// `Slice` from `begin` of `size` (tensors).
    static func slice(_ x: Output, begin: Output, size: Output) -> Output {
        node("Slice", [x, begin, size], ["T": .type(x.dtype), "Index": .type(begin.dtype)]).output()
    }

    /// `Pack` along `axis`.
    static func pack(_ values: [Output], axis: Int = 0) -> Output {
        node(
            "Pack",
            values,
            ["T": .type(values.first?.dtype ?? .float), "N": .int(values.count), "axis": .int(axis)]
        ).output()
    }

    /// `Unpack` into `count` tensors along `axis`.
    static func unpack(_ x: Output, count: Int, axis: Int) -> [Output] {
        let op = node("Unpack", [x], ["T": .type(x.dtype), "num": .int(count), "axis": .int(axis)])
        return (0..<count).map { op.output($0) }
    }

    /// `StridedSlice` with constant bounds (`int32`) and masks.
    static func stridedSlice(
        _ x: Output,
        begin: [Int],
        end: [Int],
        strides: [Int]? = nil,
        beginMask: Int = 0,
        endMask: Int = 0,
        shrinkAxisMask: Int = 0
    ) -> Output {
        let graph = x.graph
        let bounds = [begin, end, strides ?? Array(repeating: 1, count: begin.count)].map { values in
            constant(values.map(Int32.init), in: graph)
        }
        return node(
            "StridedSlice",
            [x] + bounds,
            [
                "T": .type(x.dtype), "Index": .type(.int32), "begin_mask": .int(beginMask), "end_mask": .int(endMask),
                "ellipsis_mask": .int(0), "new_axis_mask": .int(0), "shrink_axis_mask": .int(shrinkAxisMask),
            ]
        ).output()
    }

    /// `BroadcastTo` a shape tensor.
    static func broadcastTo(_ x: Output, _ shape: Output) -> Output {
        node("BroadcastTo", [x, shape], ["T": .type(x.dtype), "Tidx": .type(shape.dtype)]).output()
    }

    /// `ExpandDims` at a constant axis.
    static func expandDims(_ x: Output, axis: Int) -> Output {
        let dim = constant(Int32(axis), in: x.graph, name: "dim")
        return node("ExpandDims", [x, dim], ["T": .type(x.dtype), "Tdim": .type(.int32)]).output()
    }

    /// `Squeeze` of the given axes.
    static func squeeze(_ x: Output, axes: [Int]) -> Output {
        node("Squeeze", [x], ["T": .type(x.dtype), "squeeze_dims": .ints(axes)]).output()
    }

    /// `Range` of tensors.
    static func range(_ start: Output, _ limit: Output, _ delta: Output) -> Output {
        node("Range", [start, limit, delta], ["Tidx": .type(start.dtype)]).output()
    }

    /// `Range` from a constant start to a limit tensor, by a constant step.
    static func range(from start: Int, to limit: Output, by delta: Int = 1) -> Output {
        let graph = limit.graph
        let startTensor = try? Tensor(converting: [Double(start)], to: limit.dtype, shape: .scalar)
        let deltaTensor = try? Tensor(converting: [Double(delta)], to: limit.dtype, shape: .scalar)
        return range(
            constant(startTensor ?? Tensor(Int32(start)), in: graph, name: "start"),
            limit,
            constant(deltaTensor ?? Tensor(Int32(delta)), in: graph, name: "delta")
        )
    }

    /// `DynamicStitch`.
    static func dynamicStitch(indices: [Output], data: [Output]) -> Output {
        node(
            "DynamicStitch",
            indices + data,
            ["T": .type(data.first?.dtype ?? .float), "N": .int(indices.count)]
        ).output()
    }

    /// `ListDiff`: the values of `x` not in `y`.
    static func listDifference(_ x: Output, _ y: Output) -> Output {
        node("ListDiff", [x, y], ["T": .type(x.dtype), "out_idx": .type(.int32)]).output()
    }

    /// `Cumsum` or `Cumprod` along an axis tensor.
    static func scan(_ op: String, _ x: Output, axis: Output, exclusive: Bool, reverse: Bool) -> Output {
        node(
            op,
            [x, axis],
            ["T": .type(x.dtype), "Tidx": .type(axis.dtype), "exclusive": .bool(exclusive), "reverse": .bool(reverse)]
        ).output()
    }

    /// `GatherV2` along an axis tensor.
    static func gather(_ params: Output, _ indices: Output, axis: Output, batchDims: Int = 0) -> Output {
        node(
            "GatherV2",
            [params, indices, axis],
            [
                "Tparams": .type(params.dtype), "Tindices": .type(indices.dtype), "Taxis": .type(axis.dtype),
                "batch_dims": .int(batchDims),
            ]
        ).output()
    }

    /// `UnsortedSegmentSum` into `count` segments.
    static func unsortedSegmentSum(_ data: Output, ids: Output, count: Output) -> Output {
        node(
            "UnsortedSegmentSum",
            [data, ids, count],
            ["T": .type(data.dtype), "Tindices": .type(ids.dtype), "Tnumsegments": .type(count.dtype)]
        ).output()
    }

    /// A unary op with attribute `T`.
    static func unary(_ op: String, _ x: Output) -> Output { node(op, [x], ["T": .type(x.dtype)]).output() }

    /// A binary op with attribute `T`.
    static func binary(_ op: String, _ x: Output, _ y: Output) -> Output {
        node(op, [x, y], ["T": .type(x.dtype)]).output()
    }

    /// A scalar constant of `like`'s dtype in its graph.
    static func scalar(_ value: Double, like: Output, name: String = "Const") -> Output {
        let tensor = (try? Tensor(converting: [value], to: like.dtype, shape: .scalar)) ?? Tensor(value)
        return constant(tensor, in: like.graph, name: name)
    }
}
