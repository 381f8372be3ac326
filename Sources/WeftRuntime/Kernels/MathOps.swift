/// Element-wise arithmetic, comparisons, logic, unary math, `Cast` and `AddN`.
enum MathOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] =
        [
            binary("Add", .add), binary("AddV2", .add), binary("Sub", .sub), binary("Mul", .mul),
            binary("RealDiv", .div), binary("Div", .div), binary("FloorDiv", .floorDiv),
            binary("FloorMod", .floorMod), binary("Maximum", .maximum), binary("Minimum", .minimum),
            binary("Pow", .pow), binary("SquaredDifference", .squaredDifference),
            comparison("Less", .less), comparison("LessEqual", .lessEqual), comparison("Greater", .greater),
            comparison("GreaterEqual", .greaterEqual), comparison("Equal", .equal),
            comparison("NotEqual", .notEqual),
            logical("LogicalAnd", .and), logical("LogicalOr", .or), logicalNot,
            addN, CastOp.definition,
        ] + UnaryOp.allCases.map(unary)

    /// A binary arithmetic op with broadcasting; both inputs have the type `T`.
    private static func binary(_ name: String, _ operation: BinaryOp) -> OpDefinition {
        broadcasting(name, .arithmetic(operation), output: nil)
    }

    /// A comparison with broadcasting, giving `bool`.
    private static func comparison(_ name: String, _ operation: ComparisonOp) -> OpDefinition {
        broadcasting(name, .comparison(operation), output: .bool)
    }

    /// An op on two broadcast inputs of the type `T`, giving `output` (`nil`: `T`).
    private static func broadcasting(
        _ name: String,
        _ operation: ElementwiseKernel.Operation,
        output: DType?
    ) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 2,
            outputTypes: sameTypeInputs(name, output: output),
            makeKernel: { node throws(WeftError) in
                ElementwiseKernel(name: name, operation: operation, declared: try node.optionalType("T"))
            }
        )
    }

    /// `LogicalAnd` / `LogicalOr` with broadcasting, on `bool` only.
    private static func logical(_ name: String, _ operation: LogicalOp) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 2,
            outputTypes: sameTypeInputs(name, output: .bool),
            makeKernel: { _ in ElementwiseKernel(name: name, operation: .logical(operation), declared: nil) }
        )
    }

    private static let logicalNot = OpDefinition(
        "LogicalNot",
        inputCount: 1,
        outputTypes: { _, _ in [OutputType(.bool)] },
        makeKernel: { _ in
            SingleOutputClosureKernel { context throws(WeftError) in
                let x = try context.input(0)
                guard x.dtype == .bool else { throw .unsupported(op: "LogicalNot", dtype: x.dtype, node: context.node) }
                let out = Tensor(uninitialized: .bool, shape: x.shape)
                x.withElements(of: Bool.self) { input in
                    out.withMutableElements(of: Bool.self) { output in
                        for i in input.indices { output[i] = !input[i] }
                    }
                }
                return .tensor(out)
            }
        }
    )

    private static func unary(_ operation: UnaryOp) -> OpDefinition {
        OpDefinition(
            operation.name,
            inputCount: 1,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { _ in ElementwiseKernel(name: operation.name, operation: .unary(operation), declared: nil) }
        )
    }

    /// `AddN`: the sum of `N` tensors of one dtype and one shape (no broadcasting, as in TensorFlow).
    private static let addN = OpDefinition(
        "AddN",
        inputCount: nil,
        outputTypes: OpDefinition.outputOfInput(0),
        makeKernel: { node throws(WeftError) in
            let count = try node.attributes.int("N", default: node.dataInputs.count)
            guard count >= 1, count == node.dataInputs.count else {
                throw WeftError(
                    .invalidArgument,
                    "node '\(node.name)' (AddN) has attribute N=\(count) but \(node.dataInputs.count) inputs; N must be at least 1"
                )
            }
            return SingleOutputClosureKernel { context throws(WeftError) in
                var inputs: [Tensor] = []
                inputs.reserveCapacity(context.inputs.count)
                for index in context.inputs.indices { inputs.append(try context.input(index)) }
                if inputs[0].dtype == .variant { return .tensor(try TensorListOps.sum(inputs, node: context.node)) }
                return .tensor(try AddN.sum(inputs, node: context.node))
            }
        }
    )

    /// Output types for ops whose inputs must share a dtype: checked here, when the graph is
    /// built, so a mismatch is reported before any step runs. `output` is the result's dtype,
    /// `nil` for the inputs' dtype.
    private static func sameTypeInputs(
        _ op: String,
        output: DType?
    ) -> @Sendable (NodeInfo, [OutputType]) throws(WeftError) -> [OutputType] {
        { node, inputs throws(WeftError) in
            if inputs.count == 2, inputs[0].dtype != inputs[1].dtype {
                throw WeftError(
                    .invalidArgument,
                    "Input 'y' of '\(op)' Op has type \(inputs[1].dtype.name) that does not match type \(inputs[0].dtype.name) of argument 'x' (node '\(node.name)')"
                )
            }
            if let output { return [OutputType(output)] }
            return try OpDefinition.outputOfInput(0)(node, inputs)
        }
    }
}

