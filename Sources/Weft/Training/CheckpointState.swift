import Foundation
import WeftProto
import WeftRuntime

/// The `checkpoint` file beside a Saver's checkpoints: TensorFlow's `CheckpointState` in
/// protobuf text format, naming the newest checkpoint and every one still kept, oldest first.
/// TensorFlow's `tf.train.latest_checkpoint` reads what Weft writes, and Weft reads TensorFlow's.
public struct CheckpointState: Sendable, Hashable {
    /// The newest checkpoint's prefix.
    public var modelCheckpointPath: String
    /// The prefixes of the checkpoints kept, oldest first; the last is `modelCheckpointPath`.
    public var allModelCheckpointPaths: [String]

    /// The state file of `directory` (TensorFlow's default `latest_filename` is `checkpoint`).
    public static func path(in directory: String, latestFilename: String = "checkpoint") -> String {
        joined(directory, latestFilename)
    }

    /// `directory/name`, or `name` for an empty directory: Python's `os.path.join`.
    static func joined(_ directory: String, _ name: String) -> String {
        directory.isEmpty ? name : (directory.hasSuffix("/") ? directory : directory + "/") + name
    }

    /// Reads the state file of `directory`; relative prefixes are taken relative to it, as
    /// TensorFlow's `get_checkpoint_state` does. `nil` when there is no state file.
    public static func read(in directory: String, latestFilename: String = "checkpoint") throws(WeftError) -> Self? {
        let file = path(in: directory, latestFilename: latestFilename)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        let proto: Tensorflow_CheckpointState
        do {
            proto = try Tensorflow_CheckpointState(textFormatString: String(contentsOfFile: file, encoding: .utf8))
        } catch {
            throw WeftError(.dataLoss, "\(file) is not a CheckpointState in text format: \(error)")
        }
        guard !proto.modelCheckpointPath.isEmpty else {
            throw WeftError(.dataLoss, "Invalid checkpoint state loaded from \(directory): no model_checkpoint_path")
        }
        func resolved(_ prefix: String) -> String {
            prefix.hasPrefix("/") ? prefix : joined(directory, prefix)
        }
        return CheckpointState(
            modelCheckpointPath: resolved(proto.modelCheckpointPath),
            allModelCheckpointPaths: proto.allModelCheckpointPaths.map(resolved)
        )
    }

    /// Writes this state as the state file of `directory`, atomically. Relative prefixes are
    /// written relative to a relative `directory`, as TensorFlow's
    /// `update_checkpoint_state` does, so the directory can move.
    public func write(in directory: String, latestFilename: String = "checkpoint") throws(WeftError) {
        let file = Self.path(in: directory, latestFilename: latestFilename)
        var paths = allModelCheckpointPaths
        if paths.last != modelCheckpointPath { paths.append(modelCheckpointPath) }
        let relative = !directory.hasPrefix("/")
        func stored(_ prefix: String) -> String {
            relative && !prefix.hasPrefix("/") ? Self.relativePath(prefix, from: directory) : prefix
        }
        var proto = Tensorflow_CheckpointState()
        proto.modelCheckpointPath = stored(modelCheckpointPath)
        proto.allModelCheckpointPaths = paths.map(stored)
        guard proto.modelCheckpointPath != file else {
            throw WeftError(
                .invalidArgument,
                "Save path '\(modelCheckpointPath)' conflicts with path used for checkpoint state.  Please use a different save path."
            )
        }
        do {
            try Data(proto.textFormatString().utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
        } catch {
            throw WeftError(.unknown, "cannot write the checkpoint state \(file): \(error.localizedDescription)")
        }
    }

    /// `path` relative to `directory`, both relative to the same place: Python's
    /// `os.path.relpath`, with `..` where `path` is outside `directory`.
    static func relativePath(_ path: String, from directory: String) -> String {
        func parts(_ text: String) -> [String] {
            text.split(separator: "/").map(String.init).filter { $0 != "." }
        }
        let target = parts(path)
        let base = parts(directory)
        var common = 0
        while common < min(target.count, base.count) && target[common] == base[common] { common += 1 }
        let result = Array(repeating: "..", count: base.count - common) + target[common...]
        return result.isEmpty ? "." : result.joined(separator: "/")
    }
}

/// The newest checkpoint that the state file of `directory` names and that exists (its
/// `.index`, or a V1 checkpoint's file), as TensorFlow's `tf.train.latest_checkpoint`;
/// `nil` when there is none or the state file cannot be read.
public func latestCheckpoint(in directory: String, latestFilename: String = "checkpoint") -> String? {
    guard let state = try? CheckpointState.read(in: directory, latestFilename: latestFilename) else { return nil }
    let prefix = state.modelCheckpointPath
    let manager = FileManager.default
    guard manager.fileExists(atPath: TensorBundle.indexPath(prefix)) || manager.fileExists(atPath: prefix) else {
        return nil
    }
    return prefix
}
