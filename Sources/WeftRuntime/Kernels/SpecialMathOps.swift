/// Floating-point math TensorFlow's losses and gradients rely on: the zero-safe binary ops
/// `DivNoNan`, `Xlogy` and `Xdivy` (with broadcasting), and the classifiers `IsFinite`,
/// `IsNan` and `IsInf`. All take `float`, `double` and `half`, as in TensorFlow.
enum SpecialMathOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] =
        SafeBinaryOp.allCases.map(binary) + FloatClass.allCases.map(classifier)

    private static func binary(_ operation: SafeBinaryOp) -> OpDefinition {
        OpDefinition(
            operation.rawValue,
            inputCount: 2,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let declared = try node.optionalType("T")
                return ClosureKernel { context throws(WeftError) in
                    let x = try context.input(0)
                    let y = try context.input(1)
                    try KernelChecks.dtype(x, input: 0, expected: declared, op: operation.rawValue, node: context.node)
                    return [.tensor(try operation.apply(x, y, node: context.node))]
                }
            }
        )
    }

    private static func classifier(_ test: FloatClass) -> OpDefinition {
        OpDefinition(
            test.rawValue,
            inputCount: 1,
            outputTypes: { _, _ in [OutputType(.bool)] },
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let x = try context.input(0)
                    let out = try KernelChecks.allocate(.bool, x.shape, node: context.node)
                    try x.dtype.visit(FloatClass.Visitor(test: test, input: x, out: out, node: context.node))
                    return [.tensor(out)]
                }
            }
        )
    }
}

/// A binary op that gives 0 where its usual formula would give NaN or infinity for a zero.
enum SafeBinaryOp: String, CaseIterable, Sendable {
    /// `x / y`, or 0 where `y == 0`.
    case divNoNan = "DivNoNan"
    /// `x · log(y)`, or 0 where `x == 0`.
    case xlogy = "Xlogy"
    /// `x / y`, or 0 where `x == 0`.
    case xdivy = "Xdivy"

    /// Computes the op with broadcasting into a new tensor.
    func apply(_ x: Tensor, _ y: Tensor, node: String) throws(WeftError) -> Tensor {
        try KernelChecks.sameDType(x, y, op: rawValue, node: node)
        let broadcast: Broadcast
        do {
            broadcast = try Broadcast(x.shape, y.shape)
        } catch {
            throw .invalidArgument(error.message, node: node)
        }
        let out = try KernelChecks.allocate(x.dtype, broadcast.shape, node: node)
        try x.dtype.visit(Visitor(operation: self, x: x, y: y, out: out, broadcast: broadcast, node: node))
        return out
    }

    private struct Visitor: ElementVisitor {
        let operation: SafeBinaryOp
        let x: Tensor
        let y: Tensor
        let out: Tensor
        let broadcast: Broadcast
        let node: String
        var op: String { operation.rawValue }

        func float<T: FloatElement>(_ type: T.Type) {
            switch operation {
            case .divNoNan: run(T.self) { x, y in y == 0 ? 0 : x / y }
            case .xlogy: run(T.self) { x, y in x == 0 ? 0 : x * T.log(y) }
            case .xdivy: run(T.self) { x, y in x == 0 ? 0 : x / y }
            }
        }

        func complex<R: ComplexReal>(_ type: R.Type) {
            typealias C = ComplexElement<R>
            let zero = C(real: 0)
            switch operation {
            case .divNoNan: run(C.self) { x, y in C.equalParts(y, zero) ? zero : x / y }
            case .xlogy: run(C.self) { x, y in C.equalParts(x, zero) ? zero : x * C.log(y) }
            case .xdivy: run(C.self) { x, y in C.equalParts(x, zero) ? zero : x / y }
            }
        }

        @inline(__always)
        private func run<T: TensorElement>(_ type: T.Type, _ body: (T, T) -> T) {
            x.withElements(of: T.self) { l in
                y.withElements(of: T.self) { r in
                    out.withMutableElements(of: T.self) { o in broadcast.combine(l, r, into: o, body) }
                }
            }
        }
    }
}

/// A test of each element's floating-point class, giving `bool`.
enum FloatClass: String, CaseIterable, Sendable {
    /// Neither infinite nor NaN.
    case finite = "IsFinite"
    /// NaN.
    case nan = "IsNan"
    /// ±infinity.
    case infinite = "IsInf"

    struct Visitor: ElementVisitor {
        let test: FloatClass
        let input: Tensor
        let out: Tensor
        let node: String
        var op: String { test.rawValue }

        func float<T: FloatElement>(_ type: T.Type) {
            switch test {
            case .finite: ElementMap.unary(input, out, T.self) { $0.isFinite }
            case .nan: ElementMap.unary(input, out, T.self) { $0.isNaN }
            case .infinite: ElementMap.unary(input, out, T.self) { $0.isInfinite }
            }
        }
    }
}
