import Foundation
import WeftCluster
import WeftProto
import WeftRuntime
import WeftTransport

/// The inputs a corpus starts from: real messages as the cluster sends them, and the
/// conformance GraphDefs that TensorFlow wrote.
enum FuzzSeeds {
    /// The longest input `scripts/fuzz` gives a target (`-max_len`).
    static let maximumLength = 65_536

    /// Named seed inputs for `target`; `conformance` is the folder of conformance cases.
    static func inputs(for target: FuzzTarget, conformance: URL) -> [(String, [UInt8])] {
        switch target {
        case .graphDef: graphDefs(conformance)
        case .partition: partitions(conformance).map { ($0.0, (try? $0.1.serializedBytes()) ?? []) }
        case .wireMessage: messages(conformance)
        }
    }

    /// Each conformance case's GraphDef as TensorFlow wrote it, and in the other form; graphs
    /// past the fuzzing length (frozen models) are left out.
    private static func graphDefs(_ conformance: URL) -> [(String, [UInt8])] {
        cases(conformance).flatMap { name, graph, _ -> [(String, [UInt8])] in
            var seeds: [(String, [UInt8])] = []
            if let binary: [UInt8] = try? graph.serializedBytes() { seeds.append(("\(name)-binary", [0] + binary)) }
            let text = conformance.appendingPathComponent("\(name).pbtxt")
            if let data = FileManager.default.contents(atPath: text.path) {
                seeds.append(("\(name)-text", [1] + Array(data)))
            }
            return seeds.filter { $0.1.count <= maximumLength }
        }
    }

    /// A partition per conformance case: its whole graph, with the first step's feeds,
    /// fetches and targets, as the coordinator registers it on a single worker.
    private static func partitions(_ conformance: URL) -> [(String, Weft_RegisterPartition)] {
        cases(conformance).map { name, graph, step in
            (
                name,
                Weft_RegisterPartition.with {
                    $0.handle = "p1"
                    $0.graph = graph
                    $0.feeds = step.feeds
                    $0.fetches = step.fetches
                    $0.targets = step.targets
                    $0.device = "/job:worker/task:0"
                    $0.peers = [
                        .with {
                            $0.device = "/job:worker/task:1"
                            $0.address = "tcp://127.0.0.1:7072"
                        }
                    ]
                }
            )
        }
    }

