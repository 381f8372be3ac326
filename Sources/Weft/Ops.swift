import WeftProto
import WeftRuntime

// Op builders. Each adds one node to the current default graph (`Graph.current`) under the
// current name scope, device, colocation and control dependencies, and never throws: a build
// error is recorded on the graph and reported by `Graph.buildError` and `Session.run`.

/// A constant: TensorFlow's `Const`.
public func constant(_ value: some TensorConvertible, name: String? = nil) -> Output {
    let graph = Graph.current
    let tensor = graph.tensor(of: value)
    return graph.addOperation(
        "Const",
        name: name,
        attributes: ["dtype": .type(tensor.dtype), "value": .tensor(tensor)]
    ).output()
}

/// A value the caller feeds at run time: TensorFlow's `Placeholder`. A `nil` dimension is
/// unknown; a `nil` shape leaves even the rank open.
public func placeholder(_ dtype: DType, shape: [Int?]? = nil, name: String? = nil) -> Output {
    Graph.current.addOperation(
        "Placeholder",
        name: name,
        attributes: ["dtype": .type(dtype), "shape": .shape(PartialShape(shape))]
    ).output()
}

/// Its input, unchanged; for a variable, the value when the node runs.
public func identity(_ input: Output, name: String? = nil) -> Output {
    unary("Identity", input, name: name)
}

/// An op that does nothing; its control inputs give it meaning.
@discardableResult
public func noOp(name: String? = nil) -> Operation {
    Graph.current.addOperation("NoOp", name: name)
}

/// One op that runs all of `operations`: TensorFlow's `tf.group`.
@discardableResult
public func group(_ operations: [Operation], name: String? = nil) -> Operation {
    Graph.current.addOperation("NoOp", name: name, default: "group_deps", controlInputs: operations)
}

func unary(_ op: String, _ input: Output, name: String?) -> Output {
    input.graph.addOperation(op, name: name, inputs: [input], attributes: ["T": .type(input.dtype)]).output()
}

func binary(_ op: String, _ x: Output, _ y: Output, name: String?, default fallback: String? = nil) -> Output {
    x.graph.addOperation(op, name: name, default: fallback, inputs: [x, y], attributes: ["T": .type(x.dtype)]).output()
}

/// A binary op with a number on one side, named as TensorFlow names it: `add/y` and `add`.
func binary(_ op: String, _ x: Output, scalar: Double, scalarFirst: Bool, default fallback: String) -> Output {
    opScope(x.graph, nil, default: fallback) { opName in
        let y = x.scalar(scalar, name: scalarFirst ? "x" : "y")
        return binary(op, scalarFirst ? y : x, scalarFirst ? x : y, name: opName)
    }
}

/// `x + y` with broadcasting: TensorFlow's `AddV2`.
public func add(_ x: Output, _ y: Output, name: String? = nil) -> Output {
    binary("AddV2", x, y, name: name, default: "add")
}
/// `x - y` with broadcasting.
public func subtract(_ x: Output, _ y: Output, name: String? = nil) -> Output {
    binary("Sub", x, y, name: name, default: "sub")
}
/// `x * y` with broadcasting.
public func multiply(_ x: Output, _ y: Output, name: String? = nil) -> Output {
    binary("Mul", x, y, name: name, default: "mul")
}
/// `x / y` with broadcasting: TensorFlow's `RealDiv` for floats, `FloorDiv` for integers.
public func divide(_ x: Output, _ y: Output, name: String? = nil) -> Output {
    binary(divisionOp(x.dtype), x, y, name: name, default: "truediv")
}

