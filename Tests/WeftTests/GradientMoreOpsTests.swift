import Testing
import WeftProto
import WeftRuntime

@testable import Weft

/// Finite differences on the less common ops: segment reductions, partitions, scans, space
/// rearrangements and the remaining element-wise ops.
@Suite struct GradientMoreOpsTests {
    static let t = Tensorflow_AttrValue.type(.double)

    static let elementWise: [GradientCase] = {
        let x = GradientChecker.tensor([2, 3], seed: 91, range: -2...2)
        let positive = GradientChecker.tensor([3], seed: 92, range: 0.5...2)
        return [
            GradientCase(description: "Erfc", inputs: [x]) { OpBuilder.unary("Erfc", $0[0]) },
            GradientCase(description: "FloorMod", inputs: [x, positive]) { OpBuilder.binary("FloorMod", $0[0], $0[1]) },
            GradientCase(description: "Xlogy", inputs: [x, positive]) {
                OpBuilder.binary("Xlogy", $0[0], $0[1])
            },
            GradientCase(description: "Xdivy", inputs: [x, positive]) {
                OpBuilder.binary("Xdivy", $0[0], $0[1])
            },
        ]
    }()

    @Test(arguments: elementWise) func elementWiseOp(_ test: GradientCase) throws { try test.check() }

    /// Where x is 0, TensorFlow defines the gradient of `xlogy` and `xdivy` for x as 0 (the
    /// functions are 0 there whatever y is).
    @Test(arguments: ["Xlogy", "Xdivy"]) func xAtZero_getsZeroGradient(op: String) throws {
        let graph = Graph()
        let (x, y, z) = graph.asDefault { () -> (Output, Output, Output) in
            let x = placeholder(.double, shape: [2], name: "x")
            let y = placeholder(.double, shape: [2], name: "y")
            return (x, y, OpBuilder.binary(op, x, y))
        }
        let gradient = try #require(try graph.gradients(of: z, with: x))
        let value = try Session(graph: graph).run(gradient, feeding: [x: Tensor([0.0, 0]), y: Tensor([2.0, 0.5])])
        #expect(value.doubleValues == [0, 0])
    }

