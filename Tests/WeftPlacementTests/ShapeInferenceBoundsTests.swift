import Testing
import WeftRuntime

@testable import Weft
@testable import WeftPlacement

/// Shapes a GraphDef declares or computes can multiply past `Int`: inference bounds them, and
/// every strategy still places the graph.
@Suite struct ShapeInferenceBoundsTests {
    /// A Const of `dimensions` and a Tile and a Range whose sizes pass `Int`.
    static func hugeGraph() throws -> Graph {
        try Graph(
            graphDefText: """
                node {
                  name: "huge" op: "Const"
                  attr { key: "dtype" value { type: DT_FLOAT } }
                  attr { key: "value" value { tensor { dtype: DT_FLOAT
                    tensor_shape { dim { size: 4611686018427387904 } dim { size: 4611686018427387904 } } } } }
                }
                node {
                  name: "multiples" op: "Const"
                  attr { key: "dtype" value { type: DT_INT64 } }
                  attr { key: "value" value { tensor { dtype: DT_INT64 tensor_shape { dim { size: 2 } }
                    int64_val: 4611686018427387904 int64_val: 4611686018427387904 } } }
                }
                node { name: "tiled" op: "Tile" input: "huge" input: "multiples"
                  attr { key: "T" value { type: DT_FLOAT } } attr { key: "Tmultiples" value { type: DT_INT64 } } }
                node {
                  name: "low" op: "Const"
                  attr { key: "dtype" value { type: DT_INT64 } }
                  attr { key: "value" value { tensor { dtype: DT_INT64 tensor_shape { } int64_val: -9223372036854775807 } } }
                }
                node {
                  name: "high" op: "Const"
                  attr { key: "dtype" value { type: DT_INT64 } }
                  attr { key: "value" value { tensor { dtype: DT_INT64 tensor_shape { } int64_val: 9223372036854775807 } } }
                }
                node { name: "range" op: "Range" input: "low" input: "high" input: "high"
                  attr { key: "Tidx" value { type: DT_INT64 } } }
                node { name: "sum" op: "AddV2" input: "tiled" input: "tiled" attr { key: "T" value { type: DT_FLOAT } } }
                """
        )
    }

    @Test func hugeShapes_areBoundedNotTrapped() throws {
        let (runtime, inferred) = try CostModelTests.shapes(try Self.hugeGraph())
        for name in ["huge", "tiled", "range", "sum"] {
            let node = try runtime.node(named: name)
            #expect(inferred.shape(node: node, output: 0).elementCount <= ShapeInference.maxElements)
            #expect(inferred.bytes(node: node, output: 0) <= ShapeInference.maxElements * 4)
        }
    }

    @Test(arguments: PlacementStrategies.all.map(\.name))
    func hugeShapes_everyStrategyPlaces(strategy: String) throws {
        let runtime = try RuntimeGraph(nodes: try Self.hugeGraph().graphDef.node)
        let devices = [DeviceName(job: "worker", task: 0), DeviceName(job: "worker", task: 1)]
        // With a memory limit, the budget counts the constant's bytes too.
        let placement = try PlacementStrategies.place(
            runtime,
            on: devices,
            strategy: try PlacementStrategies.named(strategy),
            options: PlacementOptions(memoryLimit: 1 << 40)
        )
        #expect(placement.count == runtime.nodes.count)
    }
}
