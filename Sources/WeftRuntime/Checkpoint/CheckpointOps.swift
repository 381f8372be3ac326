import WeftProto

/// The ops of `tf.compat.v1.train.Saver`: `SaveV2`, `RestoreV2`, `MergeV2Checkpoints` and the
/// file-name ops of sharded saving, `ShardedFilename` and `ShardedFilespec`.
enum CheckpointOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [saveV2, restoreV2, mergeV2Checkpoints, shardedFilename, shardedFilespec]

    /// `SaveV2`: writes the tensors under their names to a new checkpoint at the prefix.
    private static let saveV2 = OpDefinition(
        "SaveV2",
        inputCount: nil,
        isStateful: true,
        outputTypes: OpDefinition.noOutputs,
        makeKernel: { _ throws(WeftError) in
            ClosureKernel { context throws(WeftError) in
                guard context.inputs.count >= 3 else {
                    throw .invalidArgument("SaveV2 takes a prefix, names, slices and tensors", node: context.node)
                }
                let prefix = try scalarString(try context.input(0), "prefix", node: context.node)
                let names = try stringVector(try context.input(1), "tensor_names", node: context.node)
                let slices = try stringVector(try context.input(2), "shape_and_slices", node: context.node)
                let count = context.inputs.count - 3
                guard names.count == count else {
                    throw .invalidArgument("Expected \(names.count) tensors, got \(count)", node: context.node)
                }
                try checkFullSlices(slices, count: count, node: context.node)
                do throws(WeftError) {
                    try save(prefix: prefix, names: names, context: context)
                } catch {
                    throw WeftError(error.code, "\(error.message) (node '\(context.node)')")
                }
                return []
            }
        }
    )

    /// Writes `SaveV2`'s tensors, deleting the partial data file when one cannot be written.
    private static func save(prefix: String, names: [String], context: OpKernelContext) throws(WeftError) {
        var writer = try TensorBundle.Writer(prefix: prefix)
        do throws(WeftError) {
            for (index, name) in names.enumerated() { try writer.add(name, try context.input(3 + index)) }
            try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// `RestoreV2`: reads the named tensors of a checkpoint, checking each saved dtype.
    private static let restoreV2 = OpDefinition(
        "RestoreV2",
        inputCount: 3,
        isStateful: true,
        outputTypes: { node, _ throws(WeftError) in try dtypes(node).map { OutputType($0) } },
        makeKernel: { node throws(WeftError) in
            let types = try dtypes(node)
            return ClosureKernel { context throws(WeftError) in
                let prefix = try scalarString(try context.input(0), "prefix", node: context.node)
                let names = try stringVector(try context.input(1), "tensor_names", node: context.node)
                let slices = try stringVector(try context.input(2), "shape_and_slices", node: context.node)
                guard names.count == types.count else {
                    throw .invalidArgument(
                        "Mismatch between the number of tensor names (\(names.count)) and dtypes (\(types.count))",
                        node: context.node
                    )
                }
                try checkFullSlices(slices, count: names.count, node: context.node)
                do throws(WeftError) {
                    let reader = try TensorBundle.Reader(prefix: prefix)
                    var outputs: [Value] = []
                    for (name, (dtype, tensor)) in zip(names, zip(types, try reader.tensors(names))) {
                        guard tensor.dtype == dtype else {
                            throw WeftError(
                                .invalidArgument,
                                "tensor_name = \(name); expected dtype \(dtype) does not equal restored dtype \(tensor.dtype)"
                            )
                        }
                        outputs.append(.tensor(tensor))
                    }
                    return outputs
                } catch {
                    throw WeftError(error.code, "\(error.message) (node '\(context.node)')")
                }
            }
        }
    )

    /// `MergeV2Checkpoints`: joins the one-shard checkpoints of a sharded save into one
    /// checkpoint at the destination, renaming their data files and deleting their indexes.
    private static let mergeV2Checkpoints = OpDefinition(
        "MergeV2Checkpoints",
        inputCount: 2,
        isStateful: true,
        outputTypes: OpDefinition.noOutputs,
        makeKernel: { node throws(WeftError) in
            let deleteOldDirectories = try node.attributes.bool("delete_old_dirs", default: true)
            let allowMissing = try node.attributes.bool("allow_missing_files", default: false)
            return ClosureKernel { context throws(WeftError) in
                let sources = try context.input(0)
                guard sources.dtype == .string, sources.shape.rank == 1 else {
                    throw .invalidArgument(
                        "Input checkpoint_prefixes should be an 1-D tensor, got \(sources.shape) instead.",
                        node: context.node
                    )
                }
                let destination = try scalarString(try context.input(1), "destination_prefix", node: context.node)
                do throws(WeftError) {
                    try merge(
                        sources.strings.map { String(decoding: $0, as: UTF8.self) },
                        into: destination,
                        allowMissing: allowMissing
                    )
                } catch {
                    throw WeftError(error.code, "\(error.message) (node '\(context.node)')")
                }
                if deleteOldDirectories {
                    for source in sources.strings {
                        // Best effort, as TensorFlow: the directory may hold other files.
                        _ = CheckpointFile.removeDirectory(
                            CheckpointFile.parent(of: String(decoding: source, as: UTF8.self))
                        )
                    }
                }
                return []
            }
        }
    )

    /// Moves every source's data files to the destination's names, renumbering shards in
    /// source order, then writes the merged index and deletes the sources' indexes.
    static func merge(_ sources: [String], into destination: String, allowMissing: Bool) throws(WeftError) {
        var readers: [TensorBundle.Reader] = []
        for source in sources {
            if allowMissing && !CheckpointFile.exists(TensorBundle.indexPath(source)) { continue }
            readers.append(try TensorBundle.Reader(prefix: source))
        }
        guard !readers.isEmpty else {
            throw WeftError(.invalidArgument, "Merging checkpoints needs at least one existing checkpoint prefix")
        }
        let total = readers.reduce(0) { $0 + Int($1.header.numShards) }
        // Shard ids are int32 in the index: the merged bundle cannot have more shards.
        guard total <= Int(Int32.max) else {
            throw WeftError(.invalidArgument, "Merging \(total) checkpoint shards: more than an index can number")
        }
        var entries: [String: Tensorflow_BundleEntryProto] = [:]
        var firstShard = 0
        for reader in readers {
            for (name, entry) in reader.entries {
                guard entries[name] == nil else {
                    throw WeftError(
                        .invalidArgument,
                        "Duplicate tensor keyed by \(name) encountered, when merging prefix: \(reader.prefix)"
                    )
                }
                guard entry.shardID >= 0, entry.shardID < reader.header.numShards else {
                    throw WeftError(
                        .dataLoss,
                        "checkpoint \(reader.prefix), tensor '\(name)': bad shard \(entry.shardID)"
                    )
                }
                var moved = entry
                moved.shardID = entry.shardID + Int32(truncatingIfNeeded: firstShard)  // below `total`, checked
                entries[name] = moved
            }
            firstShard += Int(reader.header.numShards)
        }
        try CheckpointFile.createDirectory(CheckpointFile.parent(of: destination))
        firstShard = 0
        for reader in readers {
            let shards = Int(reader.header.numShards)
            for shard in 0..<shards {
                try CheckpointFile.replace(
                    TensorBundle.dataPath(reader.prefix, shard: shard, of: shards),
                    TensorBundle.dataPath(destination, shard: firstShard + shard, of: total)
                )
            }
            firstShard += shards
        }
        try TensorBundle.writeIndex(prefix: destination, header: TensorBundle.header(shards: total), entries: entries)
        for reader in readers where reader.prefix != destination {
            try CheckpointFile.delete(TensorBundle.indexPath(reader.prefix))
        }
    }

    /// `ShardedFilename`: `BASENAME-SSSSS-of-NNNNN`.
    private static let shardedFilename = OpDefinition(
        "ShardedFilename",
        inputCount: 3,
        isExpensive: false,
        outputTypes: { _, _ in [OutputType(.string)] },
        makeKernel: { _ throws(WeftError) in
            ClosureKernel { context throws(WeftError) in
                let basename = try scalarString(try context.input(0), "basename", node: context.node)
                let shard = try scalarInt32(try context.input(1), "shard", node: context.node)
                let shards = try scalarInt32(try context.input(2), "num_shards", node: context.node)
                let name = basename + "-" + TensorBundle.padded(shard) + "-of-" + TensorBundle.padded(shards)
                return [.tensor(try Tensor(strings: [name], shape: .scalar))]
            }
        }
    )

    /// `ShardedFilespec`: `BASENAME-?????-of-NNNNN`, the glob of every shard.
    private static let shardedFilespec = OpDefinition(
        "ShardedFilespec",
        inputCount: 2,
        isExpensive: false,
        outputTypes: { _, _ in [OutputType(.string)] },
        makeKernel: { _ throws(WeftError) in
            ClosureKernel { context throws(WeftError) in
                let basename = try scalarString(try context.input(0), "basename", node: context.node)
                let shards = try scalarInt32(try context.input(1), "num_shards", node: context.node)
                let spec = basename + "-?????-of-" + TensorBundle.padded(shards)
                return [.tensor(try Tensor(strings: [spec], shape: .scalar))]
            }
        }
    )

    /// The `dtypes` list attribute of `RestoreV2`.
    private static func dtypes(_ node: NodeInfo) throws(WeftError) -> [DType] {
        guard case .list(let list)? = node.attributes.values["dtypes"]?.value else {
            throw WeftError(.invalidArgument, "NodeDef '\(node.name)' is missing attr 'dtypes'")
        }
        var types: [DType] = []
        for proto in list.type { types.append(try DType(proto)) }
        return types
    }

    /// Refuses slice specs: Weft saves and restores whole tensors only.
    private static func checkFullSlices(_ slices: [String], count: Int, node: String) throws(WeftError) {
        guard slices.count == count else {
            throw .invalidArgument(
                "shape_and_slices has \(slices.count) elements, expected \(count), one per tensor name",
                node: node
            )
        }
        if let spec = slices.first(where: { !$0.isEmpty }) {
            throw WeftError(
                .unimplemented,
                "partitioned tensors (shape_and_slices '\(spec)') are not supported: Weft saves and restores whole tensors (node '\(node)')"
            )
        }
    }

    private static func scalarString(_ tensor: Tensor, _ what: String, node: String) throws(WeftError) -> String {
        guard tensor.dtype == .string, tensor.elementCount == 1, let value = tensor.strings.first else {
            throw .invalidArgument(
                "Input \(what) should be a scalar string, got \(tensor.dtype) of shape \(tensor.shape)",
                node: node
            )
        }
        return String(decoding: value, as: UTF8.self)
    }

    private static func stringVector(_ tensor: Tensor, _ what: String, node: String) throws(WeftError) -> [String] {
        guard tensor.dtype == .string, tensor.shape.rank == 1 else {
            throw .invalidArgument(
                "Input \(what) should be a 1-D string tensor, got \(tensor.dtype) of shape \(tensor.shape)",
                node: node
            )
        }
        return tensor.strings.map { String(decoding: $0, as: UTF8.self) }
    }

    private static func scalarInt32(_ tensor: Tensor, _ what: String, node: String) throws(WeftError) -> Int {
        guard tensor.dtype == .int32, tensor.elementCount == 1, let value = tensor.scalar(as: Int32.self) else {
            throw .invalidArgument(
                "Input \(what) should be an int32 scalar, got \(tensor.dtype) of shape \(tensor.shape)",
                node: node
            )
        }
        return Int(value)
    }
}
