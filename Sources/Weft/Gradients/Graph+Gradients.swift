import WeftRuntime

extension Graph {
    /// Builds the gradients of the sum of `ys` with respect to each of `xs`, as TensorFlow's
    /// `tf.gradients` does: nodes under a `gradients/` name scope that walk back from `ys`
    /// through the ops between `xs` and `ys`, one gradient function per op (`registry`),
    /// adding the contributions of several paths with `AddN`.
    ///
    /// - Parameters:
    ///   - ys: the tensors to differentiate.
    ///   - xs: the tensors to differentiate against.
    ///   - gradYs: the gradient flowing into each of `ys` (ones when `nil`), same dtypes.
    ///   - unconnected: what a tensor of `xs` that `ys` do not depend on gets.
    ///   - stopGradients: tensors not to differentiate through, as if they were constants
    ///     (TensorFlow's `stop_gradients`); one of them may be in `xs` and still get its gradient.
    ///   - colocateWithOps: whether each op's gradient nodes go where the op goes.
    ///   - registry: the gradient functions.
    /// - Returns: one gradient per tensor of `xs`, dense (sparse slices are summed into a tensor;
    ///   see `gradientsKeepingSlices` to keep them).
    /// - Throws: `invalidArgument` for tensors of another graph or `gradYs` that do not match,
    ///   `unimplemented` naming the op when a path crosses an op without a gradient function or
    ///   a while loop holding an x or a y, `invalidArgument` when it crosses a `PreventGradient`.
    public func gradients(
        of ys: [Output],
        with xs: [Output],
        gradYs: [Output]? = nil,
        unconnected: UnconnectedGradients = .none,
        stopGradients: [Output] = [],
        colocateWithOps: Bool = false,
        registry: GradientRegistry = .standard
    ) throws(WeftError) -> [Output?] {
        try buildGradients(
            of: ys,
            with: xs,
            gradYs: gradYs,
            unconnected: unconnected,
            stopGradients: stopGradients,
            colocateWithOps: colocateWithOps,
            registry: registry,
            densify: true
        ).map { $0?.densified }
    }

    /// The gradient of `y` with respect to `x`; see `gradients(of:with:gradYs:unconnected:)`.
    public func gradients(
        of y: Output,
        with x: Output,
        gradY: Output? = nil,
        unconnected: UnconnectedGradients = .none,
        colocateWithOps: Bool = false,
        registry: GradientRegistry = .standard
    ) throws(WeftError) -> Output? {
        try gradients(
            of: [y],
            with: [x],
            gradYs: gradY.map { [$0] },
            unconnected: unconnected,
            colocateWithOps: colocateWithOps,
            registry: registry
        )[0]
    }

    /// The gradients as TensorFlow's `tf.gradients` returns them: `.sparse` slices where the
    /// gradient of a gather (an embedding lookup) reaches a tensor of `xs` by itself, `.dense`
    /// otherwise. Optimizers use it to update only the rows a step used.
    public func gradientsKeepingSlices(
        of ys: [Output],
        with xs: [Output],
        gradYs: [Output]? = nil,
        unconnected: UnconnectedGradients = .none,
        stopGradients: [Output] = [],
        colocateWithOps: Bool = false,
        registry: GradientRegistry = .standard
    ) throws(WeftError) -> [Gradient?] {
        try buildGradients(
            of: ys,
            with: xs,
            gradYs: gradYs,
            unconnected: unconnected,
            stopGradients: stopGradients,
            colocateWithOps: colocateWithOps,
            registry: registry,
            densify: false
        )
    }

    /// Checks the arguments and builds the gradients under one `gradients/` scope, densifying
    /// slices there too when asked.
    private func buildGradients(
        of ys: [Output],
        with xs: [Output],
        gradYs: [Output]?,
        unconnected: UnconnectedGradients,
        stopGradients: [Output],
        colocateWithOps: Bool,
        registry: GradientRegistry,
        densify: Bool
    ) throws(WeftError) -> [Gradient?] {
        for tensor in ys + xs + (gradYs ?? []) + stopGradients where tensor.graph !== self {
            throw WeftError(
                .invalidArgument,
                "the tensor '\(tensor)' belongs to another graph than the one differentiated"
            )
        }
        if let gradYs, gradYs.count != ys.count {
            throw WeftError(
                .invalidArgument,
                "gradYs has \(gradYs.count) tensors, but there are \(ys.count) ys: give one gradient per y"
            )
        }
        var builder = try GradientBuilder(graph: self, registry: registry, colocateWithOps: colocateWithOps)
        // The scoping helpers rethrow untyped errors, so the result crosses them as a value.
        return try asDefault {
            nameScope("gradients") {
                Result { () throws(WeftError) -> [Gradient?] in
                    let gradients = try builder.gradients(
                        of: ys,
                        with: xs,
                        gradYs: gradYs,
                        unconnected: unconnected,
                        stopGradients: stopGradients
                    )
                    return densify ? gradients.map { $0.map { .dense($0.densified) } } : gradients
                }
            }
        }.get()
    }
}

/// The gradients of `ys` with respect to `xs` in their graph; see `Graph.gradients(of:with:)`.
public func gradients(
    of ys: [Output],
    with xs: [Output],
    gradYs: [Output]? = nil,
    unconnected: UnconnectedGradients = .none,
    colocateWithOps: Bool = false
) throws(WeftError) -> [Output?] {
    try (ys.first?.graph ?? Graph.current).gradients(
        of: ys,
        with: xs,
        gradYs: gradYs,
        unconnected: unconnected,
        colocateWithOps: colocateWithOps
    )
}

/// The gradient of `y` with respect to `x` in their graph; see `Graph.gradients(of:with:)`.
public func gradients(
    of y: Output,
    with x: Output,
    gradY: Output? = nil,
    unconnected: UnconnectedGradients = .none,
    colocateWithOps: Bool = false
) throws(WeftError) -> Output? {
    try y.graph.gradients(of: y, with: x, gradY: gradY, unconnected: unconnected, colocateWithOps: colocateWithOps)
}
