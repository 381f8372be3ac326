import WeftProto
import WeftRuntime

// Gradients of the diagonal ops on batches of matrices (array_grad.py): taking a diagonal and
// placing one are each other's adjoints.

extension GradientRegistry {
    func registerMatrixGradients() {
        register("MatrixDiag") { context throws(WeftError) in
            [.dense(OpBuilder.unary("MatrixDiagPart", try context.gradient()))]
        }
        register("MatrixDiagPart") { context throws(WeftError) in
            let zeros = OpBuilder.zerosLike(try context.input(0))
            return [.dense(OpBuilder.binary("MatrixSetDiag", zeros, try context.gradient()))]
        }
        register("MatrixSetDiag") { context throws(WeftError) in
            let gradient = try context.gradient()
            let cleared = OpBuilder.binary("MatrixSetDiag", gradient, OpBuilder.zerosLike(try context.input(1)))
            return [.dense(cleared), .dense(OpBuilder.unary("MatrixDiagPart", gradient))]
        }
        for version in ["V2", "V3"] {
            register("MatrixDiag\(version)") { context throws(WeftError) in
                let part = try context.diagonalPart(of: try context.gradient(), version: version)
                return [.dense(part)] + context.nilForRest(after: 1)
            }
            register("MatrixDiagPart\(version)") { context throws(WeftError) in
                let zeros = OpBuilder.zerosLike(try context.input(0))
                return [
                    .dense(try context.settingDiagonal(of: zeros, to: try context.gradient(), version: version)), nil,
                    nil,
                ]
            }
            register("MatrixSetDiag\(version)") { context throws(WeftError) in
                let gradient = try context.gradient()
                let zeros = OpBuilder.zerosLike(try context.input(1))
                return [
                    .dense(try context.settingDiagonal(of: gradient, to: zeros, version: version)),
                    .dense(try context.diagonalPart(of: gradient, version: version)), nil,
                ]
            }
        }
    }
}

extension GradientContext {
    /// The forward op's `k` (which diagonals), and its `align` attribute for V3.
    private func diagonals(
        _ version: String,
        dtype: DType
    ) throws(WeftError) -> (Output, [String: Tensorflow_AttrValue]) {
        let k = try input(type.hasPrefix("MatrixSetDiag") ? 2 : 1)
        var attributes = version == "V3" ? copiedAttributes(["align"]) : [:]
        attributes["T"] = .type(dtype)
        return (k, attributes)
    }

    /// `MatrixDiagPartV2/V3` of `matrix` for the forward op's diagonals.
    func diagonalPart(of matrix: Output, version: String) throws(WeftError) -> Output {
        let (k, attributes) = try diagonals(version, dtype: matrix.dtype)
        let padding = OpBuilder.scalar(0, like: matrix)
        return OpBuilder.node("MatrixDiagPart\(version)", [matrix, k, padding], attributes).output()
    }

    /// `MatrixSetDiagV2/V3`: `matrix` with the forward op's diagonals set to `diagonal`.
    func settingDiagonal(of matrix: Output, to diagonal: Output, version: String) throws(WeftError) -> Output {
        let (k, attributes) = try diagonals(version, dtype: matrix.dtype)
        return OpBuilder.node("MatrixSetDiag\(version)", [matrix, diagonal, k], attributes).output()
    }
}
