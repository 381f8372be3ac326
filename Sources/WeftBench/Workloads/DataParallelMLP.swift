import Weft
import WeftPlacement
import WeftRuntime

/// The parameter-server MLP of `weft bench train`: the variables of a `784-256-256-10`
/// perceptron on `/job:ps/task:0`, one tower per worker computing the softmax cross-entropy of
/// its own batch and its gradients, and the towers' gradients averaged on the parameter
/// server, which applies them with plain SGD: TensorFlow 1.x's in-graph replication
/// (`Graph.replicate(over:variables:_:)`).
public struct DataParallelMLP {
    /// The graph.
    public let graph: Graph
    /// Each tower's images (`[batch, 784]`) and one-hot labels (`[batch, 10]`), fed every step.
    public let inputs: [(images: Output, labels: Output)]
    /// The towers' mean loss.
    public let loss: Output
    /// One SGD step on the averaged gradients; adds 1 to the global step.
    public let train: Weft.Operation
    /// Initializes every variable.
    public let initialize: Weft.Operation
    /// The layer widths, input first.
    public let layers: [Int]
    /// Examples per tower and step.
    public let batch: Int

    /// Builds the model with `towers` workers (`/job:worker/task:0…`) of `batch` examples each;
    /// throws what building the gradients throws.
    public init(layers: [Int] = [784, 256, 256, 10], towers: Int = 2, batch: Int = 64, learningRate: Double = 0.01) throws {
        let graph = Graph()
        self.graph = graph
        self.layers = layers
        self.batch = batch
        (inputs, loss, train, initialize) = try graph.asDefault {
            var generator = SplitMix64(seed: 7)
            let (parameters, step) = graph.device("/job:ps/task:0") { () -> ([Variable], Variable) in
                var parameters: [Variable] = []
                for (index, (fanIn, fanOut)) in zip(layers, layers.dropFirst()).enumerated() {
                    parameters.append(
                        Variable(Self.glorot(fanIn, fanOut, &generator), name: "layer\(index)/weights")
                    )
                    parameters.append(
                        Variable(Tensor([Float](repeating: 0, count: fanOut)), name: "layer\(index)/biases")
                    )
                }
                return (parameters, Variable(Int64(0), name: "global_step"))
            }
            var inputs: [(Output, Output)] = []
            let replicated = try graph.replicate(over: (0..<towers).map { "/job:worker/task:\($0)" }, variables: parameters) {
                (_) throws(WeftError) -> Output in
                let images = placeholder(.float, shape: [batch, layers[0]], name: "images")
                let labels = placeholder(.float, shape: [batch, layers.last ?? 1], name: "labels")
                var activation = images
                for layer in 0..<(parameters.count / 2) {
                    activation = biasAdd(matMul(activation, parameters[2 * layer].value), parameters[2 * layer + 1].value)
                    if layer < parameters.count / 2 - 1 { activation = relu(activation) }
                }
                inputs.append((images, labels))
                return mean(softmaxCrossEntropyWithLogits(logits: activation, labels: labels))
            }
            let train = GradientDescentOptimizer(learningRate: .constant(learningRate))
                .applyGradients(replicated.gradients, globalStep: step, name: "train")
            return (inputs, identity(replicated.meanLoss, name: "loss"), train, globalVariablesInitializer())
        }
    }

    /// One step's feeds: `batch` random images and one-hot labels per tower.
    public func feeds(seed: UInt64) throws(WeftError) -> [Output: Tensor] {
        var generator = SplitMix64(seed: seed)
        var feeds: [Output: Tensor] = [:]
        let (rows, pixels, classes) = (batch, layers.first ?? 0, layers.last ?? 1)
        for (images, labels) in inputs {
            feeds[images] = try Tensor((0..<(rows * pixels)).map { _ in generator.unit() }, shape: [rows, pixels])
            var oneHot = [Float](repeating: 0, count: rows * classes)
            for row in 0..<rows { oneHot[row * classes + Int(generator.next() % UInt64(classes))] = 1 }
            feeds[labels] = try Tensor(oneHot, shape: [rows, classes])
        }
        return feeds
    }

    /// Glorot-uniform weights, drawn from `generator` so every run starts from the same point.
    static func glorot(_ fanIn: Int, _ fanOut: Int, _ generator: inout SplitMix64) -> Tensor {
        let limit = Float((6 / Double(fanIn + fanOut)).squareRoot())
        let values = (0..<(fanIn * fanOut)).map { _ in (generator.unit() * 2 - 1) * limit }
        return (try? Tensor(values, shape: [fanIn, fanOut])) ?? Tensor(values)
    }
}

extension SplitMix64 {
    /// A float in [0, 1).
    mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
