import Foundation
import Synchronization
import WeftProto
import WeftRuntime

/// TensorFlow 1.x's `tf.compat.v1.train.Saver` writing the V2 format: saves a session's
/// variables to a checkpoint (`PREFIX.index` + `PREFIX.data-SSSSS-of-NNNNN`) with `SaveV2`,
/// restores them with `RestoreV2`, keeps the `checkpoint` state file up to date and deletes
/// checkpoints beyond `maxToKeep`. TensorFlow reads what it writes and the other way round.
///
/// The saver adds its ops to the graph once, in a `save/` scope, fed the prefix at each save.
/// A sharded saver writes one shard per device holding variables, each with a `SaveV2` on
/// that device (on a cluster, every parameter server writes its own variables, in parallel),
/// then `MergeV2Checkpoints` joins them into one checkpoint, as TensorFlow's sharded saver does.
public final class Saver: Sendable {
    /// How many recent checkpoints are kept; older ones are deleted. 0 keeps all.
    public let maxToKeep: Int
    /// Whether each device's variables go to their own shard.
    public let isSharded: Bool
    /// The names under which variables are saved, sorted.
    public let names: [String]
    /// The prefix to save to or restore from, fed at each run (`save/filename:0`; TensorFlow's
    /// `saver_def.filename_tensor_name`).
    public let filename: Output
    /// The prefix written, once every shard is written and merged (TensorFlow's
    /// `saver_def.save_tensor_name`).
    public let saveTensor: Output
    /// The op that restores every variable (`save/restore_all`).
    public let restoreOperation: Operation
    private let kept = Mutex<[String]>([])

    /// Makes a saver of `variables`, or of every variable of `graph` (ref and resource) when
    /// `nil`. Throws `invalidArgument` when there is nothing to save or two variables share a
    /// name, as TensorFlow does.
    public init(
        variables: [Variable]? = nil,
        graph: Graph = .current,
        sharded: Bool = false,
        maxToKeep: Int = 5,
        name: String = "save"
    ) throws(WeftError) {
        let graph = variables?.first?.operation.graph ?? graph
        let saveables = try Self.saveables(variables, in: graph)
        self.maxToKeep = maxToKeep
        isSharded = sharded
        names = saveables.map(\.name)
        (filename, saveTensor, restoreOperation) = graph.asDefault {
            graph.nameScope(name) {
                let filename = graph.addOperation(
                    "PlaceholderWithDefault",
                    name: "filename",
                    inputs: [stringConstant(["model"], shape: .scalar, name: "filename/input")],
                    attributes: ["dtype": .type(.string), "shape": .shape(PartialShape([]))]
                ).output()
                let built = sharded ? Self.buildSharded(saveables, filename) : Self.build(saveables, filename)
                return (filename, built.save, built.restore)
            }
        }
    }

    /// The prefixes of the checkpoints this saver keeps, oldest first.
    public var lastCheckpoints: [String] { kept.withLock { $0 } }