    static let rearrangements: [GradientCase] = {
        let matrix = GradientChecker.tensor([3, 4], seed: 93, range: 0.5...1.5)
        let image = GradientChecker.tensor([1, 4, 4, 2], seed: 94)
        let deep = GradientChecker.tensor([1, 2, 2, 8], seed: 95)
        func scan(exclusive: Bool, reverse: Bool) -> GradientCase {
            GradientCase(description: "Cumprod exclusive \(exclusive) reverse \(reverse)", inputs: [matrix]) { xs in
                OpBuilder.scan(
                    "Cumprod",
                    xs[0],
                    axis: OpBuilder.constant(Int32(1), in: xs[0].graph),
                    exclusive: exclusive,
                    reverse: reverse
                )
            }
        }
        return [
            scan(exclusive: false, reverse: false), scan(exclusive: true, reverse: false),
            scan(exclusive: false, reverse: true),
            GradientCase(description: "ReverseSequence", inputs: [matrix]) { xs in
                TestOps.node(
                    "ReverseSequence",
                    [xs[0], OpBuilder.constant([Int64(2), 4, 0], in: xs[0].graph)],
                    ["T": t, "Tlen": .type(.int64), "seq_dim": .int(1), "batch_dim": .int(0)]
                ).output()
            },
            GradientCase(description: "MatrixBandPart", inputs: [matrix]) { xs in
                let graph = xs[0].graph
                return TestOps.node(
                    "MatrixBandPart",
                    [xs[0], OpBuilder.constant(Int64(1), in: graph), OpBuilder.constant(Int64(0), in: graph)],
                    ["T": t, "Tindex": .type(.int64)]
                ).output()
            },
            GradientCase(description: "SpaceToDepth", inputs: [image]) { xs in
                TestOps.node("SpaceToDepth", xs, ["T": t, "block_size": .int(2), "data_format": .string("NHWC")])
                    .output()
            },
            GradientCase(description: "DepthToSpace", inputs: [deep]) { xs in
                TestOps.node("DepthToSpace", xs, ["T": t, "block_size": .int(2), "data_format": .string("NHWC")])
                    .output()
            },
            GradientCase(description: "SpaceToBatchND", inputs: [image]) { xs in
                let graph = xs[0].graph
                let paddings = OpBuilder.constant(
                    (try? Tensor([Int32(0), 0, 1, 1], shape: [2, 2])) ?? Tensor([Int32]()),
                    in: graph
                )
                return TestOps.node(
                    "SpaceToBatchND",
                    [xs[0], TestOps.int32s([2, 2], in: graph), paddings],
                    ["T": t, "Tblock_shape": .type(.int32), "Tpaddings": .type(.int32)]
                ).output()
            },
            GradientCase(description: "BatchToSpaceND", inputs: [GradientChecker.tensor([4, 2, 3, 1], seed: 96)]) {
                xs in
                let graph = xs[0].graph
                let crops = OpBuilder.constant(
                    (try? Tensor([Int32(1), 0, 0, 2], shape: [2, 2])) ?? Tensor([Int32]()),
                    in: graph
                )
                return TestOps.node(
                    "BatchToSpaceND",
                    [xs[0], TestOps.int32s([2, 2], in: graph), crops],
                    ["T": t, "Tblock_shape": .type(.int32), "Tcrops": .type(.int32)]
                ).output()
            },
            GradientCase(description: "Roll", inputs: [matrix]) { xs in
                let graph = xs[0].graph
                return TestOps.node(
                    "Roll",
                    [xs[0], TestOps.int32s([1, -3], in: graph), TestOps.int32s([0, 1], in: graph)],
                    ["T": t, "Tshift": .type(.int32), "Taxis": .type(.int32)]
                ).output()
            },
            GradientCase(description: "Diag", inputs: [GradientChecker.tensor([3], seed: 97)]) {
                OpBuilder.unary("Diag", $0[0])
            },
            GradientCase(description: "DiagPart", inputs: [GradientChecker.tensor([3, 3], seed: 98)]) {
                OpBuilder.unary("DiagPart", $0[0])
            },
        ]
    }()

    @Test(arguments: rearrangements) func rearrangement(_ test: GradientCase) throws { try test.check() }