/// The kernel of an element-wise op (arithmetic, comparison, logic, unary math): a struct
/// rather than a closure, so an executor calling it in place retains no closure context.
struct ElementwiseKernel: SingleOutputKernel {
    /// The op, by its concrete type: switching on it copies no existential, and each binary
    /// case runs a specialized `binary`.
    enum Operation: Sendable {
        /// Two inputs, broadcast.
        case arithmetic(BinaryOp)
        case comparison(ComparisonOp)
        case logical(LogicalOp)
        case unary(UnaryOp)
    }

    /// TensorFlow's op name, for messages.
    let name: String
    let operation: Operation
    /// The `T` attribute a binary op's first input must match; `nil` when the node has none.
    let declared: DType?

    /// Takes the inputs out of `context`, so the result can go into the buffer of one that
    /// nothing else holds (a chain's intermediate value) instead of a new one.
    func computeOutput(_ context: inout OpKernelContext) throws(WeftError) -> Value {
        switch operation {
        case .unary(let operation):
            var x = try context.popInput()
            guard x.isWritableInPlace() else { return .tensor(try operation.apply(x, node: context.node)) }
            // `x` goes back out as the result, moved: neither copied nor retained.
            try operation.applyInPlace(x, node: context.node)
            return .tensor(x)
        case .arithmetic(let operation): return try binary(operation, &context)
        case .comparison(let operation): return try binary(operation, &context)
        case .logical(let operation): return try binary(operation, &context)
        }
    }

    private func binary(_ operation: some BroadcastingOp, _ context: inout OpKernelContext) throws(WeftError) -> Value {
        // Input 1 is read after input 0's dtype is checked, as the inputs' order has it.
        guard context.inputs.count == 2, let second = context.inputs.popLast() else {
            throw .invalidArgument("\(name) takes 2 inputs, not \(context.inputs.count)", node: context.node)
        }
        var a = try context.popInput()
        try KernelChecks.dtype(a, input: 0, expected: declared, op: name, node: context.node)
        var b = try second.take()
        var reusable: ReusableOperands = []
        if a.isWritableInPlace() { reusable.insert(.lhs) }
        if b.isWritableInPlace() { reusable.insert(.rhs) }
        // An operand written in place goes back out as the result, moved: neither copied nor
        // retained.
        switch try operation.apply(a, b, op: name, node: context.node, reusable: reusable) {
        case .lhs: return .tensor(a)
        case .rhs: return .tensor(b)
        case .new(let out): return .tensor(out)
        }
    }

    /// For an executor that keeps the inputs (its context is shared): taking them out would
    /// copy the inputs array, so this reads them and allocates the result.
    func compute(_ context: OpKernelContext) throws(WeftError) -> [Value] {
        let a = try context.input(0)
        switch operation {
        case .unary(let operation):
            return [.tensor(try operation.apply(a, node: context.node))]
        case .arithmetic(let operation): return [try binary(operation, a, context)]
        case .comparison(let operation): return [try binary(operation, a, context)]
        case .logical(let operation): return [try binary(operation, a, context)]
        }
    }

