import Testing
import WeftCluster

@testable import WeftObservability

/// The dashboard's placement picture: a box per node while they fit, name scopes beyond.
@Suite struct PlacementPictureTests {
    static func node(_ name: String, _ device: String, _ inputs: [String] = []) -> SessionPlacement.Node {
        SessionPlacement.Node(name: name, op: "Op", device: device, inputs: inputs)
    }

    static let placement = SessionPlacement(
        session: "s1",
        nodes: [
            node("x", "/job:worker/task:0"),
            node("layer1/w", "/job:worker/task:0"),
            node("layer1/dense/MatMul", "/job:worker/task:0", ["x:0", "layer1/w"]),
            node("layer1/dense/Relu", "/job:worker/task:1", ["layer1/dense/MatMul"]),
            node("layer2/dense/MatMul", "/job:worker/task:1", ["layer1/dense/Relu:0", "^x"]),
        ]
    )

    @Test func smallGraph_aBoxPerNode() {
        let picture = PlacementPicture(Self.placement, limit: 10)
        #expect(picture.depth == 0)
        #expect(picture.boxes.map(\.id) == Self.placement.nodes.map(\.name))
        #expect(picture.boxes[3].device == "/job:worker/task:1")
        #expect(picture.edges.count == 5)
        #expect(picture.devices == ["/job:worker/task:0", "/job:worker/task:1"])
    }

    @Test func largeGraph_collapsedToTheDeepestScopeLevelThatFits() {
        let picture = PlacementPicture(Self.placement, limit: 4)
        #expect(picture.depth == 2)
        #expect(picture.boxes.map(\.id) == ["x", "layer1/w", "layer1/dense", "layer2/dense"])
        let dense = picture.boxes[2]
        let expected: [String: Int] = ["/job:worker/task:0": 1, "/job:worker/task:1": 1]
        #expect(dense.nodes == 2)
        #expect(dense.devices == expected)
        // Edges inside a box disappear; the two into layer1/dense stay apart, by source.
        #expect(!picture.edges.contains { $0.from == $0.to })
        #expect(picture.edges.contains { $0.from == "layer1/dense" && $0.to == "layer2/dense" && $0.count == 1 })

        let coarse = PlacementPicture(Self.placement, limit: 3)
        #expect(coarse.depth == 1)
        #expect(coarse.boxes.map(\.id) == ["x", "layer1", "layer2"])
        #expect(coarse.boxes[1].nodes == 3 && coarse.boxes[1].device == "/job:worker/task:0")
    }
}
