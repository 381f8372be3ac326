import Weft
import WeftCluster
import WeftPlacement
import WeftRuntime

/// A layered random DAG of real ops, reproducible from a seed: the graph placement strategies
/// are benchmarked on.
///
/// Layer 0 holds `[side, side]` float placeholders (the inputs, like weights). Every later node
/// is a `MatMul` (a fifth), an elementwise `Mul`/`Maximum`/`Minimum` (two fifths) or a
/// `Tanh`/`Relu` (two fifths), whose inputs come from nearby positions of the previous layer
/// (a `MatMul`'s second operand from nearby inputs), and one time in ten from any earlier node:
/// locality like a network's layers, with skip connections. Fed with values in `[-1/side, 1/side]`
/// every value stays bounded, so runs compare exactly.
///
/// `ccr` is the communication-to-computation ratio the default cost model sees: the transfer time
/// of one tensor over the mean compute time of a node; the tensor side is chosen to come nearest.
public struct RandomDAG: Sendable {
    /// The graph.
    public let graph: Graph
    /// The layer-0 placeholders, to feed.
    public let inputs: [Output]
    /// Nodes no other node consumes: what a step fetches.
    public let sinks: [Output]
    /// Every tensor is `[side, side]` floats.
    public let side: Int

    /// Builds `nodes` nodes in `layers` layers (at least two).
    public init(nodes: Int, layers: Int, ccr: Double = 1, seed: UInt64) {
        let side = Self.side(forCCR: ccr)
        let layers = max(2, min(layers, nodes))
        let graph = Graph()
        var random = SplitMix64(seed: seed)
        var built: [[Output]] = []
        var consumed = Set<String>()
        graph.asDefault {
            for layer in 0..<layers {
                let width = nodes / layers + (layer < nodes % layers ? 1 : 0)
                built.append(
                    (0..<width).map { position in
                        layer == 0
                            ? placeholder(.float, shape: [side, side], name: "input_\(position)")
                            : Self.node(
                                layer: layer,
                                position: position,
                                width: width,
                                built: built,
                                random: &random,
                                consumed: &consumed
                            )
                    }
                )
            }
        }
        self.graph = graph
        self.side = side
        inputs = built[0]
        sinks = built.dropFirst().flatMap { $0 }.filter { !consumed.contains($0.operation.name) }
    }

    /// The graph of `RandomDAG(nodes:layers:ccr:seed:)`.
    public static func graph(nodes: Int, layers: Int, ccr: Double = 1, seed: UInt64) -> Graph {
        RandomDAG(nodes: nodes, layers: layers, ccr: ccr, seed: seed).graph
    }

    /// Values for every input, in `[-1/side, 1/side]`, reproducible from `seed`.
    public func feeds(seed: UInt64 = 1) -> [Output: Tensor] {
        var random = SplitMix64(seed: seed)
        var feeds: [Output: Tensor] = [:]
        let scale = 1 / Float(side)
        for input in inputs {
            let values = (0..<side * side).map { _ in Float(random.below(2001) - 1000) / 1000 * scale }
            feeds[input] = try! Tensor(values, shape: [side, side])  // the count matches the shape
        }
        return feeds
    }

    /// The inputs' shapes by tensor name, for `PlacementOptions.feedShapes`.
    public var feedShapes: [String: TensorShape] {
        Dictionary(uniqueKeysWithValues: inputs.map { ($0.operation.name + ":0", TensorShape([side, side])) })
    }

    private static func node(
        layer: Int,
        position: Int,
        width: Int,
        built: [[Output]],
        random: inout SplitMix64,
        consumed: inout Set<String>
    ) -> Output {
        func near(_ outputs: [Output]) -> Output {
            // A window around the same relative position, an eighth of the layer wide.
            let center = position * outputs.count / max(width, 1)
            let reach = max(1, outputs.count / 16)
            let index = min(max(center + random.below(2 * reach + 1) - reach, 0), outputs.count - 1)
            return outputs[index]
        }
        func input() -> Output {
            let chosen: Output
            if random.below(10) == 0 {
                let earlier = built[random.below(layer)]
                chosen = earlier[random.below(earlier.count)]
            } else {
                chosen = near(built[layer - 1])
            }
            consumed.insert(chosen.operation.name)
            return chosen
        }
        let kind = random.below(5)
        switch kind {
        case 0:
            let weight = near(built[0])
            consumed.insert(weight.operation.name)
            return matMul(input(), weight)
        case 1, 2:
            let (a, b) = (input(), input())
            switch random.below(3) {
            case 0: return multiply(a, b)
            case 1: return maximum(a, b)
            default: return minimum(a, b)
            }
        default:
            return random.below(2) == 0 ? tanh(input()) : relu(input())
        }
    }

    /// The tensor side whose transfer-to-compute ratio under `CostModel.default` is nearest `ccr`.
    static func side(forCCR ccr: Double) -> Int {
        let model = CostModel.default
        func ratio(_ side: Int) -> Double {
            let n = Double(side * side)
            let bytes = 4 * n
            let matMul = model.rates.seconds(OpWork(flops: 2 * n * Double(side), bytes: 3 * bytes))
            let binary = model.rates.seconds(OpWork(flops: n, bytes: 3 * bytes))
            let unary = model.rates.seconds(OpWork(flops: 5.5 * n, bytes: 2 * bytes))
            let compute = 0.2 * matMul + 0.4 * binary + 0.4 * unary
            return model.link.seconds(bytes: Int(bytes)) / compute
        }
        let target = max(ccr, 1e-6)
        func distance(_ side: Int) -> Double {
            let quotient = ratio(side) / target
            return max(quotient, 1 / quotient)
        }
        return (1...1024).min { distance($0) < distance($1) } ?? 1
    }
}
