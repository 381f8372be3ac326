import Weft

/// A 16-32-4 MLP classifying points by the quadrant of their first two coordinates: its
/// variables on `/job:ps/task:0`, one tower per worker on half of each batch, the towers'
/// gradients averaged on the ps (`Graph.replicate`) and applied with SGD.
struct ExampleModel {
    let graph = Graph()
    let towers: [(features: Output, labels: Output)]
    let loss: Output
    let train: Weft.Operation
    let globalStep: Variable
    static let (inputs, hidden, classes, rows) = (16, 32, 4, 32)

    init() throws {
        let graph = self.graph
        (towers, loss, train, globalStep) = try graph.asDefault {
            let (parameters, step) = try graph.device("/job:ps/task:0") { () throws -> ([Variable], Variable) in
                let parameters = [
                    Variable(try Self.initialWeights(Self.inputs, Self.hidden), name: "hidden/weights"),
                    Variable(Tensor([Float](repeating: 0, count: Self.hidden)), name: "hidden/biases"),
                    Variable(try Self.initialWeights(Self.hidden, Self.classes), name: "logits/weights"),
                    Variable(Tensor([Float](repeating: 0, count: Self.classes)), name: "logits/biases"),
                ]
                return (parameters, Variable(Int64(0), name: "global_step"))
            }
            var towers: [(Output, Output)] = []
            let replicated = try graph.replicate(over: ["/job:worker/task:0", "/job:worker/task:1"], variables: parameters) {
                (_) throws(WeftError) -> Output in
                let features = placeholder(.float, shape: [Self.rows, Self.inputs], name: "features")
                let labels = placeholder(.float, shape: [Self.rows, Self.classes], name: "labels")
                let hidden = relu(biasAdd(matMul(features, parameters[0].value), parameters[1].value))
                let logits = biasAdd(matMul(hidden, parameters[2].value), parameters[3].value)
                towers.append((features, labels))
                return mean(softmaxCrossEntropyWithLogits(logits: logits, labels: labels))
            }
            let train = GradientDescentOptimizer(learningRate: 0.2)
                .applyGradients(replicated.gradients, globalStep: step, name: "train")
            return (towers, replicated.meanLoss, train, step)
        }
    }

    /// The feeds of global step `step`: a fresh batch for each tower, the same for the same step,
    /// so a resumed run sees the batches it would have seen.
    func batch(_ step: Int64) throws -> [Output: Tensor] {
        var state = UInt64(bitPattern: step) &* 0x9E37_79B9_7F4A_7C15 | 1
        func uniform() -> Float {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Float(state >> 40) / Float(1 << 24) * 2 - 1
        }
        var feeds: [Output: Tensor] = [:]
        for (features, labels) in towers {
            let points = (0..<(Self.rows * Self.inputs)).map { _ in uniform() }
            var oneHot = [Float](repeating: 0, count: Self.rows * Self.classes)
            for row in 0..<Self.rows {
                let quadrant = (points[row * Self.inputs] < 0 ? 0 : 1) + (points[row * Self.inputs + 1] < 0 ? 0 : 2)
                oneHot[row * Self.classes + quadrant] = 1
            }
            feeds[features] = try Tensor(points, shape: [Self.rows, Self.inputs])
            feeds[labels] = try Tensor(oneHot, shape: [Self.rows, Self.classes])
        }
        return feeds
    }

    /// Small deterministic weights (a fixed pattern scaled by the fan-in): every run starts alike.
    static func initialWeights(_ fanIn: Int, _ fanOut: Int) throws -> Tensor {
        let scale = 1 / Float(fanIn).squareRoot()
        let values = (0..<(fanIn * fanOut)).map { Float(($0 * 37) % 17) / 8 - 1 }.map { $0 * scale }
        return try Tensor(values, shape: [fanIn, fanOut])
    }
}
