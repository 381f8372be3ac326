/// An undirected graph with weighted vertices and edges in CSR form: what `min-cut` partitions.
/// Vertex weights are compute seconds (what balance is measured in); edge weights are bytes.
struct WeightedGraph {
    /// Weight of every vertex.
    var vertexWeight: [Double]
    /// Neighbours of `v` are `neighbor[start[v]..<start[v + 1]]`.
    var start: [Int]
    var neighbor: [Int]
    var edgeWeight: [Int]

    /// The number of vertices.
    var count: Int { vertexWeight.count }
    /// The sum of the vertex weights.
    var totalWeight: Double { vertexWeight.reduce(0, +) }

    init(vertexWeight: [Double], start: [Int], neighbor: [Int], edgeWeight: [Int]) {
        self.vertexWeight = vertexWeight
        self.start = start
        self.neighbor = neighbor
        self.edgeWeight = edgeWeight
    }

    /// Builds a graph from directed edges `(a, b, weight)`, given as three parallel arrays: each
    /// becomes undirected, self loops are dropped and parallel edges merge, adding their weights.
    init(vertexWeight: [Double], from sources: [Int], to targets: [Int], weights: [Int]) {
        let count = vertexWeight.count
        var degree = [Int](repeating: 0, count: count + 1)
        for edge in sources.indices where sources[edge] != targets[edge] {
            degree[sources[edge] + 1] += 1
            degree[targets[edge] + 1] += 1
        }
        for v in 0..<count { degree[v + 1] += degree[v] }
        var fill = degree
        var neighbor = [Int](repeating: 0, count: degree[count])
        var weight = [Int](repeating: 0, count: degree[count])
        for edge in sources.indices where sources[edge] != targets[edge] {
            let (a, b) = (sources[edge], targets[edge])
            neighbor[fill[a]] = b
            weight[fill[a]] = weights[edge]
            fill[a] += 1
            neighbor[fill[b]] = a
            weight[fill[b]] = weights[edge]
            fill[b] += 1
        }
        self.init(vertexWeight: vertexWeight, start: degree, neighbor: neighbor, edgeWeight: weight)
        mergeParallelEdges()
    }

    /// Merges repeated neighbours of every vertex in place, in one pass with a marker array.
    private mutating func mergeParallelEdges() {
        var slot = [Int](repeating: -1, count: count)
        var write = 0
        var newStart = [Int](repeating: 0, count: count + 1)
        for v in 0..<count {
            let first = write
            for edge in start[v]..<start[v + 1] {
                let u = neighbor[edge]
                if slot[u] >= first {
                    edgeWeight[slot[u]] += edgeWeight[edge]
                } else {
                    slot[u] = write
                    neighbor[write] = u
                    edgeWeight[write] = edgeWeight[edge]
                    write += 1
                }
            }
            newStart[v + 1] = write
        }
        start = newStart
        neighbor.removeLast(neighbor.count - write)
        edgeWeight.removeLast(edgeWeight.count - write)
    }

    /// The total weight of edges whose ends are in different parts.
    func cut(_ part: [Int]) -> Int {
        var total = 0
        for v in 0..<count {
            for edge in start[v]..<start[v + 1] where part[neighbor[edge]] != part[v] { total += edgeWeight[edge] }
        }
        return total / 2
    }

    /// The subgraph induced by the vertices with `keep[v]`, and the original index of each of its vertices.
    func induced(by keep: [Bool]) -> (graph: WeightedGraph, original: [Int]) {
        var local = [Int](repeating: -1, count: count)
        var original: [Int] = []
        for v in 0..<count where keep[v] {
            local[v] = original.count
            original.append(v)
        }
        var weights: [Double] = []
        var newStart = [0]
        var newNeighbor: [Int] = []
        var newWeight: [Int] = []
        weights.reserveCapacity(original.count)
        newStart.reserveCapacity(original.count + 1)
        for v in original {
            weights.append(vertexWeight[v])
            for edge in start[v]..<start[v + 1] where local[neighbor[edge]] >= 0 {
                newNeighbor.append(local[neighbor[edge]])
                newWeight.append(edgeWeight[edge])
            }
            newStart.append(newNeighbor.count)
        }
        return (
            WeightedGraph(vertexWeight: weights, start: newStart, neighbor: newNeighbor, edgeWeight: newWeight),
            original
        )
    }
}
