import Foundation
import Weft
import WeftCluster
import WeftPlacement
import WeftRuntime

// The generated workloads. Each is built only from Weft's public graph API and ops the runtime
// has kernels for, so every graph really runs; all values come from a seeded generator.

/// How many links of a chain share one name scope: the collapsed graph picture groups by scope.
let linksPerStage = 100

extension Workloads {
    /// A deep pipeline: `length` additions in a row, `h = h + delta`, on vectors of `width`
    /// floats, in name scopes of 100 links (`stage_3/add_7`). Nodes: `length + 3`.
    ///
    /// The fetched value is `x + length·delta` (added one link at a time), which tests check.
    public static func chain(length: Int, width: Int, seed: UInt64) -> Workload {
        Workload(name: "chain", parameters: "length=\(length) width=\(width) seed=\(seed)") { () throws(WeftError) in
            var random = SplitMix64(seed: seed)
            let graph = Graph()
            let input = random.uniform([width], in: -1...1)
            let output = graph.asDefault { () -> Output in
                let x = placeholder(.float, shape: [width], name: "x")
                let delta = constant(random.uniform([width], in: -0.01...0.01), name: "delta")
                var h = x
                var link = 0
                while link < length {
                    h = graph.nameScope("stage") {
                        for _ in link..<min(link + linksPerStage, length) { h = h + delta }
                        return h
                    }
                    link += linksPerStage
                }
                return identity(h, name: "output")
            }
            return BuiltWorkload(graph: graph, feeds: ["x:0": input], fetches: [output.name])
        }
    }

    /// Map then reduce: `branches` independent branches, each multiplying the input `depth`
    /// times by its own constant vector (`branch_7/mul_2`), summed by a balanced tree of
    /// additions and reduced to one number. Nodes: `branches·(depth + 2) + 2`.
    public static func fanout(branches: Int, depth: Int, width: Int, seed: UInt64) -> Workload {
        Workload(
            name: "fanout",
            parameters: "branches=\(branches) depth=\(depth) width=\(width) seed=\(seed)"
        ) { () throws(WeftError) in
            var random = SplitMix64(seed: seed)
            let graph = Graph()
            let input = random.uniform([width], in: -1...1)
            let output = graph.asDefault { () -> Output in
                let x = placeholder(.float, shape: [width], name: "x")
                var outputs: [Output] = []
                outputs.reserveCapacity(branches)
                for _ in 0..<branches {
                    outputs.append(
                        graph.nameScope("branch") {
                            let scale = constant(random.uniform([width], in: 0.9...1.1), name: "scale")
                            var h = x
                            for _ in 0..<depth { h = h * scale }
                            return h
                        }
                    )
                }
                return graph.nameScope("reduce") { sum(treeSum(outputs), axes: [0], name: "total") }
            }
            return BuiltWorkload(graph: graph, feeds: ["x:0": input], fetches: [output.name])
        }
    }

    /// A multi-layer perceptron whose weights live in variables, parameter-server style:
    /// `layers` × `relu(h·W + b)` with `W` of `width × width`, on a batch of `batch` rows,
    /// then a softmax. Variables are initialised once (`init`); every step reads them all.
    /// Nodes: `layers·11 + 3`.
    public static func mlp(layers: Int, width: Int, batch: Int, seed: UInt64) -> Workload {
        Workload(
            name: "mlp",
            parameters: "layers=\(layers) width=\(width) batch=\(batch) seed=\(seed)"
        ) { () throws(WeftError) in
            var random = SplitMix64(seed: seed)
            let graph = Graph()
            let input = random.uniform([batch, width], in: -1...1)
            // He-style uniform bound: keeps activations of the same order through many layers.
            let bound = Float((6.0 / Double(width)).squareRoot())
            let output = graph.asDefault { () -> Output in
                let x = placeholder(.float, shape: [batch, width], name: "x")
                var h = x
                for _ in 0..<layers {
                    h = graph.nameScope("layer") {
                        let weights = Variable(random.uniform([width, width], in: -bound...bound), name: "weights")
                        let bias = Variable(random.uniform([width], in: -0.1...0.1), name: "bias")
                        return relu(matMul(h, weights.value) + bias.value)
                    }
                }
                _ = globalVariablesInitializer()
                return softmax(h, name: "output")
            }
            return BuiltWorkload(graph: graph, feeds: ["x:0": input], fetches: [output.name], initializers: ["init"])
        }
    }

