extension StepPlan {
    /// The order of a plan's nodes: the graph's own order when it is topological, as it is for
    /// graphs built through the API and most imported ones, else Kahn's (`topologicalOrder`).
    ///
    /// A graph built chain after chain keeps each chain's nodes together in graph order, where
    /// Kahn's order goes level by level, across every chain. The plan allocates its nodes,
    /// kernels and slots in its order, and a thread runs a chain link after link, so in graph
    /// order a step walks through memory the way the prefetcher expects.
    static func executionOrder(
        graph: RuntimeGraph,
        needed: [Bool],
        feeds: [TensorName: Int]
    ) throws(WeftError) -> [Int] {
        let nodes = graph.nodes.indices.filter { needed[$0] }
        let isTopological = nodes.allSatisfy { node in
            producers(of: node, graph: graph, feeds: feeds).allSatisfy { $0 < node }
        }
        return isTopological ? nodes : try topologicalOrder(graph: graph, needed: needed, feeds: feeds)
    }

    /// The producers `topologicalOrder` orders `node` after: of its data inputs that are not fed
    /// and do not close a loop, and of its control inputs.
    private static func producers(of node: Int, graph: RuntimeGraph, feeds: [TensorName: Int]) -> [Int] {
        let data = graph.nodes[node].dataInputs.enumerated().compactMap { input, source -> Int? in
            let (producer, output) = source
            let isFed = feeds[TensorName(node: graph.nodes[producer].info.name, index: output)] != nil
            return isFed || graph.closesLoop(node, input: input) ? nil : producer
        }
        return data + graph.nodes[node].controlInputs
    }
}