    private func binary(
        _ operation: some BroadcastingOp,
        _ a: Tensor,
        _ context: OpKernelContext
    ) throws(WeftError) -> Value {
        try KernelChecks.dtype(a, input: 0, expected: declared, op: name, node: context.node)
        return .tensor(try operation.apply(a, try context.input(1), op: name, node: context.node))
    }
}

// MARK: - Binary arithmetic

/// An element-wise op on two tensors that broadcast against each other.
protocol BroadcastingOp: Sendable {
    /// `a` op `b`, broadcast; `op` and `node` name the node in errors. The result goes into
    /// the buffer of an operand in `reusable` (one the caller holds alone) when it has the
    /// result's dtype and shape, or else into a new tensor.
    func apply(
        _ a: Tensor,
        _ b: Tensor,
        op: String,
        node: String,
        reusable: ReusableOperands
    ) throws(WeftError)
        -> BinaryResult
}

extension BroadcastingOp {
    /// `a` op `b`, broadcast, into a new tensor.
    func apply(_ a: Tensor, _ b: Tensor, op: String, node: String) throws(WeftError) -> Tensor {
        try apply(a, b, op: op, node: node, reusable: []).tensor(a, b)
    }
}

/// Where a binary op wrote its result: into the buffer of an operand the caller holds alone,
/// which the caller then hands on as the result, or into a new tensor.
enum BinaryResult {
    case lhs
    case rhs
    case new(Tensor)

    /// The result's memory, for the op to write.
    func memory(_ a: Tensor, _ b: Tensor) -> ElementMemory {
        switch self {
        case .lhs: ElementMemory(a)
        case .rhs: ElementMemory(b)
        case .new(let tensor): ElementMemory(tensor)
        }
    }

    /// The result as a tensor.
    func tensor(_ a: Tensor, _ b: Tensor) -> Tensor {
        switch self {
        case .lhs: a
        case .rhs: b
        case .new(let tensor): tensor
        }
    }
}

/// The operands of a binary op whose buffers its result may take.
struct ReusableOperands: OptionSet {
    let rawValue: UInt8
    static let lhs = ReusableOperands(rawValue: 1)
    static let rhs = ReusableOperands(rawValue: 2)
}

/// An element-wise arithmetic op on two tensors of one dtype, with NumPy broadcasting.
///
/// Integer ops wrap on overflow like TensorFlow's C++ kernels (never trapping), and integer
/// division or modulus by zero is an `invalidArgument`.
enum BinaryOp: BroadcastingOp, CaseIterable {
    /// `x + y`.
    case add
    /// `x - y`.
    case sub
    /// `x * y`.
    case mul
    /// `x / y`; truncating for integers (TensorFlow's `Div`).
    case div
    /// The larger element; NaN if either is NaN (TensorFlow ≥ 2.4).
    case maximum
    /// The smaller element; NaN if either is NaN.
    case minimum
    /// `x ** y`; negative integer exponents are an error.
    case pow
    /// `(x - y) * (x - y)`.
    case squaredDifference
    /// `floor(x / y)`.
    case floorDiv
    /// `x - floor(x / y) * y`: the remainder with the sign of `y`.
    case floorMod

    /// TensorFlow's op name, for messages.
    var name: String {
        switch self {
        case .add: "AddV2"
        case .sub: "Sub"
        case .mul: "Mul"
        case .div: "RealDiv"
        case .maximum: "Maximum"
        case .minimum: "Minimum"
        case .pow: "Pow"
        case .squaredDifference: "SquaredDifference"
        case .floorDiv: "FloorDiv"
        case .floorMod: "FloorMod"
        }
    }

    /// Computes `a ∘ b` with broadcasting into a new tensor.
    func apply(_ a: Tensor, _ b: Tensor, node: String) throws(WeftError) -> Tensor {
        try apply(a, b, op: name, node: node)
    }

