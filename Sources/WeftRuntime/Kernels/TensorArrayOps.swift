import Synchronization

/// A TensorArray of one step (`TensorArrayV3`): indexed slots written once and read back,
/// which v1 `tf.while_loop`s and `dynamic_rnn` use for per-iteration values. A gradient array
/// (`TensorArrayGradV3`) adds up repeated writes to a slot instead of refusing them.
final class TensorArrayResource: Sendable {
    /// One slot: its value, or only its shape once a read of an unwritten slot fixed it to zeros.
    struct Slot {
        var value: Tensor?
        var shape: TensorShape?
        var written = false
        var read = false
        var cleared = false
    }

    struct State {
        var slots: [Slot]
        var elementShape: PartialShape
        var dynamicSize: Bool
        var closed = false
    }

    /// The array's unique name, as messages print it.
    let name: String
    /// The dtype of every element.
    let dtype: DType
    /// Whether a read frees the slot (`clear_after_read`).
    let clearAfterRead: Bool
    /// Whether the first write fixes the shape of all elements (`identical_element_shapes`).
    let identicalElementShapes: Bool
    /// Whether this is a gradient array: writes to a written slot add up, reads past the end
    /// or of unwritten slots give zeros.
    let isGradient: Bool
    private let state: Mutex<State>

    init(
        name: String,
        dtype: DType,
        size: Int,
        elementShape: PartialShape,
        dynamicSize: Bool,
        clearAfterRead: Bool,
        identicalElementShapes: Bool,
        isGradient: Bool,
        node: String
    ) throws(WeftError) {
        self.name = name
        self.dtype = dtype
        self.clearAfterRead = clearAfterRead
        self.identicalElementShapes = identicalElementShapes
        self.isGradient = isGradient
        let slots = try ElementRows.slots(size, of: Slot(), node: node)
        state = Mutex(State(slots: slots, elementShape: elementShape, dynamicSize: dynamicSize))
    }

    /// The number of slots; a closed array keeps its size, as TensorFlow's does.
    var size: Int { state.withLock { $0.slots.count } }

    /// The size and element shape a gradient array starts from. The forward array can no
    /// longer grow once its gradient exists.
    func gradientTemplate(node: String) throws(WeftError) -> (size: Int, elementShape: PartialShape) {
        try state.withLock { (state: inout State) throws(WeftError) -> (size: Int, elementShape: PartialShape) in
            try check(open: state, node: node)
            state.dynamicSize = false
            return (state.slots.count, state.elementShape)
        }
    }

    /// Whether writes past the end grow the array.
    var isDynamic: Bool { state.withLock { $0.dynamicSize } }

    /// Frees every value; later reads and writes fail.
    func close() {
        state.withLock { state in
            for index in state.slots.indices { state.slots[index] = Slot() }
            state.closed = true
        }
    }

    /// Writes `values[i]` at `indices[i]`, in order, growing a dynamic array as needed.
    func write(_ values: [Tensor], at indices: [Int], node: String) throws(WeftError) {
        try state.withLock { (state: inout State) throws(WeftError) in
            try check(open: state, node: node)
            for (index, value) in zip(indices, values) {
                try write(value, at: index, into: &state, node: node)
            }
        }
    }

    /// The values at `indices`, in order, with TensorFlow's read rules.
    func read(_ indices: [Int], node: String) throws(WeftError) -> [Tensor] {
        try state.withLock { (state: inout State) throws(WeftError) -> [Tensor] in
            try check(open: state, node: node)
            var values: [Tensor] = []
            values.reserveCapacity(indices.count)
            for index in indices { values.append(try read(index, from: &state, node: node)) }
            return values
        }
    }

    /// Every value, in order (for `TensorArrayConcatV3`).
    func readAll(node: String) throws(WeftError) -> [Tensor] {
        try read(Array(0..<size), node: node)
    }

