/// A list of tensors held by a scalar `variant` tensor: TensorFlow's `TensorList`, which
/// `tf.while_loop` (v2) and frozen Keras LSTM and GRU layers use to collect per-step values.
///
/// A list is a value: every op returns a new list and leaves its input as it was. Copying a
/// list copies its slots, never the element tensors, which are immutable and shared.
public struct TensorList: VariantValue {
    /// The dtype of every element.
    public var elementDType: DType
    /// The shape every element must fit; the shape of the zeros read from unset slots.
    public var elementShape: PartialShape
    /// The most elements the list may hold, `nil` for no bound (`max_num_elements` -1).
    public var maxElementCount: Int?
    /// The elements in order; `nil` for a slot reserved but never set.
    public var elements: [Tensor?]

    /// Makes a list.
    public init(elementDType: DType, elementShape: PartialShape, maxElementCount: Int? = nil, elements: [Tensor?] = [])
    {
        self.elementDType = elementDType
        self.elementShape = elementShape
        self.maxElementCount = maxElementCount
        self.elements = elements
    }

    /// TensorFlow's name of the type.
    public var typeName: String { "tensorflow::TensorList" }

    /// Same dtype, element shape, bound and elements.
    public func isEqual(to other: any VariantValue) -> Bool {
        guard let other = other as? TensorList else { return false }
        return elementDType == other.elementDType && elementShape == other.elementShape
            && maxElementCount == other.maxElementCount && elements == other.elements
    }

    /// The list as the scalar variant tensor that carries it between ops.
    public var tensor: Tensor {
        Tensor(dtype: .variant, shape: .scalar, buffer: TensorBuffer(objects: .variants([self])))
    }
}