    /// Computes `a ∘ b`, naming `op` in errors.
    func apply(
        _ a: Tensor,
        _ b: Tensor,
        op: String,
        node: String,
        reusable: ReusableOperands
    ) throws(WeftError)
        -> BinaryResult
    {
        let (broadcast, result) = try KernelChecks.broadcastResult(a, b, a.dtype, reusable, op: op, node: node)
        // `a` and `b` are borrowed for the call and `result` is returned: all live while it runs.
        let (lhs, rhs, out) = (ElementMemory(a), ElementMemory(b), result.memory(a, b))
        try a.dtype.visit(
            Visitor(operation: self, lhs: lhs, rhs: rhs, out: out, broadcast: broadcast, op: op, node: node)
        )
        return result
    }

    private struct Visitor: ElementVisitor {
        let operation: BinaryOp
        let lhs: ElementMemory
        let rhs: ElementMemory
        let out: ElementMemory
        let broadcast: Broadcast
        let op: String
        let node: String

        func float<T: FloatElement>(_ type: T.Type) {
            switch operation {
            case .add: run(T.self) { $0 + $1 }
            case .sub: run(T.self) { $0 - $1 }
            case .mul: run(T.self) { $0 * $1 }
            case .div: run(T.self) { $0 / $1 }
            case .maximum: run(T.self) { $0 > $1 || $0.isNaN ? $0 : $1 }
            case .minimum: run(T.self) { $0 < $1 || $0.isNaN ? $0 : $1 }
            case .pow: run(T.self) { T.pow($0, $1) }
            case .squaredDifference: run(T.self) { ($0 - $1) * ($0 - $1) }
            case .floorDiv: run(T.self) { ($0 / $1).rounded(.down) }
            case .floorMod: run(T.self, floatFloorMod)
            }
        }

        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) {
            switch operation {
            case .add: run(T.self) { $0 &+ $1 }
            case .sub: run(T.self) { $0 &- $1 }
            case .mul: run(T.self) { $0 &* $1 }
            case .div:
                try checkNonzeroDivisor(T.self)
                // Reporting overflow keeps `min / -1` from trapping; it wraps to `min` as in C++.
                run(T.self) { $0.dividedReportingOverflow(by: $1).partialValue }
            case .maximum: run(T.self) { Swift.max($0, $1) }
            case .minimum: run(T.self) { Swift.min($0, $1) }
            case .pow:
                try checkNonnegativeExponent(T.self)
                run(T.self, integerPow)
            case .squaredDifference: run(T.self) { ($0 &- $1) &* ($0 &- $1) }
            case .floorDiv:
                try checkNonzeroDivisor(T.self)
                run(T.self, integerFloorDiv)
            case .floorMod:
                try checkNonzeroDivisor(T.self)
                run(T.self, integerFloorMod)
            }
        }

        /// What TensorFlow registers for complex numbers: arithmetic and powers, no ordering.
        func complex<R: ComplexReal>(_ type: R.Type) throws(WeftError) {
            typealias C = ComplexElement<R>
            switch operation {
            case .add: run(C.self) { $0 + $1 }
            case .sub: run(C.self) { $0 - $1 }
            case .mul: run(C.self) { $0 * $1 }
            case .div: run(C.self) { $0 / $1 }
            case .pow: run(C.self) { C.pow($0, $1) }
            // (x − y)·conj(x − y) = |x − y|², a real number stored as complex.
            case .squaredDifference: run(C.self) { ($0 - $1) * ($0 - $1).conjugate }
            default: throw .unsupported(op: op, dtype: C.dtype, node: node)
            }
        }

        @inline(__always)
        private func run<T: TensorElement>(_ type: T.Type, _ body: (T, T) -> T) {
            broadcast.combine(lhs.elements(T.self), rhs.elements(T.self), into: out.mutableElements(T.self), body)
        }

        /// Integer division by zero would trap; TensorFlow reports it instead. Checking the
        /// divisors up front keeps the loop itself branch-free.
        private func checkNonzeroDivisor<T: IntegerElement>(_ type: T.Type) throws(WeftError) {
            guard out.count > 0 else { return }
            if rhs.elements(T.self).contains(0) {
                throw .invalidArgument("Integer division by zero", node: node)
            }
        }

