import ArgumentParser
import Foundation
import Weft
import WeftRuntime

/// `weft checkpoint`: tools for TensorFlow V2 checkpoints.
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Work with TensorFlow V2 checkpoints (tensor bundles), as Weft's and TensorFlow's Savers write them.",
        subcommands: [InspectCheckpointCommand.self]
    )
}

/// `weft checkpoint inspect PATH`: every tensor of a checkpoint with its dtype, shape and
/// CRC-32C, like TensorFlow's `tf.train.list_variables` with the bundle's checksums.
struct InspectCheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "List every tensor of a checkpoint: name, dtype, shape, size and CRC-32C.",
        discussion: """
            PATH is a checkpoint prefix (model-1000, whose files are model-1000.index and \
            model-1000.data-*), its .index file, or a directory, whose 'checkpoint' state file \
            names the latest checkpoint.
            """
    )

    @Argument(help: "A checkpoint prefix, its .index file, or a directory with a 'checkpoint' state file.")
    var path: String

    @Flag(help: "Read every tensor and check its bytes against the checksum (fails on the first mismatch).")
    var verify = false

    func run() throws {
        let prefix = try Self.prefix(of: path)
        let reader = try TensorBundle.Reader(prefix: prefix)
        let rows = reader.summaries
        let sharded = reader.header.numShards > 1
        let table = rows.map { row in
            [
                row.name, row.dtype?.name ?? "unknown", row.shape?.description ?? "invalid", "\(row.size) bytes",
            ] + (sharded ? ["shard \(row.shard)"] : []) + ["crc32c=" + Self.hex(row.crc32c)]
        }
        let columns = table.first?.count ?? 0
        let widths = (0..<columns).map { column in table.map { $0[column].count }.max() ?? 0 }
        say("checkpoint \(prefix)")
        for (row, cells) in zip(rows, table) {
            // Every column padded to its widest cell but the last.
            let padded = zip(cells, widths).dropLast().map { $0 + String(repeating: " ", count: $1 - $0.count) }
            say((padded + cells.suffix(1)).joined(separator: "  "))
            if verify { _ = try reader.tensor(row.name) }
        }
        let bytes = rows.reduce(0) { $0 + $1.size }
        let checked = verify ? ", every checksum verified" : ""
        say("\(rows.count) tensors, \(bytes) bytes in \(reader.header.numShards) shard(s)\(checked)")
    }

    /// The checkpoint prefix `path` names.
    static func prefix(of path: String) throws -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            guard let latest = latestCheckpoint(in: path) else {
                throw ValidationError(
                    "\(path) is a directory without a 'checkpoint' state file naming an existing checkpoint"
                )
            }
            return latest
        }
        return path.hasSuffix(".index") ? String(path.dropLast(".index".count)) : path
    }

    /// `0x` and eight hexadecimal digits.
    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