/// The TensorList ops: lists made empty, reserved, from a tensor's rows, by scatter or by
/// split; elements set, read, pushed and popped; lists stacked, gathered and concatenated
/// back into tensors. Shapes, checks and messages are TensorFlow's (`list_kernels`).
enum TensorListOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        emptyList, reserve, fromTensor, getItem, setItem, stack, pushBack, popBack, length, elementShape, gather,
        scatterIntoExisting, scatter("TensorListScatter", inputs: 3), scatter("TensorListScatterV2", inputs: 4),
        concat("TensorListConcatV2", inputs: 3), concat("TensorListConcat", inputs: 1), split, resize,
    ]

    // MARK: Making lists

    private static let emptyList = listOp("EmptyTensorList", inputs: 2) { attributes, context throws(WeftError) in
        let shape = try PartialShape(shapeTensor: try context.input(0), node: context.node)
        let bound = try ElementRows.int32Scalar(try context.input(1), what: "max_num_elements", node: context.node)
        guard bound >= -1 else {
            throw .invalidArgument("max_num_elements must be -1 (no bound) or more, got \(bound)", node: context.node)
        }
        return TensorList(
            elementDType: try attributes.dtype(context.node),
            elementShape: shape,
            maxElementCount: bound == -1 ? nil : bound
        )
    }

    private static let reserve = listOp("TensorListReserve", inputs: 2) { attributes, context throws(WeftError) in
        let shape = try PartialShape(shapeTensor: try context.input(0), node: context.node)
        let countTensor = try context.input(1)
        guard countTensor.elementCount == 1 else {
            throw .invalidArgument(
                "The num_elements to reserve must be a tensor size 1, but got \(countTensor.shape)",
                node: context.node
            )
        }
        guard countTensor.dtype == .int32, let value = countTensor.scalar(as: Int32.self) else {
            throw .invalidArgument("num_elements must be an int32 tensor, got \(countTensor.dtype)", node: context.node)
        }
        let count = Int(value)
        guard count >= 0 else {
            throw .invalidArgument(
                "The num_elements to reserve must be a non negative number, but got \(count)",
                node: context.node
            )
        }
        return TensorList(
            elementDType: try attributes.dtype(context.node),
            elementShape: shape,
            elements: try ElementRows.slots(count, of: Tensor?.none, node: context.node)
        )
    }

    private static let fromTensor = listOp("TensorListFromTensor", inputs: 2) { attributes, context throws(WeftError) in
        let tensor = try context.input(0)
        try KernelChecks.dtype(
            tensor,
            input: 0,
            expected: attributes.elementDType,
            op: "TensorListFromTensor",
            node: context.node
        )
        let shape = try PartialShape(shapeTensor: try context.input(1), node: context.node)
        let rowShape = try rowShape(of: tensor, node: context.node)
        guard shape.isCompatible(with: rowShape) else {
            throw .invalidArgument(
                "Specified a list with shape \(shape) from a tensor with shape \(rowShape)",
                node: context.node
            )
        }
        // Rows of no elements cost nothing in the tensor but a slot each in the list.
        var rows = try ElementRows.slots(tensor.shape.dimensions[0], of: Tensor?.none, node: context.node)
        for row in rows.indices { rows[row] = ElementRows.slice(tensor, start: row, count: 1, dropFirst: true) }
        return TensorList(elementDType: tensor.dtype, elementShape: shape, elements: rows)
    }

    private static func scatter(_ op: String, inputs: Int) -> OpDefinition {
        listOp(op, inputs: inputs) { attributes, context throws(WeftError) in
            let tensor = try context.input(0)
            try KernelChecks.dtype(
                tensor,
                input: 0,
                expected: attributes.elementDType,
                op: op,
                node: context.node
            )
            let indices = try ElementRows.int32Vector(try context.input(1), what: "indices", node: context.node)
            let shape = try PartialShape(shapeTensor: try context.input(2), node: context.node)
            let count =
                inputs == 4
                ? try ElementRows.int32Scalar(try context.input(3), what: "num_elements", node: context.node) : -1
            guard count >= -1 else {
                throw .invalidArgument(
                    "TensorListScatter expects num_elements >= -1, found: \(count)",
                    node: context.node
                )
            }
            let rowShape = try rowShape(of: tensor, node: context.node)
            guard shape.isCompatible(with: rowShape) else {
                throw .invalidArgument(
                    "Specified a list with shape \(shape) from a tensor with shape \(rowShape)",
                    node: context.node
                )
            }
            guard indices.count == tensor.shape.dimensions[0] else {
                throw .invalidArgument(
                    "Invalid number of rows in input tensor. Expected: \(indices.count) Actual: \(tensor.shape.dimensions[0])",
                    node: context.node
                )
            }
            for index in indices where count != -1 && index >= count {
                throw .invalidArgument(
                    "TensorListScatter: Trying to scatter at index \(index) in list with size \(count)",
                    node: context.node
                )
            }
            var list = TensorList(elementDType: tensor.dtype, elementShape: shape)
            list.elements = try ElementRows.slots(max(count, 0), of: Tensor?.none, node: context.node)
            try scatterRows(of: tensor, at: indices, into: &list, node: context.node)
            return list
        }
    }

    private static let split = listOp("TensorListSplit", inputs: 3) { attributes, context throws(WeftError) in
        let tensor = try context.input(0)
        try KernelChecks.dtype(
            tensor,
            input: 0,
            expected: attributes.elementDType,
            op: "TensorListSplit",
            node: context.node
        )
        let shape = try PartialShape(shapeTensor: try context.input(1), node: context.node)
        guard shape.dimensions.map({ $0.count >= 1 }) ?? true else {
            throw .invalidArgument(
                "TensorListSplit requires element_shape to be at least of rank 1, but saw: \(shape)",
                node: context.node
            )
        }
        let rest = try rowShape(of: tensor, node: context.node)
        guard shape.droppingFirst.isCompatible(with: rest) else {
            throw .invalidArgument(
                "tensor shape \(tensor.shape) is not compatible with element_shape \(shape)",
                node: context.node
            )
        }
        let lengthsTensor = try context.input(2)
        guard lengthsTensor.dtype == .int64, lengthsTensor.shape.rank == 1 else {
            throw .invalidArgument(
                "Expected lengths to be an int64 vector, received a \(lengthsTensor.dtype) tensor of shape \(lengthsTensor.shape)",
                node: context.node
            )
        }
        let total = tensor.shape.dimensions[0]
        var elements: [Tensor?] = []
        elements.reserveCapacity(lengthsTensor.elementCount)
        var start = 0
        for length in lengthsTensor.elements(as: Int64.self) {
            guard length >= 0 else { throw .invalidArgument("Invalid value in lengths: \(length)", node: context.node) }
            guard length <= total - start else {
                throw .invalidArgument(
                    "Attempting to slice [\(start), \(Int64(start).addingReportingOverflow(length).partialValue)] from tensor with length \(total)",
                    node: context.node
                )
            }
            elements.append(ElementRows.slice(tensor, start: start, count: Int(length), dropFirst: false))
            start += Int(length)
        }
        guard start == total else {
            throw .invalidArgument(
                "Unused values in tensor. Length of tensor: \(total) Values used: \(start)",
                node: context.node
            )
        }
        return TensorList(elementDType: tensor.dtype, elementShape: shape, elements: elements)
    }

    // MARK: Changing lists

    private static let setItem = listOp("TensorListSetItem", inputs: 3) { attributes, context throws(WeftError) in
        let dtype = try attributes.dtype(context.node)
        var list = try input(context, 0, dtype: dtype)
        let index = try ElementRows.int32Scalar(try context.input(1), what: "index", node: context.node)
        let item = try context.input(2)
        try KernelChecks.dtype(item, input: 2, expected: dtype, op: "TensorListSetItem", node: context.node)
        guard index >= 0, attributes.resizing || index < list.elements.count else {
            throw .invalidArgument(
                "Trying to modify element \(index) in a list with \(list.elements.count) elements.",
                node: context.node
            )
        }
        guard list.elementShape.isCompatible(with: item.shape) else {
            throw .invalidArgument(
                "Tried to set a tensor with incompatible shape at a list index. Item element shape: \(item.shape) list shape: \(list.elementShape)",
                node: context.node
            )
        }
        if index >= list.elements.count {
            list.elements += try ElementRows.slots(
                index + 1 - list.elements.count,
                of: Tensor?.none,
                node: context.node
            )
        }
        list.elements[index] = item
        return list
    }

    private static let pushBack = listOp("TensorListPushBack", inputs: 2) { attributes, context throws(WeftError) in
        let dtype = try attributes.dtype(context.node)
        let item = try context.input(1)
        guard item.dtype == dtype else {
            throw .invalidArgument(
                "Invalid data types; list elements \(dtype) but tried to append \(item.dtype)",
                node: context.node
            )
        }
        var list = try input(context, 0, dtype: dtype)
        guard list.elementShape.isCompatible(with: item.shape) else {
            throw .invalidArgument(
                "Tried to append a tensor with incompatible shape to a list. Op element shape: \(item.shape) list shape: \(list.elementShape)",
                node: context.node
            )
        }
        if let bound = list.maxElementCount, list.elements.count >= bound {
            throw .invalidArgument(
                "Tried to push item into a full list list size: \(list.elements.count), max_num_elements: \(bound)",
                node: context.node
            )
        }
        list.elements.append(item)
        return list
    }

    private static let scatterIntoExisting = listOp("TensorListScatterIntoExistingList", inputs: 3) {
        attributes,
        context throws(WeftError) in
        var list = try input(context, 0, dtype: nil)
        let tensor = try context.input(1)
        guard tensor.dtype == list.elementDType else {
            throw .invalidArgument(
                "Invalid data types; input tensor type: \(tensor.dtype) list element_type: \(list.elementDType)",
                node: context.node
            )
        }
        try KernelChecks.dtype(
            tensor,
            input: 1,
            expected: attributes.elementDType,
            op: "TensorListScatterIntoExistingList",
            node: context.node
        )
        let rowShape = try rowShape(of: tensor, node: context.node)
        let indices = try ElementRows.int32Vector(try context.input(2), what: "indices", node: context.node)
        guard indices.count == tensor.shape.dimensions[0] else {
            throw .invalidArgument(
                "Expected len(indices) == tensor.shape[0], but saw: \(indices.count) vs. \(tensor.shape.dimensions[0])",
                node: context.node
            )
        }
        guard list.elementShape.isCompatible(with: rowShape) else {
            throw .invalidArgument(
                "Tried to scatter tensors of shape \(rowShape) into a list with element shape \(list.elementShape)",
                node: context.node
            )
        }
        try scatterRows(of: tensor, at: indices, into: &list, node: context.node)
        return list
    }

    /// Sets `list.elements[indices[i]]` to row `i` of `tensor`, growing the list to the largest
    /// index first; later rows win where indices repeat.
    private static func scatterRows(
        of tensor: Tensor,
        at indices: [Int],
        into list: inout TensorList,
        node: String
    ) throws(WeftError) {
        for index in indices where index < 0 {
            throw .invalidArgument("Indices in TensorListScatter must all be non-negative.", node: node)
        }
        if let highest = indices.max(), highest >= list.elements.count {
            list.elements += try ElementRows.slots(highest + 1 - list.elements.count, of: Tensor?.none, node: node)
        }
        for (row, index) in indices.enumerated() {
            list.elements[index] = ElementRows.slice(tensor, start: row, count: 1, dropFirst: true)
        }
    }

    private static let resize = listOp("TensorListResize", inputs: 2) { _, context throws(WeftError) in
        var list = try input(context, 0, dtype: nil)
        let size = try ElementRows.int32Scalar(try context.input(1), what: "size", node: context.node)
        guard size >= 0 else {
            throw .invalidArgument("TensorListSlice expects size to be non-negative. Got: \(size)", node: context.node)
        }
        if size <= list.elements.count {
            list.elements.removeLast(list.elements.count - size)
        } else {
            list.elements += try ElementRows.slots(size - list.elements.count, of: Tensor?.none, node: context.node)
        }
        return list
    }

    private static let popBack = OpDefinition(
        "TensorListPopBack",
        inputCount: 2,
        outputTypes: { node, _ throws(WeftError) in
            [OutputType(.variant), OutputType(try node.attributes.type("element_dtype"))]
        },
        makeKernel: { node throws(WeftError) in
            let dtype = try node.attributes.type("element_dtype")
            return ClosureKernel { context throws(WeftError) in
                var list = try input(context, 0, dtype: dtype)
                guard let last = list.elements.popLast() else {
                    throw .invalidArgument("Trying to pop from an empty list.", node: context.node)
                }
                if let last { return [.tensor(list.tensor), .tensor(last)] }
                let shape = try requestedShape(context, 1, list: list)
                guard let concrete = shape.fullyDefined else {
                    throw .invalidArgument(
                        "Trying to read an uninitialized tensor but element_shape is not fully defined.\(shape)",
                        node: context.node
                    )
                }
                return [.tensor(list.tensor), .tensor(try ElementRows.zeros(dtype, concrete, node: context.node))]
            }
        }
    )

    // MARK: Reading lists

    private static let length = OpDefinition(
        "TensorListLength",
        inputCount: 1,
        isExpensive: false,
        outputTypes: { _, _ in [OutputType(.int32)] },
        makeKernel: { _ in
            ClosureKernel { context throws(WeftError) in
                let list = try input(context, 0, dtype: nil)
                guard let count = Int32(exactly: list.elements.count) else {
                    throw .invalidArgument("the list has more than 2^31 elements", node: context.node)
                }
                return [.tensor(Tensor(count))]
            }
        }
    )

    private static let elementShape = OpDefinition(
        "TensorListElementShape",
        inputCount: 1,
        isExpensive: false,
        outputTypes: { node, _ throws(WeftError) in [OutputType(try node.attributes.type("shape_type"))] },
        makeKernel: { node throws(WeftError) in
            let shapeType = try node.attributes.type("shape_type")
            return ClosureKernel { context throws(WeftError) in
                let list = try input(context, 0, dtype: nil)
                return [.tensor(try list.elementShape.shapeTensor(shapeType, node: context.node))]
            }
        }
    )

    private static let getItem = elementOp("TensorListGetItem", inputs: 3) { dtype, _, context throws(WeftError) in
        let list = try input(context, 0, dtype: dtype)
        let index = try ElementRows.int32Scalar(try context.input(1), what: "index", node: context.node)
        guard index >= 0, index < list.elements.count else {
            throw .invalidArgument(
                "Trying to access element \(index) in a list with \(list.elements.count) elements.",
                node: context.node
            )
        }
        if let element = list.elements[index] { return element }
        let shape = try inferredShape(
            try requestedShape(context, 2, list: list),
            list.elements[...],
            node: context.node
        )
        guard let concrete = shape.fullyDefined else {
            throw .invalidArgument(
                "Trying to read an uninitialized tensor but element_shape is not fully defined: \(shape) and no list element is set.",
                node: context.node
            )
        }
        return try ElementRows.zeros(dtype, concrete, node: context.node)
    }

    private static let stack = elementOp("TensorListStack", inputs: 2) { dtype, expected, context throws(WeftError) in
        let list = try input(context, 0, dtype: dtype)
        guard expected == -1 || list.elements.count == expected else {
            throw .invalidArgument(
                "Operation expected a list with \(expected) elements but got a list with \(list.elements.count) elements.",
                node: context.node
            )
        }
        var shape = try requestedShape(context, 1, list: list)
        guard shape.fullyDefined != nil || !list.elements.isEmpty else {
            throw .invalidArgument(
                "Tried to stack elements of an empty list with non-fully-defined element_shape: \(shape)",
                node: context.node
            )
        }
        shape = try inferredShape(shape, list.elements[...], node: context.node)
        guard let concrete = shape.fullyDefined else {
            throw .invalidArgument(
                "Tried to stack list which only contains uninitialized tensors and has a non-fully-defined element_shape: \(shape)",
                node: context.node
            )
        }
        return try stacked(list.elements, dtype: dtype, elementShape: concrete, node: context.node)
    }

    private static let gather = elementOp("TensorListGather", inputs: 3) { dtype, _, context throws(WeftError) in
        let list = try input(context, 0, dtype: dtype)
        let indices = try ElementRows.int32Vector(try context.input(1), what: "indices", node: context.node)
        var shape = try requestedShape(context, 2, list: list)
        guard shape.fullyDefined != nil || !indices.isEmpty else {
            throw .invalidArgument(
                "Tried to gather 0-elements from a list with non-fully-defined shape: \(shape)",
                node: context.node
            )
        }
        var chosen: [Tensor?] = []
        chosen.reserveCapacity(indices.count)
        for index in indices {
            guard index >= 0, index < list.elements.count else {
                throw .invalidArgument(
                    "Trying to gather element \(index) in a list with \(list.elements.count) elements.",
                    node: context.node
                )
            }
            chosen.append(list.elements[index])
        }
        shape = try inferredShape(shape, chosen[...], node: context.node)
        guard let concrete = shape.fullyDefined else {
            throw .invalidArgument(
                "Tried to gather uninitialized tensors from a list with non-fully-defined element_shape: \(shape)",
                node: context.node
            )
        }
        return try stacked(chosen, dtype: dtype, elementShape: concrete, node: context.node)
    }

    /// `TensorListConcatV2` (element shape and leading dims as inputs) and the older
    /// `TensorListConcat` (element shape as an attribute): the elements joined along their first
    /// dimension, and each element's length along it.
    private static func concat(_ op: String, inputs: Int) -> OpDefinition {
        OpDefinition(
            op,
            inputCount: inputs,
            outputTypes: { node, _ throws(WeftError) in
                [OutputType(try node.attributes.type("element_dtype")), OutputType(.int64)]
            },
            makeKernel: { node throws(WeftError) in
                let dtype = try node.attributes.type("element_dtype")
                let attributeShape = try node.attributes.shape("element_shape")
                return ClosureKernel { context throws(WeftError) in
                    let list = try input(context, 0, dtype: dtype)
                    var shape = attributeShape
                    var leading: [Int] = []
                    if inputs == 3 {
                        shape = try requestedShape(context, 1, list: list)
                        leading = try leadingDims(try context.input(2), node: context.node)
                    }
                    guard shape.dimensions.map({ !$0.isEmpty }) ?? true else {
                        throw .invalidArgument(
                            "Concat requires elements to be at least vectors, found scalars instead.",
                            node: context.node
                        )
                    }
                    let (joined, lengths) = try concatenated(list, shape: shape, leading: leading, node: context.node)
                    return [.tensor(joined), .tensor(Tensor(lengths.map { Int64($0) }))]
                }
            }
        )
    }

    /// Joins a list's elements along their first dimension. Unset elements are zeros whose
    /// length is the common length of the set ones, or `leading[i]`.
    private static func concatenated(
        _ list: TensorList,
        shape: PartialShape,
        leading: [Int],
        node: String
    ) throws(WeftError) -> (Tensor, [Int]) {
        var firstDim = shape.dimensions?.first ?? nil
        var rest = shape.droppingFirst
        guard !list.elements.isEmpty || rest.fullyDefined != nil else {
            throw .invalidArgument(
                "All except the first dimension must be fully defined when concating an empty tensor list. element_shape: \(rest)",
                node: node
            )
        }
        var common: Int?? = .none  // unset: no element seen; .some(nil): lengths differ
        for (index, element) in list.elements.enumerated() {
            guard let element else { continue }
            guard element.shape.rank >= 1 else {
                throw .invalidArgument(
                    "Concat saw a scalar shape at index \(index) but requires at least vectors.",
                    node: node
                )
            }
            rest = try rest.merged(
                with: PartialShape(TensorShape(Array(element.shape.dimensions.dropFirst()))),
                node: node
            )
            let length = element.shape.dimensions[0]
            if let firstDim, firstDim != length {
                throw .invalidArgument(
                    "First entry of element_shape input does not match the first dim of list element at index: \(index) Expected: \(firstDim) Actual: \(length)",
                    node: node
                )
            }
            common = common == .none || common == .some(length) ? .some(length) : .some(nil)
        }
        if firstDim == nil, let known = common { firstDim = known }
        guard let restShape = rest.fullyDefined else {
            throw .invalidArgument(
                "Trying to concat list with only uninitialized tensors but element_shape_except_first_dim_ is not fully defined: \(rest)",
                node: node
            )
        }
        var lengths: [Int] = []
        lengths.reserveCapacity(list.elements.count)
        var parts: [Tensor] = []
        parts.reserveCapacity(list.elements.count)
        var total = 0
        for (index, element) in list.elements.enumerated() {
            let part: Tensor
            if let element {
                part = element
            } else {
                let length: Int
                if index < leading.count {
                    length = leading[index]
                } else if let firstDim {
                    length = firstDim
                } else {
                    throw .invalidArgument(
                        "List contains uninitialized tensor at index \(index) but leading_dims has only \(leading.count) elements.",
                        node: node
                    )
                }
                part = try ElementRows.zeros(
                    list.elementDType,
                    TensorShape([length] + restShape.dimensions),
                    node: node
                )
            }
            let (sum, overflow) = total.addingReportingOverflow(part.shape.dimensions[0])
            guard !overflow else { throw .invalidArgument("the concatenated length overflows", node: node) }
            total = sum
            lengths.append(part.shape.dimensions[0])
            parts.append(part)
        }
        let joined = try ElementRows.join(
            parts,
            dtype: list.elementDType,
            shape: TensorShape([total] + restShape.dimensions),
            node: node
        )
        return (joined, lengths)
    }

    private static func leadingDims(_ tensor: Tensor, node: String) throws(WeftError) -> [Int] {
        guard tensor.dtype == .int64, tensor.shape.rank <= 1 else {
            throw .invalidArgument(
                "leading_dims must be an int64 vector, got a \(tensor.dtype) tensor of shape \(tensor.shape)",
                node: node
            )
        }
        let values = tensor.elements(as: Int64.self).map(Int.init)
        for value in values where value < 0 {
            throw .invalidArgument("leading_dims must be non-negative, got \(value)", node: node)
        }
        return values
    }

    // MARK: Gradient arithmetic on lists

    /// `ZerosLike` of variant tensors: each list with its set elements replaced by zeros of
    /// their shapes (unset slots stay unset), as the gradients of v2 loops build.
    static func zerosLike(_ x: Tensor, node: String) throws(WeftError) -> Tensor {
        var lists: [any VariantValue] = []
        lists.reserveCapacity(x.elementCount)
        for value in x.variants {
            guard var list = value as? TensorList else {
                throw .invalidArgument("ZerosLike of a variant needs TensorLists, got '\(value.typeName)'", node: node)
            }
            for index in list.elements.indices {
                if let element = list.elements[index] {
                    list.elements[index] = try ElementRows.zeros(element.dtype, element.shape, node: node)
                }
            }
            lists.append(list)
        }
        return try Tensor(variants: lists, shape: x.shape)
    }

    /// `AddN` of variant tensors: lists of one dtype and length added element by element, where
    /// an element set in only one list is taken as it is (gradient aggregation in v2 loops).
    static func sum(_ inputs: [Tensor], node: String) throws(WeftError) -> Tensor {
        let first = inputs[0]
        var lists: [TensorList] = []
        lists.reserveCapacity(first.elementCount)
        for value in first.variants {
            guard let list = value as? TensorList else {
                throw .invalidArgument("AddN of a variant needs TensorLists, got '\(value.typeName)'", node: node)
            }
            lists.append(list)
        }
        for input in inputs.dropFirst() {
            guard input.dtype == .variant, input.shape == first.shape else {
                throw .invalidArgument(
                    "AddN needs inputs of one dtype and shape, got \(first.dtype)\(first.shape) and \(input.dtype)\(input.shape)",
                    node: node
                )
            }
            for (position, value) in input.variants.enumerated() {
                guard let other = value as? TensorList else {
                    throw .invalidArgument("AddN of a variant needs TensorLists, got '\(value.typeName)'", node: node)
                }
                lists[position] = try added(lists[position], other, node: node)
            }
        }
        return try Tensor(variants: lists, shape: first.shape)
    }

    private static func added(_ a: TensorList, _ b: TensorList, node: String) throws(WeftError) -> TensorList {
        guard a.elementDType == b.elementDType else {
            throw .invalidArgument(
                "Trying to add two lists of tensors of different dtypes. One is \(a.elementDType) and the other is \(b.elementDType)",
                node: node
            )
        }
        guard a.elements.count == b.elements.count else {
            throw .invalidArgument(
                "Trying to add two lists of tensors with different lengths. One is \(a.elements.count) and the other is \(b.elements.count)",
                node: node
            )
        }
        var sum = a
        sum.elementShape = try a.elementShape.merged(with: b.elementShape, node: node)
        for index in a.elements.indices {
            guard let right = b.elements[index] else { continue }
            guard let left = a.elements[index] else {
                sum.elements[index] = right
                continue
            }
            guard left.shape == right.shape else {
                throw .invalidArgument(
                    "Trying to add two tensors with incompatible element shapes. One is \(left.shape) and the other is \(right.shape)",
                    node: node
                )
            }
            sum.elements[index] = try BinaryOp.add.apply(left, right, op: "AddN", node: node)
        }
        return sum
    }

    // MARK: Helpers

    /// The list in input `index`, checked to hold elements of `dtype` when given.
    static func input(_ context: OpKernelContext, _ index: Int, dtype: DType?) throws(WeftError) -> TensorList {
        let tensor = try context.input(index)
        guard tensor.dtype == .variant, tensor.shape.rank == 0 else {
            throw .invalidArgument(
                "Input list must be a scalar variant tensor, saw a \(tensor.dtype) tensor of shape \(tensor.shape)",
                node: context.node
            )
        }
        guard let list = tensor.variants.first as? TensorList else {
            throw .invalidArgument(
                "Input handle is not a list. Saw: '\(tensor.variants.first?.typeName ?? "nothing")'",
                node: context.node
            )
        }
        if let dtype, dtype != list.elementDType {
            throw .invalidArgument(
                "Invalid data types; op elements \(dtype) but list elements \(list.elementDType)",
                node: context.node
            )
        }
        return list
    }

    /// The element shape input `index` merged with the list's own.
    private static func requestedShape(
        _ context: OpKernelContext,
        _ index: Int,
        list: TensorList
    ) throws(WeftError) -> PartialShape {
        let requested = try PartialShape(shapeTensor: try context.input(index), node: context.node)
        return try requested.merged(with: list.elementShape, node: context.node)
    }

    /// `shape` refined by the shapes of the set elements, when it is not fully defined yet.
    private static func inferredShape(
        _ shape: PartialShape,
        _ elements: ArraySlice<Tensor?>,
        node: String
    ) throws(WeftError) -> PartialShape {
        guard shape.fullyDefined == nil else { return shape }
        var result = shape
        for case let element? in elements {
            result = try result.merged(with: PartialShape(element.shape), node: node)
        }
        return result
    }

    /// Elements of `elementShape` stacked along a new first dimension; unset ones are zeros.
    static func stacked(
        _ elements: [Tensor?],
        dtype: DType,
        elementShape: TensorShape,
        node: String
    ) throws(WeftError) -> Tensor {
        let shape = TensorShape([elements.count] + elementShape.dimensions)
        var zeros: Tensor?
        var parts: [Tensor] = []
        parts.reserveCapacity(elements.count)
        for element in elements {
            if let element {
                // Split lists and lists of a declared shape may hold elements of other shapes.
                guard element.shape == elementShape else {
                    throw .invalidArgument(
                        "Tried to stack an element of shape \(element.shape) in a list of element shape \(elementShape)",
                        node: node
                    )
                }
                parts.append(element)
            } else {
                if zeros == nil { zeros = try ElementRows.zeros(dtype, elementShape, node: node) }
                if let zeros { parts.append(zeros) }
            }
        }
        return try ElementRows.join(parts, dtype: dtype, shape: shape, node: node)
    }

    /// The shape of one row of `tensor`, which must be at least a vector.
    private static func rowShape(of tensor: Tensor, node: String) throws(WeftError) -> TensorShape {
        guard tensor.shape.rank >= 1 else {
            throw .invalidArgument("Tensor must be at least a vector, but saw shape: \(tensor.shape)", node: node)
        }
        return TensorShape(Array(tensor.shape.dimensions.dropFirst()))
    }

    /// An op whose one output is a list made by `body`.
    private static func listOp(
        _ name: String,
        inputs: Int,
        _ body: @escaping @Sendable (ListAttributes, OpKernelContext) throws(WeftError) -> TensorList
    ) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: inputs,
            outputTypes: { _, _ in [OutputType(.variant)] },
            makeKernel: { node throws(WeftError) in
                let attributes = try ListAttributes(node)
                return ClosureKernel { context throws(WeftError) in [.tensor(try body(attributes, context).tensor)] }
            }
        )
    }

    /// An op whose one output is a tensor of the node's `element_dtype`, made by `body`.
    /// `body` gets the node's `element_dtype` and `num_elements` (-1 when absent; only
    /// `TensorListStack` has it), read once when the kernel is made.
    private static func elementOp(
        _ name: String,
        inputs: Int,
        _ body: @escaping @Sendable (DType, Int, OpKernelContext) throws(WeftError) -> Tensor
    ) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: inputs,
            outputTypes: OpDefinition.outputOfAttribute("element_dtype"),
            makeKernel: { node throws(WeftError) in
                let dtype = try node.attributes.type("element_dtype")
                let count = try node.attributes.int("num_elements", default: -1)
                return ClosureKernel { context throws(WeftError) in [.tensor(try body(dtype, count, context))] }
            }
        )
    }
}

/// The attributes of the list-making ops, read once when the kernel is made.
private struct ListAttributes: Sendable {
    /// `element_dtype`, when the node declares it.
    let elementDType: DType?
    /// `resize_if_index_out_of_bounds` (`TensorListSetItem`).
    let resizing: Bool

    init(_ node: NodeInfo) throws(WeftError) {
        elementDType = try node.optionalType("element_dtype")
        resizing = try node.attributes.bool("resize_if_index_out_of_bounds", default: false)
    }

    /// `element_dtype`, for ops that cannot run without it.
    func dtype(_ node: String) throws(WeftError) -> DType {
        guard let elementDType else {
            throw .invalidArgument("the node needs a type attribute 'element_dtype'", node: node)
        }
        return elementDType
    }
}
