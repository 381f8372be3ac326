import Foundation
import Weft
import WeftCluster
import WeftProto
import WeftRuntime
import WeftTransport

/// The inputs from outside that Weft is fuzzed on, each entered exactly as a process meets it.
/// A refusal (a thrown `WeftError`) is the expected outcome for most inputs; a trap, a hang or
/// a memory error is a bug. The libFuzzer executables (`scripts/fuzz`) and the corpus replay
/// call these same entries.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A request as a worker's ROUTER receives it: frames → envelope, sizes, tensors, the
    /// body check, and for a `RegisterPartition` the plan the worker would build.
    case wireMessage = "wire-message"
    /// A GraphDef as a session loads it: text or binary (the first byte chooses), into a
    /// `Graph`, then planned as a step that runs every node (constant folding included).
    case graphDef = "graphdef"
    /// A serialized `RegisterPartition` body, planned as a worker registers it.
    case partition = "partition"

    /// The memory budget a fuzzing process runs with, as a worker started with
    /// `--memory-limit 256MiB` would: a graph or message that asks for more is refused, and the
    /// fuzzer's own memory limit is never the one that stops it.
    public static let memoryLimit = 256 << 20

    /// Feeds one input to the target. Never throws: whatever Weft refuses is refused cleanly.
    public func run(_ input: [UInt8]) {
        switch self {
        case .wireMessage: Self.receiveRequest(input)
        case .graphDef: Self.loadGraphDef(input)
        case .partition: Self.registerPartition(input)
        }
    }

    /// libFuzzer's call: the input as bytes libFuzzer owns, run under the fuzzing budget.
    public func fuzz(_ data: UnsafePointer<UInt8>?, _ count: Int) {
        if TensorMemory.limit != Self.memoryLimit { TensorMemory.setLimit(Self.memoryLimit) }
        run(data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
    }

    private static func receiveRequest(_ input: [UInt8]) {
        guard let message = try? WireMessage(requestFrames: FrameFormat.frames(input)) else { return }
        if case .registerPartition(let body)? = message.envelope.body {
            _ = try? PartitionRegistration(body)
        }
    }

    private static func loadGraphDef(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        let rest = input.dropFirst()
        let graphDef: Tensorflow_GraphDef
        do {
            if mode & 1 == 0 {
                graphDef = try Tensorflow_GraphDef(serializedBytes: Array(rest))
            } else {
                graphDef = try Tensorflow_GraphDef(tensorFlowText: String(decoding: rest, as: UTF8.self))
            }
        } catch {
            return
        }
        // As `Session(graph:)` meets it: the graph loads whole or not at all, then a step's plan.
        guard (try? Graph(graphDef: graphDef)) != nil else { return }
        guard
            let runtime = try? RuntimeGraph(
                nodes: graphDef.node,
                functions: FunctionLibrary(nonEmpty: graphDef.library),
                lowersLoops: true
            )
        else { return }
        _ = try? StepPlan(graph: runtime, feeds: [], fetches: [], targets: graphDef.node.map(\.name))
    }

    private static func registerPartition(_ input: [UInt8]) {
        guard let body = try? Weft_RegisterPartition(serializedBytes: input) else { return }
        _ = try? PartitionRegistration(body)
    }
}

/// How a fuzz input of the `wire-message` target holds a multipart message: each frame as a
/// 4-byte little-endian length and its bytes; a length past the end takes what is left.
public enum FrameFormat {
    /// The frames of `input`.
    public static func frames(_ input: [UInt8]) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        var offset = 0
        while offset < input.count {
            var length = 0
            for shift in 0..<4 where offset < input.count {
                length |= Int(input[offset]) << (8 * shift)
                offset += 1
            }
            let end = min(input.count, offset + length)
            frames.append(Array(input[offset..<end]))
            offset = end
        }
        return frames
    }

    /// The input that holds `frames`.
    public static func input(_ frames: [[UInt8]]) -> [UInt8] {
        var input: [UInt8] = []
        for frame in frames {
            let length = UInt32(truncatingIfNeeded: frame.count)
            input += (0..<4).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }
            input += frame
        }
        return input
    }
}