func divisionOp(_ dtype: DType) -> String {
    dtype.isFloatingPoint ? "RealDiv" : "FloorDiv"
}
/// The larger of `x` and `y`, element-wise with broadcasting.
public func maximum(_ x: Output, _ y: Output, name: String? = nil) -> Output { binary("Maximum", x, y, name: name) }
/// The smaller of `x` and `y`, element-wise with broadcasting.
public func minimum(_ x: Output, _ y: Output, name: String? = nil) -> Output { binary("Minimum", x, y, name: name) }
/// `x` to the power `y`, element-wise.
public func pow(_ x: Output, _ y: Output, name: String? = nil) -> Output { binary("Pow", x, y, name: name) }
/// Whether `x < y`, element-wise.
public func less(_ x: Output, _ y: Output, name: String? = nil) -> Output { binary("Less", x, y, name: name) }
/// Whether `x > y`, element-wise.
public func greater(_ x: Output, _ y: Output, name: String? = nil) -> Output { binary("Greater", x, y, name: name) }
/// Whether `x == y`, element-wise.
public func equal(_ x: Output, _ y: Output, name: String? = nil) -> Output { binary("Equal", x, y, name: name) }
/// Whether `x != y`, element-wise.
public func notEqual(_ x: Output, _ y: Output, name: String? = nil) -> Output { binary("NotEqual", x, y, name: name) }
/// Whether `x <= y`, element-wise.
public func lessEqual(_ x: Output, _ y: Output, name: String? = nil) -> Output { binary("LessEqual", x, y, name: name) }
/// Whether `x >= y`, element-wise.
public func greaterEqual(_ x: Output, _ y: Output, name: String? = nil) -> Output {
    binary("GreaterEqual", x, y, name: name)
}
/// `x / y` rounded toward negative infinity, element-wise.
public func floorDiv(_ x: Output, _ y: Output, name: String? = nil) -> Output { binary("FloorDiv", x, y, name: name) }
/// The remainder of `floorDiv(x, y)`, with the sign of `y`, element-wise.
public func floorMod(_ x: Output, _ y: Output, name: String? = nil) -> Output { binary("FloorMod", x, y, name: name) }
/// `-x`.
public func negate(_ x: Output, name: String? = nil) -> Output {
    x.graph.addOperation("Neg", name: name, default: "Neg", inputs: [x], attributes: ["T": .type(x.dtype)]).output()
}
/// `|x|`.
public func abs(_ x: Output, name: String? = nil) -> Output { unary("Abs", x, name: name) }
/// `x²`.
public func square(_ x: Output, name: String? = nil) -> Output { unary("Square", x, name: name) }
/// `√x`.
public func sqrt(_ x: Output, name: String? = nil) -> Output { unary("Sqrt", x, name: name) }
/// `eˣ`.
public func exp(_ x: Output, name: String? = nil) -> Output { unary("Exp", x, name: name) }
/// The natural logarithm.
public func log(_ x: Output, name: String? = nil) -> Output { unary("Log", x, name: name) }
/// The sine.
public func sin(_ x: Output, name: String? = nil) -> Output { unary("Sin", x, name: name) }
/// The cosine.
public func cos(_ x: Output, name: String? = nil) -> Output { unary("Cos", x, name: name) }
/// The hyperbolic tangent.
public func tanh(_ x: Output, name: String? = nil) -> Output { unary("Tanh", x, name: name) }
/// `1 / (1 + e⁻ˣ)`.
public func sigmoid(_ x: Output, name: String? = nil) -> Output { unary("Sigmoid", x, name: name) }
/// `max(x, 0)`.
public func relu(_ x: Output, name: String? = nil) -> Output { unary("Relu", x, name: name) }
/// The softmax over the last dimension.
public func softmax(_ logits: Output, name: String? = nil) -> Output { unary("Softmax", logits, name: name) }

/// The sum of several tensors of one shape: TensorFlow's `AddN`.
public func addN(_ inputs: [Output], name: String? = nil) -> Output {
    let graph = inputs.first?.graph ?? Graph.current
    return graph.addOperation(
        "AddN",
        name: name,
        inputs: inputs,
        attributes: ["T": .type(inputs.first?.dtype ?? .float), "N": .int(inputs.count)]
    ).output()
}

/// The matrix product `a × b`, optionally transposing either: TensorFlow's `MatMul` (OpenBLAS).
public func matMul(
    _ a: Output,
    _ b: Output,
    transposeA: Bool = false,
    transposeB: Bool = false,
    name: String? = nil
) -> Output {
    a.graph.addOperation(
        "MatMul",
        name: name,
        inputs: [a, b],
        attributes: ["T": .type(a.dtype), "transpose_a": .bool(transposeA), "transpose_b": .bool(transposeB)]
    ).output()
}