    private func write(_ value: Tensor, at index: Int, into state: inout State, node: String) throws(WeftError) {
        guard index >= 0, state.dynamicSize || index < state.slots.count else {
            throw failure(
                "Tried to write to index \(index) but array is not resizeable and size is: \(state.slots.count)",
                node: node
            )
        }
        if index >= state.slots.count {
            state.slots += try ElementRows.slots(index + 1 - state.slots.count, of: Slot(), node: node)
        }
        guard value.dtype == dtype else {
            throw failure(
                "Could not write to TensorArray index \(index) because the value dtype is \(value.dtype) but TensorArray dtype is \(dtype).",
                node: node
            )
        }
        guard state.elementShape.isCompatible(with: value.shape) else {
            throw failure(
                "Could not write to TensorArray index \(index) because the value shape is \(value.shape) which is incompatible with the TensorArray's inferred element shape: \(state.elementShape) (consider setting infer_shape=False).",
                node: node
            )
        }
        if identicalElementShapes, state.elementShape.fullyDefined == nil {
            state.elementShape = PartialShape(value.shape)
        }
        let slot = state.slots[index]
        guard !slot.read else {
            throw failure("Could not write to TensorArray index \(index) because it has already been read.", node: node)
        }
        guard isGradient || !slot.written else {
            throw failure(
                "Could not write to TensorArray index \(index) because it has already been written to.",
                node: node
            )
        }
        var stored = value
        if slot.written, let shape = slot.shape {
            guard shape == value.shape else {
                throw failure(
                    "Could not aggregate to TensorArray index \(index) because the existing shape is \(shape) but the new input shape is \(value.shape).",
                    node: node
                )
            }
            if let existing = slot.value {
                stored = try BinaryOp.add.apply(existing, value, op: "TensorArrayWriteV3", node: node)
            }
        }
        state.slots[index] = Slot(value: stored, shape: stored.shape, written: true)
    }

    private func read(_ index: Int, from state: inout State, node: String) throws(WeftError) -> Tensor {
        guard index >= 0, isGradient || index < state.slots.count else {
            throw failure("Tried to read from index \(index) but array size is: \(state.slots.count)", node: node)
        }
        if index >= state.slots.count || !state.slots[index].written {
            try fixZeros(at: index, in: &state, node: node)
        }
        var slot = state.slots[index]
        guard !slot.cleared else {
            throw failure(
                "Could not read index \(index) twice because it was cleared after a previous read (perhaps try setting clear_after_read = false?).",
                node: node
            )
        }
        let value: Tensor
        if let stored = slot.value {
            value = stored
        } else {
            value = try ElementRows.zeros(dtype, slot.shape ?? .scalar, node: node)
        }
        if clearAfterRead {
            slot.value = nil
            slot.cleared = true
        }
        slot.read = true
        state.slots[index] = slot
        return value
    }

    /// Marks an unwritten slot (and, in a gradient array, the slots up to it) as zeros of the
    /// element shape, which must then be fully defined.
    private func fixZeros(at index: Int, in state: inout State, node: String) throws(WeftError) {
        let shape: TensorShape
        if isGradient, index < state.slots.count, let known = state.slots[index].shape, known.rank > 0 {
            shape = known
        } else if let defined = state.elementShape.fullyDefined {
            shape = defined
        } else {
            throw failure(
                "Could not read from TensorArray index \(index).  Furthermore, the element shape is not fully defined: \(state.elementShape).  It is possible you are working with a resizeable TensorArray and stop_gradients is not allowing the gradients to be written.  If you set the full element_shape property on the forward TensorArray, the proper all-zeros tensor will be returned instead of incurring this error.",
                node: node
            )
        }
        let zeroSlot = Slot(value: nil, shape: shape, written: true)
        if index >= state.slots.count {
            state.slots += try ElementRows.slots(index + 1 - state.slots.count, of: zeroSlot, node: node)
        } else {
            state.slots[index] = zeroSlot
        }
    }

    private func check(open state: State, node: String) throws(WeftError) {
        if state.closed { throw failure("has already been closed.", node: node, separator: " ") }
    }

    private func failure(_ message: String, node: String, separator: String = ": ") -> WeftError {
        .invalidArgument("TensorArray \(name)\(separator)\(message)", node: node)
    }
}