    static let segments: [GradientCase] = {
        let data = GradientChecker.tensor([4, 3], seed: 101)
        var cases = [
            GradientCase(description: "SegmentSum", inputs: [data]) { xs in
                TestOps.node(
                    "SegmentSum",
                    [xs[0], TestOps.int32s([0, 0, 2, 2], in: xs[0].graph)],
                    ["T": t, "Tindices": .type(.int32)]
                ).output()
            },
            GradientCase(description: "SegmentMean", inputs: [data]) { xs in
                TestOps.node(
                    "SegmentMean",
                    [xs[0], TestOps.int32s([0, 0, 0, 1], in: xs[0].graph)],
                    ["T": t, "Tindices": .type(.int32)]
                )
                .output()
            },
            GradientCase(description: "GatherNd", inputs: [data]) { xs in
                let indices = OpBuilder.constant(
                    (try? Tensor([Int32(1), 2, 3, 0, 1, 2], shape: [3, 2])) ?? Tensor([Int32]()),
                    in: xs[0].graph
                )
                return TestOps.node("GatherNd", [xs[0], indices], ["Tparams": t, "Tindices": .type(.int32)]).output()
            },
            GradientCase(description: "DynamicStitch", inputs: [GradientChecker.tensor([2, 3], seed: 102), data]) {
                xs in
                let graph = xs[0].graph
                return OpBuilder.dynamicStitch(
                    indices: [TestOps.int32s([4, 1], in: graph), TestOps.int32s([0, 2, 3, 5], in: graph)],
                    data: xs
                )
            },
            GradientCase(description: "DynamicPartition", inputs: [data]) { xs in
                let op = TestOps.node(
                    "DynamicPartition",
                    [xs[0], TestOps.int32s([1, 0, 1, 1], in: xs[0].graph)],
                    ["T": t, "num_partitions": .int(3)]
                )
                return OpBuilder.concat([op.output(0) * 2, op.output(1), op.output(2)], axis: 0)
            },
        ]
        for op in ["SegmentMax", "SegmentMin"] {
            cases.append(
                GradientCase(description: op, inputs: [data]) { xs in
                    TestOps.node(
                        op,
                        [xs[0], TestOps.int32s([0, 0, 1, 3], in: xs[0].graph)],
                        ["T": t, "Tindices": .type(.int32)]
                    )
                    .output()
                }
            )
        }
        // Every segment is non-empty: an empty one holds the lowest float, whose differences overflow.
        for op in ["UnsortedSegmentMax", "UnsortedSegmentMin"] {
            cases.append(
                GradientCase(description: "\(op) with a dropped id", inputs: [data]) { xs in
                    let graph = xs[0].graph
                    return TestOps.node(
                        op,
                        [xs[0], TestOps.int32s([1, -1, 0, 1], in: graph), OpBuilder.constant(Int32(2), in: graph)],
                        ["T": t, "Tindices": .type(.int32), "Tnumsegments": .type(.int32)]
                    ).output()
                }
            )
        }
        for reduction in ["Sum", "Mean", "SqrtN"] {
            cases.append(
                GradientCase(description: "SparseSegment\(reduction)", inputs: [data]) { xs in
                    let graph = xs[0].graph
                    return TestOps.node(
                        "SparseSegment\(reduction)",
                        [xs[0], TestOps.int32s([3, 1, 3, 0], in: graph), TestOps.int32s([0, 0, 1, 1], in: graph)],
                        ["T": t, "Tidx": .type(.int32), "Tsegmentids": .type(.int32)]
                    ).output()
                }
            )
            cases.append(
                GradientCase(description: "SparseSegment\(reduction)WithNumSegments", inputs: [data]) { xs in
                    let graph = xs[0].graph
                    return TestOps.node(
                        "SparseSegment\(reduction)WithNumSegments",
                        [
                            xs[0], TestOps.int32s([2, 2, 0], in: graph), TestOps.int32s([0, 2, 2], in: graph),
                            OpBuilder.constant(Int32(4), in: graph),
                        ],
                        ["T": t, "Tidx": .type(.int32), "Tsegmentids": .type(.int32), "Tnumsegments": .type(.int32)]
                    ).output()
                }
            )
        }
        return cases
    }()

    @Test(arguments: segments) func segment(_ test: GradientCase) throws { try test.check() }

