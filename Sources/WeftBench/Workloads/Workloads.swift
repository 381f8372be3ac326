import Weft
import WeftRuntime

/// Preset sizes of the generated workloads: `small` runs in milliseconds (tests, smoke runs),
/// `medium` gives steps worth measuring on a cluster, `large` is about 100,000 nodes for
/// `--planning-only` (it runs, but slowly).
public enum WorkloadSize: String, Sendable, CaseIterable {
    /// Tens of nodes, tiny tensors.
    case small
    /// Hundreds to thousands of nodes, tensors of kilobytes to megabytes.
    case medium
    /// About 100,000 nodes, tiny tensors.
    case large
}

/// The generated workloads by name, with their knobs.
public enum Workloads {
    /// One size knob of a generator, with its value at each preset size.
    public struct Knob: Sendable {
        /// The knob's name (`length`).
        public var name: String
        /// What it changes.
        public var help: String
        /// Its value at `small`, `medium` and `large`.
        public var presets: [WorkloadSize: Int]
    }

    /// A generator: its name, knobs, and how to make a workload from knob values and a seed.
    public struct Kind: Sendable {
        /// The name users select it by.
        public var name: String
        /// One line saying what it builds.
        public var summary: String
        /// Its size knobs.
        public var knobs: [Knob]
        /// Makes the workload; every knob has a value.
        public var make: @Sendable (_ knobs: [String: Int], _ seed: UInt64) -> Workload
    }

    /// Every generator, in the order reports list them.
    public static let catalog: [Kind] = [chainKind, fanoutKind, mlpKind, transformerKind, randomDAGKind]

    /// The generator named `name`, or an `invalidArgument` listing the names there are.
    public static func kind(named name: String) throws(WeftError) -> Kind {
        guard let kind = catalog.first(where: { $0.name == name }) else {
            let names = catalog.map(\.name).joined(separator: ", ")
            throw WeftError(.invalidArgument, "there is no workload '\(name)'; choose among: \(names)")
        }
        return kind
    }

    /// The workload `name` at `size`, with knobs in `overrides` (`length: 5000`) replacing the
    /// preset's values.
    public static func named(
        _ name: String,
        size: WorkloadSize,
        overrides: [String: Int] = [:],
        seed: UInt64
    ) throws(WeftError) -> Workload {
        let kind = try kind(named: name)
        var values: [String: Int] = [:]
        for knob in kind.knobs { values[knob.name] = knob.presets[size] }
        for (knob, value) in overrides {
            guard values[knob] != nil else {
                let known = kind.knobs.map(\.name).joined(separator: ", ")
                throw WeftError(.invalidArgument, "workload '\(name)' has no knob '\(knob)'; its knobs are: \(known)")
            }
            guard value > 0 else {
                throw WeftError(.invalidArgument, "\(name).\(knob) must be positive, not \(value)")
            }
            values[knob] = value
        }
        return kind.make(values, seed)
    }

    static func knob(_ name: String, _ help: String, _ small: Int, _ medium: Int, _ large: Int) -> Knob {
        Knob(name: name, help: help, presets: [.small: small, .medium: medium, .large: large])
    }

    static let chainKind = Kind(
        name: "chain",
        summary: "a deep pipeline of additions",
        knobs: [
            knob("length", "additions in a row", 50, 2_000, 100_000),
            knob("width", "floats per tensor", 16, 4_096, 16),
        ]
    ) { k, seed in chain(length: k["length"]!, width: k["width"]!, seed: seed) }

    static let fanoutKind = Kind(
        name: "fanout",
        summary: "independent branches, then a tree of additions",
        knobs: [
            knob("branches", "parallel branches", 8, 64, 20_000),
            knob("depth", "multiplications per branch", 2, 8, 3),
            knob("width", "floats per tensor", 16, 16_384, 16),
        ]
    ) { k, seed in fanout(branches: k["branches"]!, depth: k["depth"]!, width: k["width"]!, seed: seed) }

    static let mlpKind = Kind(
        name: "mlp",
        summary: "dense layers with weights in variables (parameter-server style)",
        knobs: [
            knob("layers", "dense layers", 3, 8, 9_100),
            knob("width", "units per layer", 16, 512, 4),
            knob("batch", "rows per step", 4, 64, 2),
        ]
    ) { k, seed in mlp(layers: k["layers"]!, width: k["width"]!, batch: k["batch"]!, seed: seed) }

    static let transformerKind = Kind(
        name: "transformer",
        summary: "blocks of attention heads and feed-forward MatMuls",
        knobs: [
            knob("blocks", "transformer blocks", 1, 4, 794),
            knob("model", "model width (a multiple of heads)", 16, 256, 8),
            knob("heads", "attention heads per block", 2, 4, 4),
            knob("sequence", "sequence length", 8, 64, 4),
        ]
    ) { k, seed in
        transformer(blocks: k["blocks"]!, model: k["model"]!, heads: k["heads"]!, sequence: k["sequence"]!, seed: seed)
    }
}