/// Adds a bias vector along the last dimension.
public func biasAdd(_ value: Output, _ bias: Output, name: String? = nil) -> Output {
    binary("BiasAdd", value, bias, name: name)
}

/// The value converted to `dtype`.
public func cast(_ x: Output, to dtype: DType, name: String? = nil) -> Output {
    x.graph.addOperation(
        "Cast",
        name: name,
        inputs: [x],
        attributes: ["SrcT": .type(x.dtype), "DstT": .type(dtype)]
    ).output()
}

/// The same elements in `shape` (one dimension may be -1).
public func reshape(_ x: Output, to shape: [Int], name: String? = nil) -> Output {
    opScope(x.graph, name, default: "Reshape") { opName in
        let dims = constant(shape.map(Int32.init), name: "shape")
        return x.graph.addOperation(
            "Reshape",
            name: opName,
            inputs: [x, dims],
            attributes: ["T": .type(x.dtype), "Tshape": .type(.int32)]
        ).output()
    }
}

/// A tensor of `shape` whose every element is the scalar `value` (`tf.fill`): made where it
/// runs, so a large tensor costs the graph only its shape.
public func fill(_ shape: [Int], with value: Output, name: String? = nil) -> Output {
    opScope(value.graph, name, default: "Fill") { opName in
        let dims = constant(shape.map(Int64.init), name: "dims")
        return OpBuilder.fill(dims, value: value, name: opName)
    }
}

/// Builds an op with helper nodes the way TensorFlow does: helpers inside a name scope
/// (`rowsum/reduction_indices`) and the op itself named after the scope (`rowsum`).
func opScope(_ graph: Graph, _ name: String?, default fallback: String, _ body: (_ opName: String) -> Output) -> Output
{
    graph.asDefault {
        graph.nameScope(name ?? fallback) {
            // A name ending in "/" is taken as it is, without the slash.
            body(BuildScope.of(graph).namePrefix)
        }
    }
}

/// A reduction over `axes` (all axes when `nil`), keeping reduced dimensions as size 1 if asked.
func reduction(_ op: String, _ x: Output, axes: [Int]?, keepDims: Bool, name: String?) -> Output {
    opScope(x.graph, name, default: op) { opName in
        let indices: Output
        if let axes {
            indices = constant(axes.map(Int32.init), name: "reduction_indices")
        } else {
            let rank = x.graph.addOperation("Rank", inputs: [x], attributes: ["T": .type(x.dtype)]).output()
            indices = x.graph.addOperation(
                "Range",
                name: "range",
                inputs: [constant(Int32(0), name: "start"), rank, constant(Int32(1), name: "delta")],
                attributes: ["Tidx": .type(.int32)]
            ).output()
        }
        return x.graph.addOperation(
            op,
            name: opName,
            inputs: [x, indices],
            attributes: ["T": .type(x.dtype), "Tidx": .type(.int32), "keep_dims": .bool(keepDims)]
        ).output()
    }
}

/// The sum over `axes` (all when `nil`).
public func sum(_ x: Output, axes: [Int]? = nil, keepDims: Bool = false, name: String? = nil) -> Output {
    reduction("Sum", x, axes: axes, keepDims: keepDims, name: name)
}
/// The mean over `axes` (all when `nil`).
public func mean(_ x: Output, axes: [Int]? = nil, keepDims: Bool = false, name: String? = nil) -> Output {
    reduction("Mean", x, axes: axes, keepDims: keepDims, name: name)
}
/// The maximum over `axes` (all when `nil`).
public func reduceMax(_ x: Output, axes: [Int]? = nil, keepDims: Bool = false, name: String? = nil) -> Output {
    reduction("Max", x, axes: axes, keepDims: keepDims, name: name)
}
/// The minimum over `axes` (all when `nil`).
public func reduceMin(_ x: Output, axes: [Int]? = nil, keepDims: Bool = false, name: String? = nil) -> Output {
    reduction("Min", x, axes: axes, keepDims: keepDims, name: name)
}
/// The product over `axes` (all when `nil`).
public func product(_ x: Output, axes: [Int]? = nil, keepDims: Bool = false, name: String? = nil) -> Output {
    reduction("Prod", x, axes: axes, keepDims: keepDims, name: name)
}