    static let secondOrder: [GradientCase] = {
        let y = GradientChecker.tensor([2, 3], seed: 111, range: -0.9...0.9)
        let positive = GradientChecker.tensor([2, 3], seed: 112, range: 0.5...2)
        let dy = GradientChecker.tensor([2, 3], seed: 113)
        let features = GradientChecker.tensor([2, 3], seed: 114, range: -3...8)
        var cases = ["TanhGrad", "SigmoidGrad"].map { op in
            GradientCase(description: op, inputs: [y, dy]) { OpBuilder.binary(op, $0[0], $0[1]) }
        }
        cases += ["SqrtGrad", "RsqrtGrad", "ReciprocalGrad"].map { op in
            GradientCase(description: op, inputs: [positive, dy]) { OpBuilder.binary(op, $0[0], $0[1]) }
        }
        cases += ["ReluGrad", "Relu6Grad", "EluGrad"].map { op in
            GradientCase(description: op, inputs: [dy, features]) { OpBuilder.binary(op, $0[0], $0[1]) }
        }
        cases.append(
            GradientCase(description: "LeakyReluGrad", inputs: [dy, features]) { xs in
                TestOps.node("LeakyReluGrad", xs, ["T": t, "alpha": .with { $0.f = 0.2 }]).output()
            }
        )
        let convAttributes: [String: Tensorflow_AttrValue] = [
            "T": t, "strides": .ints([1, 2, 2, 1]), "padding": .string("SAME"), "data_format": .string("NHWC"),
            "dilations": .ints([1, 1, 1, 1]),
        ]
        let filter = GradientChecker.tensor([3, 3, 2, 2], seed: 115)
        let outputGradient = GradientChecker.tensor([1, 3, 3, 2], seed: 116)
        let image = GradientChecker.tensor([1, 5, 5, 2], seed: 117)
        // A depthwise filter [3, 3, 2, 2] makes 2 × 2 output channels.
        let depthwiseGradient = GradientChecker.tensor([1, 3, 3, 4], seed: 118)
        for family in ["Conv2D", "DepthwiseConv2dNative"] {
            let outputGradient = family == "Conv2D" ? outputGradient : depthwiseGradient
            cases.append(
                GradientCase(
                    description: "\(family)BackpropInput (a transposed convolution)",
                    inputs: [filter, outputGradient]
                ) {
                    xs in
                    TestOps.node(
                        "\(family)BackpropInput",
                        [TestOps.int32s([1, 5, 5, 2], in: xs[0].graph), xs[0], xs[1]],
                        convAttributes
                    ).output()
                }
            )
            cases.append(
                GradientCase(description: "\(family)BackpropFilter", inputs: [image, outputGradient]) { xs in
                    TestOps.node(
                        "\(family)BackpropFilter",
                        [xs[0], TestOps.int32s([3, 3, 2, 2], in: xs[0].graph), xs[1]],
                        convAttributes
                    ).output()
                }
            )
        }
        cases.append(
            GradientCase(description: "AvgPoolGrad", inputs: [GradientChecker.tensor([1, 2, 2, 2], seed: 119)]) { xs in
                TestOps.node(
                    "AvgPoolGrad",
                    [TestOps.int32s([1, 4, 4, 2], in: xs[0].graph), xs[0]],
                    [
                        "T": t, "ksize": .ints([1, 3, 3, 1]), "strides": .ints([1, 2, 2, 1]),
                        "padding": .string("SAME"),
                        "data_format": .string("NHWC"),
                    ]
                ).output()
            }
        )
        for format in ["NHWC", "NCHW"] {
            cases.append(
                GradientCase(
                    description: "BiasAddGrad \(format)",
                    inputs: [GradientChecker.tensor([2, 3, 2, 2], seed: 120)]
                ) { xs in
                    TestOps.node("BiasAddGrad", xs, ["T": t, "data_format": .string(format)]).output()
                }
            )
        }
        cases.append(
            GradientCase(description: "TopKV2", inputs: [GradientChecker.tensor([2, 3, 5], seed: 123)]) { xs in
                TestOps.node(
                    "TopKV2",
                    [xs[0], OpBuilder.constant(Int32(2), in: xs[0].graph)],
                    ["T": t, "sorted": .bool(true)]
                )
                .output(0)
            }
        )
        return cases
    }()

    @Test(arguments: secondOrder) func gradientOfAGradient(_ test: GradientCase) throws { try test.check() }

    static let scatters: [GradientCase] = {
        let tensor = GradientChecker.tensor([4, 3], seed: 121)
        let updates = GradientChecker.tensor([2, 3], seed: 122)
        func scatter(_ op: String) -> GradientCase {
            GradientCase(description: op, inputs: [tensor, updates]) { xs in
                let indices = OpBuilder.constant(
                    (try? Tensor([Int32(3), 1], shape: [2, 1])) ?? Tensor([Int32]()),
                    in: xs[0].graph
                )
                return TestOps.node(op, [xs[0], indices, xs[1]], ["T": t, "Tindices": .type(.int32)]).output()
            }
        }
        return ["TensorScatterAdd", "TensorScatterSub", "TensorScatterUpdate"].map(scatter) + [
            GradientCase(description: "ScatterNd", inputs: [updates]) { xs in
                let graph = xs[0].graph
                let indices = OpBuilder.constant(
                    (try? Tensor([Int32(2), 0], shape: [2, 1])) ?? Tensor([Int32]()),
                    in: graph
                )
                return TestOps.node(
                    "ScatterNd",
                    [indices, xs[0], TestOps.int32s([3, 3], in: graph)],
                    ["T": t, "Tindices": .type(.int32)]
                )
                .output()
            },
            GradientCase(description: "CheckNumerics", inputs: [tensor]) { xs in
                TestOps.node("CheckNumerics", [square(xs[0])], ["T": t, "message": .string("squares")]).output()
            },
        ]
    }()