        private func checkNonnegativeExponent<T: IntegerElement>(_ type: T.Type) throws(WeftError) {
            guard T.isSigned, out.count > 0 else { return }
            if rhs.elements(T.self).contains(where: { $0 < 0 }) {
                throw .invalidArgument("Integers to negative integer powers are not allowed", node: node)
            }
        }
    }
}

/// TensorFlow's float `FloorMod`: `fmod`, moved by `y` when the signs of remainder and divisor differ.
@inline(__always)
private func floatFloorMod<T: FloatElement>(_ x: T, _ y: T) -> T {
    let remainder = x.truncatingRemainder(dividingBy: y)
    return remainder != 0 && (y < 0) != (remainder < 0) ? remainder + y : remainder
}

/// Division rounding toward negative infinity; the divisor is never zero here.
@inline(__always)
private func integerFloorDiv<T: IntegerElement>(_ x: T, _ y: T) -> T {
    let (quotient, overflow) = x.dividedReportingOverflow(by: y)
    if overflow { return quotient }
    let remainder = x &- quotient &* y
    return remainder != 0 && (remainder < 0) != (y < 0) ? quotient &- 1 : quotient
}

/// The remainder with the sign of the divisor; the divisor is never zero here.
@inline(__always)
private func integerFloorMod<T: IntegerElement>(_ x: T, _ y: T) -> T {
    let remainder = x.remainderReportingOverflow(dividingBy: y).partialValue
    return remainder != 0 && (remainder < 0) != (y < 0) ? remainder &+ y : remainder
}

/// Exponentiation by squaring, wrapping like TensorFlow's `ipow`; the exponent is never negative.
@inline(__always)
private func integerPow<T: IntegerElement>(_ base: T, _ exponent: T) -> T {
    var result: T = 1
    var base = base
    var exponent = exponent
    while exponent != 0 {
        if exponent & 1 != 0 { result = result &* base }
        base = base &* base
        exponent >>= 1
    }
    return result
}

// MARK: - Comparisons and logic

/// An element-wise comparison with broadcasting; the result is `bool`.
enum ComparisonOp: BroadcastingOp {
    /// `x < y`.
    case less
    /// `x <= y`.
    case lessEqual
    /// `x > y`.
    case greater
    /// `x >= y`.
    case greaterEqual
    /// `x == y` (also for `bool`).
    case equal
    /// `x != y` (also for `bool`).
    case notEqual

    /// Compares `a` with `b` into a `bool` tensor.
    func apply(
        _ a: Tensor,
        _ b: Tensor,
        op: String,
        node: String,
        reusable: ReusableOperands
    ) throws(WeftError)
        -> BinaryResult
    {
        let (broadcast, result) = try KernelChecks.broadcastResult(a, b, .bool, reusable, op: op, node: node)
        // `a` and `b` are borrowed for the call and `result` is returned: all live while it runs.
        let (lhs, rhs, out) = (ElementMemory(a), ElementMemory(b), result.memory(a, b))
        try a.dtype.visit(
            Visitor(operation: self, lhs: lhs, rhs: rhs, out: out, broadcast: broadcast, op: op, node: node)
        )
        return result
    }

    private struct Visitor: ElementVisitor {
        let operation: ComparisonOp
        let lhs: ElementMemory
        let rhs: ElementMemory
        let out: ElementMemory
        let broadcast: Broadcast
        let op: String
        let node: String

        func float<T: FloatElement>(_ type: T.Type) { compare(T.self) }
        func integer<T: IntegerElement>(_ type: T.Type) { compare(T.self) }

        func bool() throws(WeftError) {
            switch operation {
            case .equal: run(Bool.self) { $0 == $1 }
            case .notEqual: run(Bool.self) { $0 != $1 }
            default: throw .unsupported(op: op, dtype: .bool, node: node)
            }
        }

        /// Complex numbers are only compared for equality, part by part.
        func complex<R: ComplexReal>(_ type: R.Type) throws(WeftError) {
            typealias C = ComplexElement<R>
            switch operation {
            case .equal: run(C.self) { C.equalParts($0, $1) }
            case .notEqual: run(C.self) { !C.equalParts($0, $1) }
            default: throw .unsupported(op: op, dtype: C.dtype, node: node)
            }
        }

