import WeftRuntime

/// `√(Σ ‖t‖²)` over the tensors (rows of sparse ones), `nil`s skipped: TensorFlow's
/// `tf.linalg.global_norm`, each `L2Loss` colocated with its tensor.
public func globalNorm(_ tensors: [Gradient?], name: String? = nil) -> Output {
    let present = tensors.compactMap { $0?.values }
    let graph = present.first?.graph ?? Graph.current
    return graph.asDefault {
        opScope(graph, name, default: "global_norm") { opName in
            let halfSquares = present.map { tensor in
                graph.colocate(with: tensor.operation) {
                    graph.addOperation("L2Loss", inputs: [tensor], attributes: ["T": .type(tensor.dtype)]).output()
                }
            }
            let dtype = halfSquares.first?.dtype ?? .float
            let stacked = graph.addOperation(
                "Pack",
                inputs: halfSquares,
                attributes: ["T": .type(dtype), "N": .int(halfSquares.count), "axis": .int(0)]
            ).output()
            return sqrt(sum(stacked) * 2, name: opName)
        }
    }
}

/// The tensors scaled by `clipNorm / max(globalNorm, clipNorm)`, so their global norm is at
/// most `clipNorm`, and the global norm before clipping: TensorFlow's
/// `tf.clip_by_global_norm`. An infinite or NaN norm makes every value NaN, as in TensorFlow;
/// `nil`s stay `nil` and sparse gradients keep their indices.
public func clipByGlobalNorm(
    _ tensors: [Gradient?],
    clipNorm: Hyperparameter,
    useNorm: Output? = nil,
    name: String? = nil
) -> (clipped: [Gradient?], globalNorm: Output) {
    let graph = tensors.lazy.compactMap { $0?.values.graph }.first ?? Graph.current
    return graph.asDefault {
        graph.nameScope(name ?? "clip_by_global_norm") {
            let norm = useNorm ?? globalNorm(tensors)
            let limit: Output =
                switch clipNorm {
                case .constant(let value): norm.scalar(value, name: "clip_norm")
                case .tensor(let tensor): tensor
                }
            let finiteScale = limit * minimum(1.0 / norm, norm.scalar(1, name: "Const") / limit)
            // Adds 0 for a finite norm and NaN otherwise.
            let scale = finiteScale + (norm - norm)
            let clipped = tensors.enumerated().map { index, gradient in
                gradient.map { gradient in
                    let values = gradient.values
                    return graph.colocate(with: values.operation) {
                        let factor = scale.dtype == values.dtype ? scale : cast(scale, to: values.dtype)
                        return gradient.replacingValues(with: identity(values * factor, name: "clipped_\(index)"))
                    }
                }
            }
            return (clipped, norm)
        }
    }
}

/// `clipByGlobalNorm` of dense tensors.
public func clipByGlobalNorm(
    _ tensors: [Output],
    clipNorm: Hyperparameter,
    name: String? = nil
) -> (clipped: [Output], globalNorm: Output) {
    let (clipped, norm) = clipByGlobalNorm(tensors.map { Gradient.dense($0) }, clipNorm: clipNorm, name: name)
    return (clipped.compactMap { $0?.values }, norm)
}