    /// Transformer blocks on a `sequence × model` input: per block, `heads` attention heads
    /// (`softmax(q·kᵀ/√d)·v`, each projected back and summed), a residual `tanh(x + attention)`,
    /// and a feed-forward layer of width `4·model` with its own residual. Every weight is a
    /// variable; `model` must be a multiple of `heads`. Nodes: `blocks·(25·heads + 26) + 3`.
    public static func transformer(blocks: Int, model: Int, heads: Int, sequence: Int, seed: UInt64) -> Workload {
        Workload(
            name: "transformer",
            parameters: "blocks=\(blocks) model=\(model) heads=\(heads) sequence=\(sequence) seed=\(seed)"
        ) { () throws(WeftError) in
            guard heads > 0, model % heads == 0 else {
                throw WeftError(
                    .invalidArgument,
                    "transformer: model (\(model)) must be a multiple of heads (\(heads))"
                )
            }
            var random = SplitMix64(seed: seed)
            let graph = Graph()
            let input = random.uniform([sequence, model], in: -1...1)
            let output = graph.asDefault { () -> Output in
                var x = placeholder(.float, shape: [sequence, model], name: "x")
                for _ in 0..<blocks {
                    x = graph.nameScope("block") {
                        transformerBlock(x, model: model, heads: heads, graph: graph, random: &random)
                    }
                }
                _ = globalVariablesInitializer()
                return identity(x, name: "output")
            }
            return BuiltWorkload(graph: graph, feeds: ["x:0": input], fetches: [output.name], initializers: ["init"])
        }
    }

    /// Loads a TensorFlow or Weft GraphDef file (text for `.pbtxt`, binary otherwise) and runs
    /// `fetches` (tensor names, `node:0`) every step, after running `initializers` once.
    /// Placeholders the fetches need must be given in `feeds`.
    public static func graphDef(
        file: URL,
        fetches: [String],
        feeds: [String: Tensor] = [:],
        initializers: [String] = []
    ) -> Workload {
        Workload(name: file.deletingPathExtension().lastPathComponent, parameters: "file=\(file.path)") {
            () throws(WeftError) in
            guard !fetches.isEmpty else {
                throw WeftError(.invalidArgument, "a GraphDef workload needs at least one fetch, like --fetches out:0")
            }
            let graph = try Graph(contentsOf: file)
            for name in fetches { _ = try graph.tensor(named: name) }
            for name in initializers where graph.operation(named: name) == nil {
                throw WeftError(.notFound, "the initializer '\(name)' is not a node of \(file.lastPathComponent)")
            }
            return BuiltWorkload(graph: graph, feeds: feeds, fetches: fetches, initializers: initializers)
        }
    }
}

/// One transformer block (see `Workloads.transformer`).
private func transformerBlock(
    _ x: Output,
    model: Int,
    heads: Int,
    graph: Graph,
    random: inout SplitMix64
) -> Output {
    let headWidth = model / heads
    let bound = Float((3.0 / Double(model)).squareRoot())
    func weight(_ rows: Int, _ columns: Int, _ name: String) -> Output {
        Variable(random.uniform([rows, columns], in: -bound...bound), name: name).value
    }
    let attention = graph.nameScope("attention") { () -> Output in
        var projected: [Output] = []
        for _ in 0..<heads {
            projected.append(
                graph.nameScope("head") {
                    let q = matMul(x, weight(model, headWidth, "query"))
                    let k = matMul(x, weight(model, headWidth, "key"))
                    let v = matMul(x, weight(model, headWidth, "value"))
                    let scores = matMul(q, k, transposeB: true) * (1 / Double(headWidth).squareRoot())
                    return matMul(matMul(softmax(scores), v), weight(headWidth, model, "projection"))
                }
            )
        }
        return addN(projected)
    }
    let mixed = tanh(x + attention)
    let feedForward = graph.nameScope("ffn") { () -> Output in
        let hidden = relu(matMul(mixed, weight(model, 4 * model, "w1")) + weight(1, 4 * model, "b1"))
        return matMul(hidden, weight(4 * model, model, "w2")) + weight(1, model, "b2")
    }
    return tanh(mixed + feedForward)
}

/// The sum of `values` by a balanced tree of additions: depth log₂(n) instead of n.
private func treeSum(_ values: [Output]) -> Output {
    var level = values
    while level.count > 1 {
        var next: [Output] = []
        next.reserveCapacity((level.count + 1) / 2)
        for pair in stride(from: 0, to: level.count, by: 2) {
            next.append(pair + 1 < level.count ? level[pair] + level[pair + 1] : level[pair])
        }
        level = next
    }
    return level[0]
}
