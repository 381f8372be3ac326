import WeftProto

/// The graph a plan runs, after pruning and optimizations, as a GraphDef: TensorFlow's
/// `RunMetadata.partition_graphs`, so a user sees what constant folding, simplification and
/// NoOp pruning made of their graph.
struct OptimizedGraph: Sendable {
    let graph: RuntimeGraph
    /// The graph nodes that run, producers first.
    let order: [Int]
    let folded: [Int: [Tensor]]
    let simplified: Simplification
    let feeds: [TensorName]
    let feedTypes: [(dtype: DType, shape: PartialShape)]

    /// Every node that runs: folded ones as `Const`s of their own name, inputs as simplification
    /// rewired them, and each fed tensor as a `Placeholder` its consumers read.
    var graphDef: Tensorflow_GraphDef {
        var feedNames: [String] = []
        var defs: [Tensorflow_NodeDef] = []
        let running = Set(order)
        for (feed, type) in zip(feeds, feedTypes) {
            let name = Self.placeholderName(for: feed, producerRuns: graph.index[feed.node].map(running.contains) ?? false)
            feedNames.append(name)
            defs.append(.with {
                $0.name = name
                $0.op = "Placeholder"
                $0.attr["dtype"] = .with { $0.type = type.dtype.proto }
                $0.attr["shape"] = .with { $0.shape = type.shape.proto }
            })
        }
        for node in order {
            defs.append(nodeDef(node, feedNames: feedNames))
        }
        return .with { $0.node = defs }
    }

    private func nodeDef(_ node: Int, feedNames: [String]) -> Tensorflow_NodeDef {
        let info = graph.nodes[node].info
        if let values = folded[node], let value = values.first {
            return .with {
                $0.name = info.name
                $0.op = "Const"
                $0.device = info.device
                $0.attr["dtype"] = .with { $0.type = value.dtype.proto }
                $0.attr["value"] = .with { $0.tensor = value.proto }
            }
        }
        var def = Tensorflow_NodeDef()
        def.name = info.name
        def.op = info.op
        def.device = info.device
        def.attr = info.attributes.values
        for input in graph.nodes[node].dataInputs.indices {
            switch simplified.source(of: node, input: input) {
            case .feed(let feed): def.input.append(feedNames[feed])
            case .tensor(let producer, let output): def.input.append(Self.inputName(graph.nodes[producer].info.name, output))
            }
        }
        for control in graph.nodes[node].controlInputs.flatMap({ simplified.waitedFor($0) }) {
            let name = "^" + graph.nodes[control].info.name
            if !def.input.contains(name) { def.input.append(name) }
        }
        return def
    }

    private static func inputName(_ node: String, _ output: Int) -> String {
        output == 0 ? node : "\(node):\(output)"
    }

    /// A fed tensor keeps its name when its node does not run and it is output 0; otherwise
    /// the placeholder gets a name of its own.
    private static func placeholderName(for feed: TensorName, producerRuns: Bool) -> String {
        feed.index == 0 && !producerRuns ? feed.node : "\(feed.node)/_fed_\(feed.index)"
    }
}

extension StepPlan {
    /// The graph this plan runs, after pruning and the session's optimizations, as a GraphDef:
    /// folded nodes are `Const`s of their own name, removed nodes are gone and their consumers
    /// read what replaced them, and each fed tensor is a `Placeholder`.
    public var optimizedGraph: Tensorflow_GraphDef {
        optimizedGraphCache.withLock { cached in
            if let cached { return cached }
            let graph = optimized.graphDef
            cached = graph
            return graph
        }
    }
}
