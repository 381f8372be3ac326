/// Running sums and products along an axis: `Cumsum`, `Cumprod`, with `exclusive` (each
/// output leaves out its own element) and `reverse` (the scan runs from the end).
enum ScanOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [scan("Cumsum", product: false), scan("Cumprod", product: true)]

    private static func scan(_ name: String, product: Bool) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 2,
            outputTypes: OpDefinition.outputOfInput(0),
            makeKernel: { node throws(WeftError) in
                let exclusive = try node.attributes.bool("exclusive", default: false)
                let reverse = try node.attributes.bool("reverse", default: false)
                return ClosureKernel { context throws(WeftError) in
                    let x = try context.input(0)
                    let axisTensor = try context.input(1)
                    guard axisTensor.shape.rank == 0 else {
                        throw .invalidArgument(
                            "ScanOp: axis must be a scalar, not \(axisTensor.shape)",
                            node: context.node
                        )
                    }
                    let value = try KernelChecks.scalarIndex(axisTensor, what: "axis", node: context.node)
                    let rank = x.shape.rank
                    guard value >= -rank && value < rank else {
                        throw .invalidArgument(
                            "ScanOp: Expected scan axis in the range [\(-rank), \(rank)), but got \(value)",
                            node: context.node
                        )
                    }
                    let axis = value < 0 ? value + rank : value
                    // An empty input may have huge dimensions beside its zero one: no products.
                    guard x.elementCount > 0 else { return [.tensor(x)] }
                    let dims = x.shape.dimensions
                    let scan = Scan(
                        x: x,
                        out: Tensor(uninitialized: x.dtype, shape: x.shape),
                        outer: dims[..<axis].reduce(1, *),
                        length: dims[axis],
                        inner: dims[(axis + 1)...].reduce(1, *),
                        product: product,
                        exclusive: exclusive,
                        reverse: reverse,
                        op: name,
                        node: context.node
                    )
                    try x.dtype.visit(scan)
                    return [.tensor(scan.out)]
                }
            }
        )
    }

    /// The scan over a tensor viewed as `[outer, length, inner]`, along the middle dimension.
    /// Each step combines a whole row of `inner` elements, so the inner loop is contiguous.
    private struct Scan: ElementVisitor {
        let x: Tensor
        let out: Tensor
        let outer: Int
        let length: Int
        let inner: Int
        let product: Bool
        let exclusive: Bool
        let reverse: Bool
        let op: String
        let node: String

        func float<T: FloatElement>(_ type: T.Type) throws(WeftError) {
            product ? run(T.self, identity: 1, *) : run(T.self, identity: 0, +)
        }

        /// Integers wrap on overflow, as TensorFlow's do.
        func integer<T: IntegerElement>(_ type: T.Type) throws(WeftError) {
            product ? run(T.self, identity: 1, &*) : run(T.self, identity: 0, &+)
        }

        /// Complex numbers multiply as `std::complex` does (`ComplexElement`'s `*`).
        func complex<R: ComplexReal>(_ type: R.Type) throws(WeftError) {
            typealias C = ComplexElement<R>
            product ? run(C.self, identity: C(real: 1), *) : run(C.self, identity: C(real: 0), +)
        }

        private func run<T: TensorElement>(_ type: T.Type, identity: T, _ combine: (T, T) -> T) {
            x.withElements(of: T.self) { input in
                out.withMutableElements(of: T.self) { output in
                    for o in 0..<outer {
                        let block = o * length * inner
                        var previous = -1
                        for step in 0..<length {
                            let row = block + (reverse ? length - 1 - step : step) * inner
                            for j in 0..<inner {
                                let carried = previous < 0 ? identity : output[previous + j]
                                if exclusive {
                                    output[row + j] = previous < 0 ? identity : combine(carried, input[previous + j])
                                } else {
                                    output[row + j] = combine(carried, input[row + j])
                                }
                            }
                            previous = row
                        }
                    }
                }
            }
        }
    }
}