/// The TensorArrayV3 family: arrays created per step in the step's resources, reached through
/// a resource handle, with a float `flow` tensor that orders their uses in the graph.
enum TensorArrayOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [create, write, read, gather, scatter, concat, split, size, grad, close]

    /// The container TensorFlow names TensorArray handles with.
    static let container = "_tensor_arrays"

    private static let create = OpDefinition(
        "TensorArrayV3",
        inputCount: 1,
        isStateful: true,
        outputTypes: { _, _ in [OutputType(.resource), OutputType(.float)] },
        makeKernel: { node throws(WeftError) in
            let dtype = try node.attributes.type("dtype")
            let elementShape = try node.attributes.shape("element_shape")
            let dynamicSize = try node.attributes.bool("dynamic_size", default: false)
            let clearAfterRead = try node.attributes.bool("clear_after_read", default: true)
            let identical = try node.attributes.bool("identical_element_shapes", default: false)
            let given = try node.attributes.string("tensor_array_name", default: "")
            let base = given.isEmpty ? node.name : given
            return ClosureKernel { context throws(WeftError) in
                let sizeTensor = try context.input(0)
                guard sizeTensor.shape.rank == 0 else {
                    throw .invalidArgument(
                        "TensorArray size must be scalar, but had shape: \(sizeTensor.shape)",
                        node: context.node
                    )
                }
                let size = try ElementRows.int32Scalar(sizeTensor, what: "size", node: context.node)
                guard size >= 0 else { throw .invalidArgument("Size should be >= 0.", node: context.node) }
                let resources = context.step.stepResources
                let name = resources.uniqueName(base)
                let array = try TensorArrayResource(
                    name: name,
                    dtype: dtype,
                    size: size,
                    elementShape: elementShape,
                    dynamicSize: dynamicSize,
                    clearAfterRead: clearAfterRead,
                    identicalElementShapes: identical,
                    isGradient: false,
                    node: context.node
                )
                let handle = ResourceHandle(container: container, name: name, device: node.device, dtype: dtype)
                resources.insert(array, at: handle.key)
                return [.tensor(try Tensor(handles: [handle], shape: .scalar)), .tensor(Tensor(Float(0)))]
            }
        }
    )

    private static let write = flowOp("TensorArrayWriteV3", inputs: 4, value: 2) {
        array,
        value,
        context throws(WeftError) in
        let index = try ElementRows.int32Scalar(try context.input(1), what: "index", node: context.node)
        try array.write([value], at: [index], node: context.node)
    }

    private static let scatter = flowOp("TensorArrayScatterV3", inputs: 4, value: 2) {
        array,
        value,
        context throws(WeftError) in
        let indices = try ElementRows.int32Vector(try context.input(1), what: "indices", node: context.node)
        guard value.shape.rank >= 1 else {
            throw .invalidArgument(
                "Expected value to be at least a vector, but received shape: \(value.shape)",
                node: context.node
            )
        }
        guard indices.count == value.shape.dimensions[0] else {
            throw .invalidArgument(
                "Expected len(indices) == values.shape[0], but saw: \(indices.count) vs. \(value.shape.dimensions[0])",
                node: context.node
            )
        }
        let rows = (0..<indices.count).map { ElementRows.slice(value, start: $0, count: 1, dropFirst: true) }
        try array.write(rows, at: indices, node: context.node)
    }

    private static let split = flowOp("TensorArraySplitV3", inputs: 4, value: 1) {
        array,
        value,
        context throws(WeftError) in
        let lengthsTensor = try context.input(2)
        guard lengthsTensor.dtype == .int64, lengthsTensor.shape.rank == 1 else {
            throw .invalidArgument(
                "Expected lengths to be an int64 vector, received a \(lengthsTensor.dtype) tensor of shape \(lengthsTensor.shape)",
                node: context.node
            )
        }
        guard value.shape.rank >= 1 else {
            throw .invalidArgument(
                "Expected value to be at least a vector, but received shape: \(value.shape)",
                node: context.node
            )
        }
        let lengths = lengthsTensor.elements(as: Int64.self)
        let total = value.shape.dimensions[0]
        var sum: Int64 = 0
        for length in lengths {
            let (next, overflow) = sum.addingReportingOverflow(length)
            guard length >= 0, !overflow else {
                throw .invalidArgument("Invalid value in lengths: \(length)", node: context.node)
            }
            sum = next
        }
        guard sum == Int64(total) else {
            throw .invalidArgument(
                "Expected sum of lengths to be equal to values.shape[0], but sum of lengths is \(sum) and value's shape is: \(value.shape).",
                node: context.node
            )
        }
        let arraySize = array.size
        guard arraySize == lengths.count || array.isDynamic else {
            throw .invalidArgument(
                "TensorArray's size is not equal to the size of lengths (\(arraySize) vs. \(lengths.count)), and the TensorArray is not marked as dynamically resizeable",
                node: context.node
            )
        }
        var pieces: [Tensor] = []
        pieces.reserveCapacity(lengths.count)
        var start = 0
        for length in lengths {
            pieces.append(ElementRows.slice(value, start: start, count: Int(length), dropFirst: false))
            start += Int(length)
        }
        try array.write(pieces, at: Array(0..<lengths.count), node: context.node)
    }

    private static let read = readOp("TensorArrayReadV3", inputs: 3) { array, dtype, _, context throws(WeftError) in
        let index = try ElementRows.int32Scalar(try context.input(1), what: "index", node: context.node)
        return try array.read([index], node: context.node)[0]
    }

    private static let gather = readOp("TensorArrayGatherV3", inputs: 3) {
        array,
        dtype,
        shape,
        context throws(WeftError) in
        let indices = try ElementRows.int32Vector(try context.input(1), what: "indices", node: context.node)
        let values = try array.read(indices, node: context.node)
        guard let first = values.first else {
            guard let concrete = shape.fullyDefined else {
                throw .invalidArgument(
                    "TensorArray has size zero, but element shape \(shape) is not fully defined. Currently only static shapes are supported when packing zero-size TensorArrays.",
                    node: context.node
                )
            }
            return try TensorListOps.stacked([], dtype: dtype, elementShape: concrete, node: context.node)
        }
        guard shape.isCompatible(with: first.shape) else {
            throw .invalidArgument(
                "TensorArray was passed element_shape \(shape) which does not match the Tensor at index 0: \(first.shape)",
                node: context.node
            )
        }
        for (position, value) in values.enumerated() where value.shape != first.shape {
            throw .invalidArgument(
                "TensorArray has inconsistent shapes.  Index 0 has shape: \(first.shape) but index \(position) has shape: \(value.shape)",
                node: context.node
            )
        }
        return try TensorListOps.stacked(values, dtype: dtype, elementShape: first.shape, node: context.node)
    }

    private static let concat = OpDefinition(
        "TensorArrayConcatV3",
        inputCount: 2,
        isStateful: true,
        outputTypes: { node, _ throws(WeftError) in [OutputType(try node.attributes.type("dtype")), OutputType(.int64)]
        },
        makeKernel: { node throws(WeftError) in
            let dtype = try node.attributes.type("dtype")
            let shape = try node.attributes.shape("element_shape_except0")
            return ClosureKernel { context throws(WeftError) in
                let array = try array(context)
                try checkRead(dtype, array: array, context: context)
                let values = try array.readAll(node: context.node)
                let (joined, lengths) = try concatenated(values, dtype: dtype, shape: shape, node: context.node)
                return [.tensor(joined), .tensor(Tensor(lengths))]
            }
        }
    )

    /// The values joined along their first dimension, and each one's length along it.
    private static func concatenated(
        _ values: [Tensor],
        dtype: DType,
        shape: PartialShape,
        node: String
    ) throws(WeftError) -> (Tensor, [Int64]) {
        for (index, value) in values.enumerated() where value.shape.rank == 0 {
            throw .invalidArgument(
                "Concat saw a scalar shape at index \(index) but requires at least vectors.  Did you mean to call TensorArray.pack instead?",
                node: node
            )
        }
        guard let first = values.first else {
            guard let concrete = shape.fullyDefined else {
                throw .invalidArgument(
                    "TensorArray has size zero, but element_shape_except0 \(shape) is not fully defined. Currently only static shapes are supported when concatenating zero-size TensorArrays.",
                    node: node
                )
            }
            return (
                try ElementRows.join([], dtype: dtype, shape: TensorShape([0] + concrete.dimensions), node: node), []
            )
        }
        let rest = Array(first.shape.dimensions.dropFirst())
        guard shape.isCompatible(with: TensorShape(rest)) else {
            throw .invalidArgument(
                "TensorArray was passed element_shape_except0 \(shape) but index 0 has (excepting dimension 0) shape: \(TensorShape(rest))",
                node: node
            )
        }
        var total = 0
        for (index, value) in values.enumerated() {
            let valueRest = Array(value.shape.dimensions.dropFirst())
            guard valueRest == rest else {
                throw .invalidArgument(
                    "TensorArray has inconsistent shapes.  Index 0 has (excepting dimension 0) shape: \(TensorShape(rest)) but index \(index) has (excepting dimension 0) shape: \(TensorShape(valueRest))",
                    node: node
                )
            }
            total += value.shape.dimensions[0]  // the values exist, so their lengths add up without overflow
        }
        let joined = try ElementRows.join(values, dtype: dtype, shape: TensorShape([total] + rest), node: node)
        return (joined, values.map { Int64($0.shape.dimensions[0]) })
    }

    private static let size = OpDefinition(
        "TensorArraySizeV3",
        inputCount: 2,
        isStateful: true,
        isExpensive: false,
        outputTypes: { _, _ in [OutputType(.int32)] },
        makeKernel: { _ in
            ClosureKernel { context throws(WeftError) in
                let size = try array(context).size
                return [.tensor(Tensor(Int32(clamping: size)))]
            }
        }
    )

    private static let grad = OpDefinition(
        "TensorArrayGradV3",
        inputCount: 2,
        isStateful: true,
        outputTypes: { _, _ in [OutputType(.resource), OutputType(.float)] },
        makeKernel: { node throws(WeftError) in
            let source = try node.attributes.string("source")
            return ClosureKernel { context throws(WeftError) in
                let forward = try ResourceVariables.handle(context, 0)
                let array = try array(context)
                let flow = try context.input(1)
                let (size, elementShape) = try array.gradientTemplate(node: context.node)
                var handle = forward
                handle.name = "\(forward.name)@\(source)"
                let made = try context.step.stepResources.lookup(handle.key) { () throws(WeftError) in
                    try TensorArrayResource(
                        name: handle.name,
                        dtype: array.dtype,
                        size: size,
                        elementShape: elementShape,
                        dynamicSize: false,
                        clearAfterRead: true,
                        identicalElementShapes: array.identicalElementShapes,
                        isGradient: true,
                        node: context.node
                    )
                }
                guard made != nil else {
                    throw WeftError(.internal, "resource \(handle.path) is not a TensorArray (node '\(context.node)')")
                }
                return [.tensor(try Tensor(handles: [handle], shape: .scalar)), .tensor(flow)]
            }
        }
    )

    private static let close = OpDefinition(
        "TensorArrayCloseV3",
        inputCount: 1,
        isStateful: true,
        outputTypes: OpDefinition.noOutputs,
        makeKernel: { _ in
            ClosureKernel { context throws(WeftError) in
                try array(context).close()
                return []
            }
        }
    )

    // MARK: Helpers

    /// The array behind the handle in input 0; `notFound` when this step made no such array.
    private static func array(_ context: OpKernelContext) throws(WeftError) -> TensorArrayResource {
        let handle = try ResourceVariables.handle(context, 0)
        guard let array = context.step.stepResources.lookup(handle.key, as: TensorArrayResource.self) else {
            throw WeftError(
                .notFound,
                "Container \(handle.container) does not exist. (Could not find resource: \(handle.container)/\(handle.name)); TensorArrays live for one step (node '\(context.node)')"
            )
        }
        return array
    }

    /// Checks a value to write against the node's `T` (`declared`) and the array's dtype.
    private static func checkWritten(
        _ value: Tensor,
        input: Int,
        declared: DType?,
        array: TensorArrayResource,
        context: OpKernelContext,
        op: String
    ) throws(WeftError) {
        try KernelChecks.dtype(value, input: input, expected: declared, op: op, node: context.node)
        guard value.dtype == array.dtype else {
            throw .invalidArgument(
                "TensorArray dtype is \(array.dtype) but Op is trying to write dtype \(value.dtype).",
                node: context.node
            )
        }
    }

    /// Checks the dtype an op reads against the array's.
    private static func checkRead(
        _ dtype: DType,
        array: TensorArrayResource,
        context: OpKernelContext
    ) throws(WeftError) {
        guard dtype == array.dtype else {
            throw .invalidArgument(
                "TensorArray dtype is \(array.dtype) but Op requested dtype \(dtype).",
                node: context.node
            )
        }
    }

    /// An op that writes input `value` (checked against the array's dtype) into an array and
    /// passes its last input, the flow, on as its output.
    private static func flowOp(
        _ name: String,
        inputs: Int,
        value valueInput: Int,
        _ body: @escaping @Sendable (TensorArrayResource, Tensor, OpKernelContext) throws(WeftError) -> Void
    ) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: inputs,
            isStateful: true,
            outputTypes: { _, _ in [OutputType(.float)] },
            makeKernel: { node throws(WeftError) in
                let declared = try node.optionalType("T")
                return ClosureKernel { context throws(WeftError) in
                    let array = try array(context)
                    let value = try context.input(valueInput)
                    try checkWritten(
                        value,
                        input: valueInput,
                        declared: declared,
                        array: array,
                        context: context,
                        op: name
                    )
                    try body(array, value, context)
                    return [.tensor(try context.input(inputs - 1))]
                }
            }
        )
    }

    /// An op that reads one tensor of the node's `dtype` from an array; `body` also gets the
    /// node's `element_shape` (unknown when absent; only `TensorArrayGatherV3` has it).
    private static func readOp(
        _ name: String,
        inputs: Int,
        _ body:
            @escaping @Sendable (TensorArrayResource, DType, PartialShape, OpKernelContext) throws(WeftError) ->
            Tensor
    ) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: inputs,
            isStateful: true,
            outputTypes: OpDefinition.outputOfAttribute("dtype"),
            makeKernel: { node throws(WeftError) in
                let dtype = try node.attributes.type("dtype")
                let shape = try node.attributes.shape("element_shape")
                return ClosureKernel { context throws(WeftError) in
                    let array = try array(context)
                    try checkRead(dtype, array: array, context: context)
                    return [.tensor(try body(array, dtype, shape, context))]
                }
            }
        )
    }
}