    /// One message of each kind a worker or coordinator receives, with tensors of fixed-size
    /// and string dtypes, and a few partitions as the coordinator registers them.
    private static func messages(_ conformance: URL) -> [(String, [UInt8])] {
        let floats = (try? Tensor([Float](arrayLiteral: 1, 2, 3, 4, 5, 6), shape: [2, 3])) ?? Tensor(Float(0))
        let strings = (try? Tensor(strings: ["weft", "", "tensor"], shape: [3])) ?? Tensor(Float(0))
        func envelope(_ kind: MessageKind, _ configure: (inout Weft_Envelope) -> Void = { _ in }) -> Weft_Envelope {
            var envelope = Weft_Envelope()
            envelope.body = kind.emptyBody
            envelope.requestID = 7
            envelope.session = "5f0c2a9e4b1d4c7f8a6e3b2d1c0f9e8d"
            envelope.step = 3
            configure(&envelope)
            return envelope
        }
        var messages: [(String, WireMessage)] = [
            ("ping", WireMessage(envelope: envelope(.ping))),
            ("close-session", WireMessage(envelope: envelope(.closeSession))),
            (
                "abort-step",
                WireMessage(
                    envelope: envelope(.abortStep) {
                        $0.status.code = 10
                        $0.status.message = "aborted"
                    }
                )
            ),
            ("release-session", WireMessage(envelope: envelope(.releaseSession))),
            ("cancel-step", WireMessage(envelope: envelope(.cancelStep))),
            ("keep-alive", WireMessage(envelope: envelope(.keepAlive) { $0.keepAlive.client = "c1" })),
            ("cluster-status", WireMessage(envelope: envelope(.clusterStatus) { $0.clusterStatus.client = "c1" })),
            (
                "register-worker",
                WireMessage(
                    envelope: envelope(.registerWorker) {
                        $0.registerWorker = .with {
                            $0.job = "worker"
                            $0.task = 0
                            $0.address = "tcp://127.0.0.1:7071"
                            $0.pid = 4242
                            $0.incarnation = 99
                        }
                    }
                )
            ),
            (
                "heartbeat",
                WireMessage(
                    envelope: envelope(.heartbeat) {
                        $0.heartbeat = .with {
                            $0.job = "worker"
                            $0.task = 1
                            $0.incarnation = 99
                            $0.sessions = 2
                            $0.tensorBytes = 4096
                            $0.memoryLimitBytes = 1 << 30
                        }
                    }
                )
            ),
            (
                "measure-links",
                WireMessage(
                    envelope: envelope(.measureLinks) {
                        $0.measureLinks = .with {
                            $0.peers = [
                                .with {
                                    $0.device = "/job:worker/task:1"
                                    $0.address = "tcp://127.0.0.1:7072"
                                }
                            ]
                            $0.roundTrips = 4
                            $0.payloadBytes = 1 << 16
                        }
                    }
                )
            ),
            (
                "run-step",
                WireMessage(
                    envelope: envelope(.runStep) {
                        $0.runStep = .with {
                            $0.feeds = ["x:0", "names:0"]
                            $0.fetches = ["y:0"]
                            $0.targets = ["train"]
                        }
                    },
                    tensors: [floats, strings]
                )
            ),
            (
                "run-partition",
                WireMessage(
                    envelope: envelope(.runPartition) {
                        $0.runPartition = .with {
                            $0.handle = "p1"
                            $0.feeds = ["x:0"]
                        }
                    },
                    tensors: [floats]
                )
            ),
            (
                "push-tensor",
                WireMessage(envelope: envelope(.pushTensor) { $0.pushTensor.key = "x:0;0;1" }, tensors: [floats])
            ),
            (
                "push-strings",
                WireMessage(envelope: envelope(.pushTensor) { $0.pushTensor.key = "names:0;0;1" }, tensors: [strings])
            ),
        ]
        for (name, body) in partitions(conformance).prefix(12) {
            messages.append(
                (
                    "register-partition-\(name)",
                    WireMessage(envelope: envelope(.registerPartition) { $0.registerPartition = body })
                )
            )
            messages.append(
                (
                    "create-session-\(name)",
                    WireMessage(envelope: envelope(.createSession) { $0.createSession.graph = body.graph })
                )
            )
        }
        return messages.compactMap { name, message in
            (try? message.frameBytes()).map { (name, FrameFormat.input($0)) }
        }
    }

    /// The first step of a conformance case.
    private struct Step {
        var feeds: [String] = []
        var fetches: [String] = []
        var targets: [String] = []
    }

    /// The conformance cases in `folder`: name, GraphDef and first step, sorted by name.
    private static func cases(_ folder: URL) -> [(String, Tensorflow_GraphDef, Step)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().compactMap { file -> (String, Tensorflow_GraphDef, Step)? in
            let url = folder.appendingPathComponent(file)
            let name = url.deletingPathExtension().lastPathComponent
            guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
            let graph: Tensorflow_GraphDef
            switch url.pathExtension {
            case "pb":
                guard let parsed = try? Tensorflow_GraphDef(serializedBytes: data) else { return nil }
                graph = parsed
            case "pbtxt":
                guard let parsed = try? Tensorflow_GraphDef(tensorFlowText: String(decoding: data, as: UTF8.self))
                else { return nil }
                graph = parsed
            default: return nil
            }
            return (name, graph, firstStep(folder.appendingPathComponent("\(name).json")))
        }
    }

    private static func firstStep(_ url: URL) -> Step {
        guard let data = FileManager.default.contents(atPath: url.path),
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let sessions = root["sessions"] as? [[[String: Any]]],
            let step = sessions.first?.first
        else { return Step() }
        return Step(
            feeds: ((step["feeds"] as? [String: Any]) ?? [:]).keys.sorted(),
            fetches: (step["fetches"] as? [String]) ?? [],
            targets: (step["targets"] as? [String]) ?? []
        )
    }
}
