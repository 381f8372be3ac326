import Testing
import WeftProto
import WeftRuntime

/// Functional control flow run from hand-written GraphDefs with a function library: loops end at
/// the step's deadline, calls are checked against their functions' signatures, and a missing
/// function is reported by name.
@Suite struct FunctionalOpsTests {
    // MARK: Building NodeDefs and FunctionDefs

    private static func node(
        _ name: String,
        _ op: String,
        _ inputs: [String] = [],
        _ attributes: [String: Tensorflow_AttrValue] = [:]
    ) -> Tensorflow_NodeDef {
        .with {
            $0.name = name
            $0.op = op
            $0.input = inputs
            $0.attr = attributes
        }
    }

    private static func type(_ dtype: DType) -> Tensorflow_AttrValue { .with { $0.type = dtype.proto } }

    private static func types(_ dtypes: [DType]) -> Tensorflow_AttrValue {
        .with { $0.list = .with { $0.type = dtypes.map(\.proto) } }
    }

    private static func function(_ name: String) -> Tensorflow_AttrValue {
        .with { $0.func = .with { $0.name = name } }
    }

    private static func constant(_ name: String, _ value: Tensor) -> Tensorflow_NodeDef {
        node(name, "Const", [], ["dtype": type(value.dtype), "value": .with { $0.tensor = value.proto }])
    }

    private static func argument(_ name: String, _ dtype: DType) -> Tensorflow_OpDef.ArgDef {
        .with {
            $0.name = name
            $0.type = dtype.proto
        }
    }

    private static func functionDef(
        _ name: String,
        inputs: [(String, DType)],
        outputs: [(String, DType)],
        nodes: [Tensorflow_NodeDef],
        returns: [String: String]
    ) -> Tensorflow_FunctionDef {
        .with {
            $0.signature = .with {
                $0.name = name
                $0.inputArg = inputs.map { argument($0.0, $0.1) }
                $0.outputArg = outputs.map { argument($0.0, $0.1) }
            }
            $0.nodeDef = nodes
            $0.ret = returns
        }
    }

    /// `cond(i) = true`, `body(i) = i + 1`: a loop that never ends.
    private static let endless: [Tensorflow_FunctionDef] = [
        functionDef(
            "always",
            inputs: [("i", .int32)],
            outputs: [("holds", .bool)],
            nodes: [constant("yes", Tensor(true))],
            returns: ["holds": "yes:output:0"]
        ),
        functionDef(
            "increment",
            inputs: [("i", .int32)],
            outputs: [("next", .int32)],
            nodes: [
                constant("one", Tensor(Int32(1))),
                node("sum", "AddV2", ["i", "one:output:0"], ["T": type(.int32)]),
            ],
            returns: ["next": "sum:z:0"]
        ),
    ]

    /// `cond(i) = i < 20_000`: ends after many iterations that each finish on the calling thread.
    private static let counting: [Tensorflow_FunctionDef] = [
        functionDef(
            "below",
            inputs: [("i", .int32)],
            outputs: [("holds", .bool)],
            nodes: [
                constant("limit", Tensor(Int32(20_000))),
                node("less", "Less", ["i", "limit:output:0"], ["T": type(.int32)]),
            ],
            returns: ["holds": "less:z:0"]
        ),
        endless[1],
    ]

    private static func loop(condition: String) -> [Tensorflow_NodeDef] {
        [
            constant("start", Tensor(Int32(0))),
            node(
                "loop",
                "While",
                ["start"],
                ["T": types([.int32]), "cond": function(condition), "body": function("increment")]
            ),
        ]
    }

    private static func plan(
        _ nodes: [Tensorflow_NodeDef],
        _ functions: [Tensorflow_FunctionDef],
        fetch: String
    ) throws(WeftError) -> StepPlan {
        let library = FunctionLibrary(.with { $0.function = functions })
        let graph = try RuntimeGraph(nodes: nodes, functions: library)
        return try StepPlan(graph: graph, feeds: [], fetches: [TensorName(node: fetch, index: 0)], targets: [])
    }

