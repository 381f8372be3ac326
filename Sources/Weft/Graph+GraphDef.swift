import Foundation
import SwiftProtobuf
import WeftProto
import WeftRuntime

extension Graph {
    /// Loads a TensorFlow `GraphDef`. Every node is checked first (known op, inputs that exist,
    /// no data cycle), so a bad graph is refused whole with an error naming the node.
    public convenience init(graphDef: Tensorflow_GraphDef, registry: OpRegistry = .standard) throws(WeftError) {
        self.init(registry: registry)
        try importGraphDef(graphDef)
    }

    /// Loads a GraphDef in TensorFlow's binary protobuf form.
    public convenience init(serializedGraphDef data: Data, registry: OpRegistry = .standard) throws(WeftError) {
        let graphDef: Tensorflow_GraphDef
        do {
            graphDef = try Tensorflow_GraphDef(serializedBytes: data)
        } catch {
            throw WeftError(.invalidArgument, "not a binary GraphDef: \(error)")
        }
        try self.init(graphDef: graphDef, registry: registry)
    }

    /// Loads a GraphDef in TensorFlow's protobuf text form (`.pbtxt`).
    public convenience init(graphDefText text: String, registry: OpRegistry = .standard) throws(WeftError) {
        try self.init(graphDef: try Tensorflow_GraphDef(tensorFlowText: text), registry: registry)
    }

    /// Loads a GraphDef file: text form for `.pbtxt` and `.txt`, binary otherwise.
    public convenience init(contentsOf url: URL, registry: OpRegistry = .standard) throws(WeftError) {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw WeftError(.notFound, "cannot read the graph file \(url.path): \(error.localizedDescription)")
        }
        if ["pbtxt", "txt"].contains(url.pathExtension) {
            try self.init(graphDefText: String(decoding: data, as: UTF8.self), registry: registry)
        } else {
            try self.init(serializedGraphDef: data, registry: registry)
        }
    }

    /// Adds the nodes of `graphDef` to this graph; their names must not be in use.
    public func importGraphDef(_ graphDef: Tensorflow_GraphDef) throws(WeftError) {
        let (existing, _) = nodes()
        var library = storage.withLock { $0.library }
        Self.merge(graphDef.library, into: &library)
        let runtime = try RuntimeGraph(
            nodes: existing + graphDef.node,
            registry: registry,
            functions: FunctionLibrary(nonEmpty: library, registry: registry)
        )
        storage.withLock { storage in
            if graphDef.hasVersions { storage.versions = graphDef.versions }
            if graphDef.hasDebugInfo { storage.debugInfo = graphDef.debugInfo }
            Self.merge(graphDef.library, into: &storage.library)
            for (offset, node) in graphDef.node.enumerated() {
                let position = storage.nodes.count
                storage.index[node.name] = position
                storage.nodes.append(node)
                storage.outputTypes.append(runtime.nodes[existing.count + offset].outputTypes)
                if storage.namesInUse[node.name.lowercased()] == nil { storage.namesInUse[node.name.lowercased()] = 1 }
            }
        }
    }

    /// The graph as a TensorFlow `GraphDef`.
    public var graphDef: Tensorflow_GraphDef {
        storage.withLock { storage in
            var graphDef = Tensorflow_GraphDef()
            graphDef.node = storage.nodes
            // Graphs built here carry TensorFlow 1.15's producer version; consumers check it is recent enough.
            graphDef.versions = storage.versions ?? .with { $0.producer = 134 }
            if !storage.library.function.isEmpty || !storage.library.gradient.isEmpty
                || !storage.library.registeredGradients.isEmpty
            {
                graphDef.library = storage.library
            }
            if let debugInfo = storage.debugInfo { graphDef.debugInfo = debugInfo }
            return graphDef
        }
    }

    /// The graph's function library as the runtime loads it; `nil` when it has no function.
    var functions: FunctionLibrary? {
        FunctionLibrary(nonEmpty: storage.withLock { $0.library }, registry: registry)
    }

    /// Adds the functions and gradients of `library` that `target` does not hold yet (by name).
    private static func merge(_ library: Tensorflow_FunctionDefLibrary, into target: inout Tensorflow_FunctionDefLibrary) {
        let functions = Set(target.function.map(\.signature.name))
        target.function += library.function.filter { !functions.contains($0.signature.name) }
        let gradients = Set(target.gradient.map(\.functionName))
        target.gradient += library.gradient.filter { !gradients.contains($0.functionName) }
        let registered = Set(target.registeredGradients.map(\.gradientFunc))
        target.registeredGradients += library.registeredGradients.filter { !registered.contains($0.gradientFunc) }
    }

    /// The GraphDef in binary protobuf form, as `tf.io.write_graph(..., as_text=False)` writes it.
    public func serializedGraphDef() throws(WeftError) -> Data {
        do {
            return try graphDef.serializedData()
        } catch {
            throw WeftError(.internal, "cannot serialize the GraphDef: \(error)")
        }
    }

    /// The GraphDef in protobuf text form, as `tf.io.write_graph(..., as_text=True)` writes it.
    public var graphDefText: String { graphDef.textFormatString() }
}

extension Tensorflow_GraphDef {
    /// Parses a GraphDef in the text form TensorFlow writes; an error names the line it stops at.
    public init(tensorFlowText text: String) throws(WeftError) {
        do {
            self = try Tensorflow_GraphDef(textFormatString: text)
        } catch {
            // TensorFlow leaves default map keys out, which swift-protobuf does not accept.
            guard let completed = GraphDefTextMaps.completed(text),
                let parsed = try? Tensorflow_GraphDef(textFormatString: completed)
            else {
                let place = GraphDefTextError.locate(in: text).map { " at \($0)" } ?? ""
                throw WeftError(.invalidArgument, "not a text GraphDef: \(error)\(place)")
            }
            self = parsed
        }
    }
}