    @Test(arguments: scatters) func scatter(_ test: GradientCase) throws { try test.check() }

    static let einsums: [GradientCase] = {
        func einsum(_ equation: String, _ shapes: [[Int]]) -> GradientCase {
            let inputs = shapes.enumerated().map { GradientChecker.tensor($1, seed: 130 + UInt64($0)) }
            return GradientCase(description: "Einsum \(equation)", inputs: inputs) { xs in
                TestOps.node("Einsum", xs, ["T": t, "N": .int(xs.count), "equation": .string(equation)]).output()
            }
        }
        return [
            einsum("ij,jk->ik", [[2, 3], [3, 4]]),
            einsum("bqd,bkd->bqk", [[2, 3, 4], [2, 2, 4]]),
            einsum("abc,cd->abd", [[2, 3, 4], [4, 2]]),
            einsum("ij,k->ik", [[2, 3], [4]]),
            einsum("abc->ca", [[2, 3, 4]]),
            einsum("i,i->", [[3], [3]]),
            // Diagonals, placing on a diagonal, and `...` over broadcast batch dimensions.
            einsum("ii->i", [[3, 3]]),
            einsum("ii->", [[3, 3]]),
            einsum("iij->j", [[2, 2, 3]]),
            einsum("i->ii", [[3]]),
            einsum("ii,i->i", [[3, 3], [3]]),
            einsum("...ij,...jk->...ik", [[2, 1, 2, 3], [4, 3, 2]]),
            einsum("i...->...", [[2, 3, 4]]),
            einsum("...i,...i->...", [[3, 2], [2]]),
        ]
    }()

    @Test(arguments: einsums) func einsum(_ test: GradientCase) throws { try test.check() }

    static let diagonals: [GradientCase] = {
        let matrices = GradientChecker.tensor([2, 3, 4], seed: 140)
        let vectors = GradientChecker.tensor([2, 3], seed: 141)
        let band = GradientChecker.tensor([2, 2, 3], seed: 142)
        var cases = [
            GradientCase(description: "MatrixDiag", inputs: [vectors]) { OpBuilder.unary("MatrixDiag", $0[0]) },
            GradientCase(description: "MatrixDiagPart", inputs: [matrices]) {
                OpBuilder.unary("MatrixDiagPart", $0[0])
            },
            GradientCase(description: "MatrixSetDiag", inputs: [matrices, vectors]) {
                OpBuilder.binary("MatrixSetDiag", $0[0], $0[1])
            },
        ]
        for version in ["V2", "V3"] {
            let align: [String: Tensorflow_AttrValue] = version == "V3" ? ["align": .string("LEFT_RIGHT")] : [:]
            cases += [
                GradientCase(description: "MatrixDiag\(version) k -1...0", inputs: [band]) { xs in
                    let graph = xs[0].graph
                    let minus = OpBuilder.constant(Int32(-1), in: graph)
                    return TestOps.node(
                        "MatrixDiag\(version)",
                        [xs[0], TestOps.int32s([-1, 0], in: graph), minus, minus, OpBuilder.scalar(0, like: xs[0])],
                        align.merging(["T": t]) { $1 }
                    ).output()
                },
                GradientCase(description: "MatrixDiagPart\(version) k 0...1", inputs: [matrices]) { xs in
                    TestOps.node(
                        "MatrixDiagPart\(version)",
                        [xs[0], TestOps.int32s([0, 1], in: xs[0].graph), OpBuilder.scalar(0, like: xs[0])],
                        align.merging(["T": t]) { $1 }
                    ).output()
                },
                GradientCase(description: "MatrixSetDiag\(version) k 1", inputs: [matrices, vectors]) { xs in
                    TestOps.node(
                        "MatrixSetDiag\(version)",
                        [xs[0], xs[1], OpBuilder.constant(Int32(1), in: xs[0].graph)],
                        align.merging(["T": t]) { $1 }
                    ).output()
                },
            ]
        }
        return cases
    }()

    @Test(arguments: diagonals) func diagonal(_ test: GradientCase) throws { try test.check() }
}
