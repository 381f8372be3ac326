import WeftRuntime

/// The towers of an in-graph replicated model and their averaged gradients: what
/// `Graph.replicate(over:variables:_:)` builds, ready for `Optimizer.applyGradients`.
public struct ReplicatedTowers: Sendable {
    /// Each tower's loss, on its device.
    public let losses: [Output]
    /// The towers' mean loss, on the first variable's device.
    public let meanLoss: Output
    /// Each variable's gradient averaged over the towers, on the variable's device (rows when
    /// every tower's is rows); `nil` where no tower's loss depends on the variable.
    public let gradients: [(Gradient?, Variable)]
}

extension Graph {
    /// In-graph replication, as TensorFlow 1.x's multi-tower models do it: builds `tower(i)` on
    /// `devices[i]` inside a `tower_i` name scope, each tower's gradients of its loss on its own
    /// device, and the mean of the towers' gradients of each variable on that variable's device
    /// (colocated with it, so on a parameter server only the averages and the update run there
    /// and each worker ships one gradient per variable). `variables` defaults to every variable
    /// of the graph; the towers share them. Where every tower's gradient of a variable is rows
    /// (a gather's), the average is rows too: the towers' rows side by side, each scaled, so an
    /// embedding's update touches only the rows some tower used.
    ///
    /// Throws `invalidArgument` without devices or for a tower loss that is not a float, and what
    /// building the gradients throws.
    public func replicate(
        over devices: [String],
        variables: [Variable]? = nil,
        _ tower: (_ index: Int) throws(WeftError) -> Output
    ) throws(WeftError) -> ReplicatedTowers {
        guard !devices.isEmpty else { throw WeftError(.invalidArgument, "replicate(over:) needs at least one device") }
        var losses: [Output] = []
        var towerGradients: [[Gradient?]] = []
        for (index, device) in devices.enumerated() {
            // The scopes' closures rethrow untyped; a `Result` keeps the error a `WeftError`.
            let built = asDefault {
                self.device(device) {
                    nameScope("tower_\(index)") {
                        Result { () throws(WeftError) -> (Output, [Gradient?]) in
                            let loss = try tower(index)
                            guard loss.dtype.isFloatingPoint else {
                                throw WeftError(
                                    .invalidArgument,
                                    "the loss of tower \(index) (\(loss.name)) is \(loss.dtype), expected a floating-point type"
                                )
                            }
                            let targets = variables ?? builtVariables
                            return (loss, try gradientsKeepingSlices(of: [loss], with: targets.map(\.output)))
                        }
                    }
                }
            }
            let (loss, gradients) = try built.get()
            losses.append(loss)
            towerGradients.append(gradients)
        }
        let targets = variables ?? builtVariables
        let scale = 1 / Double(devices.count)
        let averaged = asDefault {
            targets.indices.map { index -> (Gradient?, Variable) in
                let variable = targets[index]
                // The sum too: outside, it would land on a worker, and the other towers'
                // gradients would cross to it before the sum crossed to the variable.
                return colocate(with: variable.operation) {
                    guard let sum = Gradient.sum(towerGradients.compactMap { $0[index] }) else {
                        return (nil, variable)
                    }
                    return nameScope("average_gradients") { (sum.replacingValues(with: sum.values * scale), variable) }
                }
            }
        }
        let meanLoss = asDefault {
            colocate(with: targets.first?.operation ?? losses[0].operation) {
                identity(addN(losses) * scale, name: "mean_loss")
            }
        }
        return ReplicatedTowers(losses: losses, meanLoss: meanLoss, gradients: averaged)
    }
}
