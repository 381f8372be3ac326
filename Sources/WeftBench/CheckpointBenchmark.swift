import Foundation
import Weft
import WeftCluster
import WeftRuntime

/// `weft bench checkpoint`: float32 variables of a given total size saved with `Saver` (V2
/// tensor bundle) and restored, in one process or on a cluster where each worker writes the
/// shard of its own variables. The files go through the page cache and are not synced, as
/// TensorFlow's `SaveV2` does not sync them either; the figures are the writers' and readers'
/// speed, not the disk's.
public enum CheckpointBenchmark {
    /// What to save.
    public struct Setup: Sendable {
        /// Total bytes of all variables.
        public var bytes: Int
        /// How many variables share them.
        public var variables: Int
        /// Saves and restores timed (one each per round).
        public var rounds: Int
        /// Where checkpoints go; a new temporary folder, removed afterwards, when `nil`.
        public var directory: String?
        /// Workers of a local cluster each holding a share of the variables; 0 saves in this process.
        public var workers: Int

        /// The setup of `variables` variables of `bytes` in all.
        public init(bytes: Int, variables: Int, rounds: Int, directory: String?, workers: Int) {
            self.bytes = bytes
            self.variables = variables
            self.rounds = rounds
            self.directory = directory
            self.workers = workers
        }
    }

    /// The report of one run.
    public struct Report: Sendable {
        /// Bytes saved and restored per round (whole float32 elements).
        public var bytes: Int
        /// Seconds per save.
        public var save: Statistics
        /// Seconds per restore.
        public var restore: Statistics
        /// Processes writing in parallel (1 without a cluster).
        public var writers: Int
        /// Save speed at the median, bytes per second per writer.
        public var saveRate: Double { Double(bytes) / Double(writers) / save.median }
        /// Restore speed at the median, bytes per second per writer.
        public var restoreRate: Double { Double(bytes) / Double(writers) / restore.median }
    }

    /// Builds the variables, initializes them once, then saves and restores `rounds` times.
    /// `executable` is the `weft` binary the cluster's processes run (with `workers > 0`).
    public static func run(_ setup: Setup, executable: URL) throws -> Report {
        let elements = setup.bytes / 4 / setup.variables
        let graph = Graph()
        let (saver, variables) = try graph.asDefault { () throws -> (Saver, [(Variable, Output)]) in
            let variables = (0..<setup.variables).map { index in
                let place = setup.workers > 0 ? "/job:worker/task:\(index % setup.workers)" : ""
                return graph.device(place) { variable(index, elements: elements) }
            }
            let saver = try Saver(variables: variables.map(\.0), graph: graph, sharded: setup.workers > 0, maxToKeep: 0)
            return (saver, variables)
        }
        let folder = try setup.directory ?? temporaryFolder()
        defer { if setup.directory == nil { try? FileManager.default.removeItem(atPath: folder) } }
        let prefix = folder + "/model.ckpt"

        let cluster =
            setup.workers > 0
            ? try ProcessCluster(executable: executable, jobs: JobCounts(parsing: "worker=\(setup.workers)")) : nil
        defer { cluster?.stop() }
        let session = try cluster.map { try Session(target: $0.address, graph: graph) } ?? Session(graph: graph)
        defer { session.close() }
        for (index, (variable, value)) in variables.enumerated() {
            try session.run(variable.initializer, feeding: [value: try values(index, elements: elements)])
        }

        var saves: [Double] = []
        var restores: [Double] = []
        for _ in 0..<setup.rounds {
            saves.append(try seconds { try saver.save(session, to: prefix, writeState: false) })
            restores.append(try seconds { try saver.restore(session, from: prefix) })
        }
        return Report(
            bytes: elements * 4 * setup.variables,
            save: Statistics(saves),
            restore: Statistics(restores),
            writers: max(1, min(setup.workers, setup.variables))
        )
    }

    /// A float32 vector variable, initialized from a placeholder made where it lives (so a
    /// gigabyte never sits in the graph).
    private static func variable(_ index: Int, elements: Int) -> (Variable, Output) {
        let value = placeholder(.float, shape: [elements], name: "v\(index)_value")
        return (Variable(initialValue: value, shape: [elements], name: "v\(index)"), value)
    }

    /// Distinct, non-trivial values for variable `index` (the bytes' content does not change
    /// the work, but zeros could hide a bug that drops them).
    private static func values(_ index: Int, elements: Int) throws(WeftError) -> Tensor {
        var state = UInt32(truncatingIfNeeded: index &* 2_654_435_761 | 1)
        let floats = (0..<elements).map { _ in
            state = state &* 1_664_525 &+ 1_013_904_223
            return Float(state >> 8) / Float(1 << 24)
        }
        return try Tensor(floats, shape: [elements])
    }

    private static func temporaryFolder() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("weft-checkpoint-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        return url.path
    }

    private static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }
}
