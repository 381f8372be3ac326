import ArgumentParser
import Foundation
import Weft
import WeftProto
import WeftRuntime

/// `weft ops`: the op types Weft implements, or those a graph uses that it does not.
struct OpsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "List the TensorFlow op types Weft implements, or the ones a GraphDef needs that Weft lacks."
    )

    @Option(help: "A GraphDef file (.pbtxt text, binary otherwise): list the op types it uses that Weft lacks.")
    var missingIn: String?

    func run() throws {
        let known = OpRegistry.standard.opNames
        guard let missingIn else {
            for name in known { say(name) }
            return
        }
        let url = URL(fileURLWithPath: missingIn)
        let data = try Data(contentsOf: url)
        let graphDef =
            ["pbtxt", "txt"].contains(url.pathExtension)
            ? try Tensorflow_GraphDef(textFormatString: String(decoding: data, as: UTF8.self))
            : try Tensorflow_GraphDef(serializedBytes: data)
        let used = graphDef.node.map(\.op) + graphDef.library.function.flatMap { $0.nodeDef.map(\.op) }
        let functions = Set(graphDef.library.function.map(\.signature.name))
        for name in Set(used).subtracting(known).subtracting(functions).sorted() { say(name) }
    }
}