    /// Saves the session's variables to `prefix` (`prefix-STEP` with a global step) and returns
    /// the prefix written. Unless `writeState` is off, records it in the directory's state file
    /// and deletes the oldest checkpoint beyond `maxToKeep`.
    @discardableResult
    public func save(
        _ session: Session,
        to prefix: String,
        globalStep: Int? = nil,
        latestFilename: String = "checkpoint",
        writeState: Bool = true
    ) throws(WeftError) -> String {
        let path = globalStep.map { "\(prefix)-\($0)" } ?? prefix
        let directory = Self.directory(of: path)
        let value: Tensor
        do {
            value = try session.run(saveTensor, feeding: [filename: try Tensor(strings: [path], shape: .scalar)])
        } catch  where [.notFound, .failedPrecondition].contains(error.code) {
            // Checked only after a failure, as TensorFlow does: on a cluster the workers write
            // the files, and this process may not see their file system.
            var isDirectory: ObjCBool = false
            guard directory.isEmpty || FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory),
                directory.isEmpty || isDirectory.boolValue
            else {
                throw WeftError(.notFound, "Parent directory of \(path) doesn't exist, can't save.")
            }
            throw error
        }
        let written = value.strings.first.map { String(decoding: $0, as: UTF8.self) } ?? path
        guard writeState else { return written }
        let (paths, expired) = kept.withLock { kept in
            guard maxToKeep > 0 else { return ([String](), [String]()) }
            kept.removeAll { $0 == written }
            kept.append(written)
            let expired = Array(kept.prefix(max(0, kept.count - maxToKeep)))
            kept.removeFirst(expired.count)
            return (kept, expired)
        }
        try CheckpointState(modelCheckpointPath: written, allModelCheckpointPaths: paths)
            .write(in: directory, latestFilename: latestFilename)
        for old in expired { Self.removeCheckpoint(old) }
        return written
    }

    /// Saves with the value of the `globalStep` variable in `session` as the step.
    @discardableResult
    public func save(_ session: Session, to prefix: String, globalStep: Variable) throws(WeftError) -> String {
        let step = try session.run(globalStep)
        let whole: Int? =
            switch step.dtype {
            case .int64: step.scalar(as: Int64.self).map { Int($0) }
            case .int32: step.scalar(as: Int32.self).map { Int($0) }
            default: step.doubleValues.first.flatMap { Int(exactly: $0) }
            }
        guard step.elementCount == 1, let whole else {
            throw WeftError(
                .invalidArgument,
                "the global step '\(globalStep.name)' is not a whole-number scalar: \(step)"
            )
        }
        return try save(session, to: prefix, globalStep: whole)
    }

    /// Sets the session's variables to the values of the checkpoint at `prefix`, which must
    /// hold every variable of this saver with its dtype (and shape, where the shape is known).
    public func restore(_ session: Session, from prefix: String) throws(WeftError) {
        guard FileManager.default.fileExists(atPath: TensorBundle.indexPath(prefix)) else {
            throw WeftError(.notFound, "The passed save_path is not a valid checkpoint: \(prefix)")
        }
        try session.run(
            [],
            feeding: [filename: try Tensor(strings: [prefix], shape: .scalar)],
            targets: [restoreOperation]
        )
    }

    // MARK: - Graph building

    /// One variable as saved: its name, node and how it is read and set.
    struct Saveable {
        var name: String
        var node: Operation
        var dtype: DType
        var isResource: Bool
        var validatesShape: Bool

        var device: String { node.device }

        /// The value to save: the ref itself, or a read of the resource, next to the variable.
        func value() -> Output {
            guard isResource else { return node.output(0) }
            return node.graph.colocate(with: node) {
                node.graph.addOperation("ReadVariableOp", inputs: [node.output(0)], attributes: ["dtype": .type(dtype)])
                    .output()
            }
        }

        /// Sets the variable to `restored`.
        func assign(_ restored: Output) -> Operation {
            node.graph.colocate(with: node) {
                isResource
                    ? node.graph.addOperation(
                        "AssignVariableOp",
                        inputs: [node.output(0), restored],
                        attributes: ["dtype": .type(dtype)]
                    )
                    : node.graph.addOperation(
                        "Assign",
                        inputs: [node.output(0), restored],
                        attributes: [
                            "T": .type(dtype), "use_locking": .bool(true), "validate_shape": .bool(validatesShape),
                        ]
                    )
            }
        }
    }

    private static let variableOps: Set = ["VariableV2", "Variable", "VarHandleOp"]

    /// The variables to save, sorted by name, checked as TensorFlow checks them.
    private static func saveables(_ variables: [Variable]?, in graph: Graph) throws(WeftError) -> [Saveable] {
        if let foreign = variables?.first(where: { $0.operation.graph !== graph }) {
            throw WeftError(.invalidArgument, "the variable '\(foreign.name)' belongs to another graph than the others")
        }
        let nodes =
            variables.map { $0.map(\.operation.nodeDef) }
            ?? graph.nodes().nodes.filter { variableOps.contains($0.op) }
        var result: [Saveable] = []
        for node in nodes {
            let attributes = NodeAttributes(node.attr, node: node.name)
            let shape = attributes.values["shape"].map { PartialShape($0.shape) } ?? .unknown
            result.append(
                Saveable(
                    name: node.name,
                    node: Operation(graph: graph, name: node.name),
                    dtype: try attributes.type("dtype"),
                    isResource: node.op == "VarHandleOp",
                    validatesShape: shape.dimensions?.allSatisfy { $0 != nil } ?? false
                )
            )
        }
        guard !result.isEmpty else { throw WeftError(.invalidArgument, "No variables to save") }
        result.sort { $0.name < $1.name }
        for (first, second) in zip(result, result.dropFirst()) where first.name == second.name {
            throw WeftError(.invalidArgument, "At least two variables have the same name: \(first.name)")
        }
        return result
    }

    /// `SaveV2` of every variable to `prefix`, yielding the prefix once written.
    private static func saveOps(_ saveables: [Saveable], to prefix: Output) -> (save: Operation, written: Output) {
        let graph = prefix.graph
        let save = graph.addOperation(
            "SaveV2",
            inputs: [
                prefix, stringConstant(saveables.map(\.name), name: "SaveV2/tensor_names"),
                stringConstant(saveables.map { _ in "" }, name: "SaveV2/shape_and_slices"),
            ] + saveables.map { $0.value() },
            attributes: ["dtypes": .types(saveables.map(\.dtype))]
        )
        let written = graph.controlDependencies(on: [save]) { identity(prefix, name: "control_dependency") }
        return (save, written)
    }

    /// `RestoreV2` of the variables from `prefix` and their assignments.
    private static func restoreOps(_ saveables: [Saveable], from prefix: Output) -> [Operation] {
        let graph = prefix.graph
        let restore = graph.addOperation(
            "RestoreV2",
            inputs: [
                prefix, stringConstant(saveables.map(\.name), name: "RestoreV2/tensor_names"),
                stringConstant(saveables.map { _ in "" }, name: "RestoreV2/shape_and_slices"),
            ],
            attributes: ["dtypes": .types(saveables.map(\.dtype))]
        )
        return saveables.enumerated().map { index, saveable in saveable.assign(restore.output(index)) }
    }

    /// One checkpoint written by one `SaveV2`.
    private static func build(_ saveables: [Saveable], _ filename: Output) -> (save: Output, restore: Operation) {
        let save = saveOps(saveables, to: filename).written
        return (save, group(restoreOps(saveables, from: filename), name: "restore_all"))
    }

    /// A shard per device under `PREFIX_temp/part`, each written on its device, then merged
    /// into `PREFIX` on the last device; each device restores its own variables.
    private static func buildSharded(_ saveables: [Saveable], _ filename: Output) -> (save: Output, restore: Operation)
    {
        let graph = filename.graph
        let devices = Dictionary(grouping: saveables, by: \.device).sorted { $0.key < $1.key }
        let temporary = graph.addOperation(
            "StringJoin",
            inputs: [filename, stringConstant(["_temp/part"], shape: .scalar, name: "Const")],
            attributes: ["N": .int(2), "separator": .string("")]
        ).output()
        let count = constant(Int32(devices.count), name: "num_shards")
        var shards: [(prefix: Output, save: Operation)] = []
        var restores: [Operation] = []
        for (index, (device, group)) in devices.enumerated() {
            // A device string names where the shard is written; colocating with the group's
            // first variable keeps it there also when the variables are placed by a strategy.
            graph.device(device) {
                graph.colocate(with: group[0].node) {
                    let prefix = graph.addOperation(
                        "ShardedFilename",
                        inputs: [temporary, constant(Int32(index), name: "ShardedFilename/shard"), count]
                    ).output()
                    let written = saveOps(group, to: prefix)
                    shards.append((written.written, written.save))
                    restores.append(Weft.group(restoreOps(group, from: filename), name: "restore_shard"))
                }
            }
        }
        let lastDevice = devices.last?.key ?? ""
        let merged = graph.controlDependencies(on: shards.map(\.save)) {
            graph.device(lastDevice) {
                let prefixes = graph.addOperation(
                    "Pack",
                    inputs: shards.map(\.prefix),
                    attributes: ["T": .type(.string), "N": .int(shards.count), "axis": .int(0)]
                ).output()
                let merge = graph.addOperation(
                    "MergeV2Checkpoints",
                    inputs: [prefixes, filename],
                    attributes: ["delete_old_dirs": .bool(true), "allow_missing_files": .bool(false)]
                )
                return graph.controlDependencies(on: [merge]) { identity(filename) }
            }
        }
        return (merged, group(restores, name: "restore_all"))
    }

    // MARK: - Files

    /// Python's `os.path.dirname`: the part before the last `/` (trailing slashes dropped
    /// unless it is the root), `""` for a bare name.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        let head = path[...slash]
        let trimmed = head.reversed().drop { $0 == "/" }
        return trimmed.isEmpty ? String(head) : String(trimmed.reversed())
    }

    /// Deletes a V2 checkpoint: its index, data files and meta graph; failures are ignored, as
    /// TensorFlow does, since a checkpoint deleted by hand must not stop training.
    static func removeCheckpoint(_ prefix: String) {
        let manager = FileManager.default
        let directory = Self.directory(of: prefix)
        let base = prefix.lastIndex(of: "/").map { String(prefix[prefix.index(after: $0)...]) } ?? prefix
        let files = (try? manager.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)) ?? []
        for file in files where file == base + ".index" || file == base + ".meta" || file.hasPrefix(base + ".data-") {
            try? manager.removeItem(atPath: CheckpointState.joined(directory, file))
        }
    }
}

/// A string constant of `strings`, shaped as a vector unless `shape` says otherwise.
func stringConstant(_ strings: [String], shape: TensorShape? = nil, name: String) -> Output {
    do {
        return constant(try Tensor(strings: strings, shape: shape ?? TensorShape([strings.count])), name: name)
    } catch {
        Graph.current.recordError(error)
        return constant(Float.nan, name: name)
    }
}

extension Tensorflow_AttrValue {
    /// A list of types, as `SaveV2`'s `dtypes`.
    static func types(_ dtypes: [DType]) -> Self { with { $0.list.type = dtypes.map(\.proto) } }
}
