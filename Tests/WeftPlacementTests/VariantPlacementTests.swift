import Testing
import WeftProto
import WeftRuntime

@testable import WeftPlacement

/// Variant tensors (TensorLists) have no wire form, so their consumers must run where they
/// are made, whatever the strategy.
@Suite struct VariantPlacementTests {
    /// A node whose dtype attribute (`dtype` of a placeholder, else `element_dtype`) is `dtype`.
    private static func node(
        _ name: String,
        _ op: String,
        _ inputs: [String],
        device: String = "",
        dtype: Tensorflow_DataType = .dtFloat
    ) -> Tensorflow_NodeDef {
        var def = Tensorflow_NodeDef()
        def.name = name
        def.op = op
        def.input = inputs
        def.device = device
        var type = Tensorflow_AttrValue()
        type.value = .type(dtype)
        def.attr[op == "Placeholder" ? "dtype" : "element_dtype"] = type
        return def
    }

    @Test(arguments: PlacementStrategies.all.map(\.name))
    func listConsumers_liveWithTheListsProducer(strategy: String) throws {
        let runtime = try RuntimeGraph(nodes: [
            Self.node("x", "Placeholder", [], device: "/job:worker/task:1"),
            Self.node("shape", "Placeholder", [], dtype: .dtInt32),
            Self.node("index", "Placeholder", [], dtype: .dtInt32),
            Self.node("list", "TensorListFromTensor", ["x", "shape"], device: "/job:ps/task:0"),
            Self.node("item", "TensorListGetItem", ["list", "index", "shape"]),
            Self.node("length", "TensorListLength", ["list"], device: "/job:worker/task:0"),
        ])
        let placement = try PlacementStrategies.place(
            runtime,
            on: PlacementTests.devices,
            strategy: try PlacementStrategies.named(strategy)
        )
        let ps = DeviceName(job: "ps", task: 0)
        #expect(placement["list"] == ps)
        #expect(placement["item"] == ps)
        // An explicit device elsewhere yields, as it does for ops that use a variable.
        #expect(placement["length"] == ps)
    }
}