        @inline(__always)
        private func compare<T: TensorElement & Comparable>(_ type: T.Type) {
            switch operation {
            case .less: run(T.self) { $0 < $1 }
            case .lessEqual: run(T.self) { $0 <= $1 }
            case .greater: run(T.self) { $0 > $1 }
            case .greaterEqual: run(T.self) { $0 >= $1 }
            case .equal: run(T.self) { $0 == $1 }
            case .notEqual: run(T.self) { $0 != $1 }
            }
        }

        @inline(__always)
        private func run<T: TensorElement>(_ type: T.Type, _ body: (T, T) -> Bool) {
            broadcast.combine(lhs.elements(T.self), rhs.elements(T.self), into: out.mutableElements(Bool.self), body)
        }
    }
}

/// `LogicalAnd` / `LogicalOr` on `bool` tensors with broadcasting.
enum LogicalOp: BroadcastingOp {
    /// Both true.
    case and
    /// Either true.
    case or

    /// Combines `a` and `b` into a `bool` tensor.
    func apply(
        _ a: Tensor,
        _ b: Tensor,
        op: String,
        node: String,
        reusable: ReusableOperands
    ) throws(WeftError)
        -> BinaryResult
    {
        try KernelChecks.sameDType(a, b, op: op, node: node)
        guard a.dtype == .bool else { throw .unsupported(op: op, dtype: a.dtype, node: node) }
        let (broadcast, result) = try KernelChecks.broadcastResult(a, b, .bool, reusable, op: op, node: node)
        let out = result.tensor(a, b)
        a.withElements(of: Bool.self) { l in
            b.withElements(of: Bool.self) { r in
                out.withMutableElements(of: Bool.self) { o in
                    switch self {
                    case .and: broadcast.combine(l, r, into: o) { $0 && $1 }
                    case .or: broadcast.combine(l, r, into: o) { $0 || $1 }
                    }
                }
            }
        }
        return result
    }
}

// MARK: - AddN

/// The kernel of `AddN`.
enum AddN {
    /// The element-wise sum of tensors of one dtype and shape.
    static func sum(_ inputs: [Tensor], node: String) throws(WeftError) -> Tensor {
        guard let first = inputs.first else { throw .invalidArgument("AddN needs at least one input", node: node) }
        for (index, input) in inputs.enumerated().dropFirst() {
            try KernelChecks.dtype(input, input: index, expected: first.dtype, op: "AddN", node: node)
            guard input.shape == first.shape else {
                throw .invalidArgument(
                    "Inputs to operation AddN must have the same size and shape.  Input 0: \(first.shape) != input \(index): \(input.shape)",
                    node: node
                )
            }
        }
        if inputs.count == 1 { return first }
        let out = Tensor(uninitialized: first.dtype, shape: first.shape)
        try first.dtype.visit(Visitor(inputs: inputs, out: out, node: node))
        return out
    }

    private struct Visitor: ElementVisitor {
        let inputs: [Tensor]
        let out: Tensor
        let node: String
        var op: String { "AddN" }

        func float<T: FloatElement>(_ type: T.Type) { accumulate(T.self) { $0 + $1 } }
        func integer<T: IntegerElement>(_ type: T.Type) { accumulate(T.self) { $0 &+ $1 } }
        func complex<R: ComplexReal>(_ type: R.Type) { accumulate(ComplexElement<R>.self) { $0 + $1 } }

        /// Adds the first two inputs into the output, then each further input in place: one
        /// pass over memory per input.
        @inline(__always)
        private func accumulate<T: TensorElement>(_ type: T.Type, _ add: (T, T) -> T) {
            out.withMutableElements(of: T.self) { o in
                inputs[0].withElements(of: T.self) { a in
                    inputs[1].withElements(of: T.self) { b in
                        for i in o.indices { o[i] = add(a[i], b[i]) }
                    }
                }
                for input in inputs.dropFirst(2) {
                    input.withElements(of: T.self) { x in
                        for i in o.indices { o[i] = add(o[i], x[i]) }
                    }
                }
            }
        }
    }
}
