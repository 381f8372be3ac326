/// `MaxPool` and `MaxPoolV2` with a window over depth alone (`ksize` = `strides` =
/// `[1, 1, 1, d]`), as TensorFlow's CPU kernel computes it: each run of `d` channels of a
/// pixel becomes one channel holding their maximum, whatever the padding and spatial strides.
///
/// The maximum starts from the run's first channel and takes a later one only when it is
/// larger, so a NaN first channel gives NaN and a later NaN is skipped, as in TensorFlow.
struct DepthMaxPool {
    let attributes: PoolAttributes

    /// Pools the NHWC tensor `input`, after TensorFlow's checks on its depth.
    func compute(_ input: Tensor, node: String) throws(WeftError) -> Tensor {
        guard input.shape.rank == 4 else { throw .invalidArgument("input must be 4-dimensional", node: node) }
        try KernelChecks.dtype(input, input: 0, expected: attributes.declared, op: attributes.op, node: node)
        let (window, stride) = attributes.depth
        let dimensions = input.shape.dimensions
        guard dimensions[3] % window == 0 else {
            throw WeftError(
                .unimplemented,
                "Depthwise max pooling requires the depth window to evenly divide the input depth (node '\(node)')"
            )
        }
        guard stride == window else {
            throw WeftError(
                .unimplemented,
                "Depthwise max pooling requires the depth window to equal the depth stride (node '\(node)')"
            )
        }
        let out = try KernelChecks.allocate(
            input.dtype,
            [dimensions[0], dimensions[1], dimensions[2], dimensions[3] / window],
            node: node
        )
        try input.dtype.visit(Visitor(input: input, out: out, window: window, op: attributes.op, node: node))
        return out
    }

    private struct Visitor: ElementVisitor {
        let input: Tensor
        let out: Tensor
        let window: Int
        let op: String
        let node: String

        func float<T: FloatElement>(_ type: T.Type) { run(T.self) }
        func integer<T: IntegerElement>(_ type: T.Type) { run(T.self) }

        /// One pass over the input: output element `k` is the maximum of inputs
        /// `k·window ..< (k+1)·window`.
        private func run<T: TensorElement & Comparable>(_ type: T.Type) {
            input.withElements(of: T.self) { x in
                out.withMutableElements(of: T.self) { y in
                    for k in 0..<y.count {
                        let start = k &* window
                        var best = x[start]
                        for j in (start &+ 1)..<(start &+ window) where x[j] > best { best = x[j] }
                        y[k] = best
                    }
                }
            }
        }
    }
}