    private static func error(_ body: () throws(WeftError) -> Void) -> WeftError? {
        do throws(WeftError) {
            try body()
            return nil
        } catch {
            return error
        }
    }

    // MARK: Tests

    @Test func runawayWhile_endsWithDeadlineExceeded() throws {
        let plan = try Self.plan(Self.loop(condition: "always"), Self.endless, fetch: "loop")
        let cancellation = StepCancellation(deadline: .now + .milliseconds(200))
        let step = StepContext(id: 1, resources: ResourceContainer(), cancellation: cancellation)
        let started = ContinuousClock.now
        let failure = Self.error { () throws(WeftError) in _ = try plan.run(feeds: [], step: step) }
        #expect(failure?.code == .deadlineExceeded)
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func cancelledStep_stopsTheLoop() throws {
        let plan = try Self.plan(Self.loop(condition: "always"), Self.endless, fetch: "loop")
        let cancellation = StepCancellation()
        cancellation.cancel(WeftError(.cancelled, "the session was closed"))
        let step = StepContext(id: 1, resources: ResourceContainer(), cancellation: cancellation)
        let failure = Self.error { () throws(WeftError) in _ = try plan.run(feeds: [], step: step) }
        #expect(failure?.code == .cancelled)
    }

    @Test func longLoop_runsInPlace_withoutGrowingTheStack() throws {
        let plan = try Self.plan(Self.loop(condition: "below"), Self.counting, fetch: "loop")
        let fetched = try plan.run(feeds: [], step: StepContext(id: 1, resources: ResourceContainer()))
        #expect(fetched.first?.scalar(as: Int32.self) == 20_000)
    }

    @Test func inputCountDifferentFromTin_isInvalidArgument() {
        let nodes = [
            constantNode(),
            Self.node(
                "call",
                "PartitionedCall",
                ["x"],
                ["Tin": Self.types([.int32, .int32]), "Tout": Self.types([.int32]), "f": Self.function("increment")]
            ),
        ]
        let failure = Self.error { () throws(WeftError) in _ = try Self.plan(nodes, Self.endless, fetch: "call") }
        #expect(failure?.code == .invalidArgument)
        #expect(failure?.message.contains("Tin") == true)
    }

    @Test func argumentTypeDifferentFromFunction_isInvalidArgument() {
        let nodes = [
            Self.constant("x", Tensor(Float(1))),
            Self.node(
                "call",
                "PartitionedCall",
                ["x"],
                ["Tin": Self.types([.float]), "Tout": Self.types([.int32]), "f": Self.function("increment")]
            ),
        ]
        let failure = Self.error { () throws(WeftError) in _ = try Self.plan(nodes, Self.endless, fetch: "call") }
        #expect(failure?.code == .invalidArgument)
        #expect(failure?.message.contains("increment") == true)
    }

    @Test func callToMissingFunction_isNotFound() {
        let nodes = [
            constantNode(),
            Self.node(
                "call",
                "PartitionedCall",
                ["x"],
                ["Tin": Self.types([.int32]), "Tout": Self.types([.int32]), "f": Self.function("nowhere")]
            ),
        ]
        let failure = Self.error { () throws(WeftError) in _ = try Self.plan(nodes, Self.endless, fetch: "call") }
        #expect(failure?.code == .notFound)
        #expect(failure?.message.contains("nowhere") == true)
    }

    @Test func functionCallingMissingFunction_isNotFoundWhenCalled() throws {
        let outer = Self.functionDef(
            "outer",
            inputs: [("i", .int32)],
            outputs: [("o", .int32)],
            nodes: [
                Self.node(
                    "inner",
                    "StatefulPartitionedCall",
                    ["i"],
                    ["Tin": Self.types([.int32]), "Tout": Self.types([.int32]), "f": Self.function("nowhere")]
                )
            ],
            returns: ["o": "inner:output:0"]
        )
        let nodes = [
            constantNode(),
            Self.node(
                "call",
                "PartitionedCall",
                ["x"],
                ["Tin": Self.types([.int32]), "Tout": Self.types([.int32]), "f": Self.function("outer")]
            ),
        ]
        let plan = try Self.plan(nodes, [outer], fetch: "call")
        let failure = Self.error { () throws(WeftError) in
            _ = try plan.run(feeds: [], step: StepContext(id: 1, resources: ResourceContainer()))
        }
        #expect(failure?.code == .notFound)
        #expect(failure?.message.contains("nowhere") == true)
    }

    @Test func bodyOutputNamedByUnknownArgument_isInvalidArgument() throws {
        let broken = Self.functionDef(
            "broken",
            inputs: [("i", .int32)],
            outputs: [("o", .int32)],
            nodes: [Self.node("same", "Identity", ["i"], ["T": Self.type(.int32)])],
            returns: ["o": "same:y:0"]
        )
        let nodes = [
            constantNode(),
            Self.node(
                "call",
                "PartitionedCall",
                ["x"],
                ["Tin": Self.types([.int32]), "Tout": Self.types([.int32]), "f": Self.function("broken")]
            ),
        ]
        let plan = try Self.plan(nodes, [broken], fetch: "call")
        let failure = Self.error { () throws(WeftError) in
            _ = try plan.run(feeds: [], step: StepContext(id: 1, resources: ResourceContainer()))
        }
        #expect(failure?.code == .invalidArgument)
        #expect(failure?.message.contains("no output named 'y'") == true)
    }

    @Test func recursiveFunction_isRefusedWhenCalled() throws {
        let call: (String) -> Tensorflow_NodeDef = { callee in
            Self.node(
                "again",
                "PartitionedCall",
                ["i"],
                ["Tin": Self.types([.int32]), "Tout": Self.types([.int32]), "f": Self.function(callee)]
            )
        }
        let ping = Self.functionDef(
            "ping",
            inputs: [("i", .int32)],
            outputs: [("o", .int32)],
            nodes: [call("pong")],
            returns: ["o": "again:output:0"]
        )
        let pong = Self.functionDef(
            "pong",
            inputs: [("i", .int32)],
            outputs: [("o", .int32)],
            nodes: [call("ping")],
            returns: ["o": "again:output:0"]
        )
        let nodes = [
            constantNode(),
            Self.node(
                "call",
                "PartitionedCall",
                ["x"],
                ["Tin": Self.types([.int32]), "Tout": Self.types([.int32]), "f": Self.function("ping")]
            ),
        ]
        let plan = try Self.plan(nodes, [ping, pong], fetch: "call")
        let failure = Self.error { () throws(WeftError) in
            _ = try plan.run(feeds: [], step: StepContext(id: 1, resources: ResourceContainer()))
        }
        #expect(failure?.code == .unimplemented)
        #expect(failure?.message.contains("ping → pong → ping") == true)
    }

    @Test func callsNestedTooDeep_areInvalidArgument() throws {
        let depth = FunctionLibrary.maximumNesting + 1
        let chain = (0..<depth).map { level in
            Self.functionDef(
                "f\(level)",
                inputs: [("i", .int32)],
                outputs: [("o", .int32)],
                nodes: level == depth - 1
                    ? [Self.node("inner", "Identity", ["i"], ["T": Self.type(.int32)])]
                    : [
                        Self.node(
                            "inner",
                            "PartitionedCall",
                            ["i"],
                            [
                                "Tin": Self.types([.int32]), "Tout": Self.types([.int32]),
                                "f": Self.function("f\(level + 1)"),
                            ]
                        )
                    ],
                returns: ["o": "inner:output:0"]
            )
        }
        let nodes = [
            constantNode(),
            Self.node(
                "call",
                "PartitionedCall",
                ["x"],
                ["Tin": Self.types([.int32]), "Tout": Self.types([.int32]), "f": Self.function("f0")]
            ),
        ]
        let plan = try Self.plan(nodes, chain, fetch: "call")
        let failure = Self.error { () throws(WeftError) in
            _ = try plan.run(feeds: [], step: StepContext(id: 1, resources: ResourceContainer()))
        }
        #expect(failure?.code == .invalidArgument)
        #expect(failure?.message.contains("more than \(FunctionLibrary.maximumNesting) deep") == true)
    }

    private func constantNode() -> Tensorflow_NodeDef { Self.constant("x", Tensor(Int32(3))) }
}
