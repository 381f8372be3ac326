import Foundation
import WeftProto
import WeftRuntime

/// NodeDefs for hand-built graphs, in the form `tf.compat.v1` writes them.
enum NodeDefs {
    static func node(
        _ name: String,
        _ op: String,
        _ inputs: [String] = [],
        _ attributes: [String: Tensorflow_AttrValue] = [:]
    ) -> Tensorflow_NodeDef {
        Tensorflow_NodeDef.with {
            $0.name = name
            $0.op = op
            $0.input = inputs
            $0.attr = attributes
        }
    }

    static func constant(_ name: String, _ value: Tensor, control: [String] = []) -> Tensorflow_NodeDef {
        var tensor = Tensorflow_AttrValue()
        tensor.tensor = value.proto
        return node(name, "Const", control.map { "^\($0)" }, ["dtype": type(value.dtype), "value": tensor])
    }

    static func placeholder(_ name: String, _ dtype: DType) -> Tensorflow_NodeDef {
        node(name, "Placeholder", [], ["dtype": type(dtype)])
    }

    /// An `Enter` into frame `frame`, with 4 parallel iterations.
    static func enter(_ name: String, _ input: String, frame: String, constant: Bool = false) -> Tensorflow_NodeDef {
        var frameName = Tensorflow_AttrValue()
        frameName.s = Data(frame.utf8)
        var isConstant = Tensorflow_AttrValue()
        isConstant.b = constant
        return node(
            name,
            "Enter",
            [input],
            ["frame_name": frameName, "is_constant": isConstant, "parallel_iterations": int(4)]
        )
    }

    static func type(_ dtype: DType) -> Tensorflow_AttrValue {
        var value = Tensorflow_AttrValue()
        value.type = Tensorflow_DataType(rawValue: dtype.rawValue) ?? .dtInvalid
        return value
    }

    static func int(_ value: Int) -> Tensorflow_AttrValue {
        var attribute = Tensorflow_AttrValue()
        attribute.i = Int64(value)
        return attribute
    }
}
