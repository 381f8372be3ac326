import Testing
import WeftProto
import WeftRuntime

@testable import Weft

/// Finite differences on the ops that move elements: shapes, slices, concatenation, gathers.
@Suite struct GradientArrayTests {
    static let cases: [GradientCase] = {
        let x = GradientChecker.tensor([2, 3, 4], seed: 41)
        let matrix = GradientChecker.tensor([3, 4], seed: 42)
        let other = GradientChecker.tensor([3, 2], seed: 43)
        let t = Tensorflow_AttrValue.type(.double)
        return [
            GradientCase(description: "Reshape", inputs: [x]) { reshape($0[0], to: [4, -1]) },
            GradientCase(description: "ExpandDims", inputs: [matrix]) { OpBuilder.expandDims($0[0], axis: -1) },
            GradientCase(description: "Squeeze", inputs: [GradientChecker.tensor([3, 1, 2], seed: 44)]) {
                OpBuilder.squeeze($0[0], axes: [1])
            },
            GradientCase(description: "Transpose", inputs: [x]) { OpBuilder.transpose($0[0], [2, 0, 1]) },
            GradientCase(description: "ConcatV2 axis -1", inputs: [matrix, other]) { OpBuilder.concat($0, axis: -1) },
            GradientCase(description: "Concat axis 1", inputs: [matrix, other]) { xs in
                TestOps.node("Concat", [OpBuilder.constant(Int32(1), in: xs[0].graph)] + xs, ["T": t, "N": .int(2)])
                    .output()
            },
            GradientCase(description: "Pack axis 1", inputs: [matrix, matrix]) { OpBuilder.pack($0, axis: 1) },
            GradientCase(description: "Unpack axis 1, one output unused", inputs: [x]) { xs in
                let parts = OpBuilder.unpack(xs[0], count: 3, axis: 1)
                return parts[0] * 3 + parts[2]
            },
            GradientCase(description: "Split", inputs: [matrix]) { xs in
                let op = TestOps.node(
                    "Split",
                    [OpBuilder.constant(Int32(1), in: xs[0].graph), xs[0]],
                    ["T": t, "num_split": .int(2)]
                )
                return op.output(0) * op.output(1)
            },
            GradientCase(description: "SplitV", inputs: [matrix]) { xs in
                let graph = xs[0].graph
                let op = TestOps.node(
                    "SplitV",
                    [xs[0], TestOps.int32s([1, 3], in: graph), OpBuilder.constant(Int32(1), in: graph)],
                    ["T": t, "num_split": .int(2), "Tlen": .type(.int32)]
                )
                return sum(op.output(1), axes: [1]) + 5 * op.output(0)
            },
            GradientCase(description: "Slice", inputs: [x]) { xs in
                let graph = xs[0].graph
                return OpBuilder.slice(
                    xs[0],
                    begin: TestOps.int32s([0, 1, 1], in: graph),
                    size: TestOps.int32s([2, -1, 2], in: graph)
                )
            },
            GradientCase(description: "StridedSlice with masks and a negative stride", inputs: [x]) { xs in
                let graph = xs[0].graph
                return TestOps.node(
                    "StridedSlice",
                    [
                        xs[0], TestOps.int32s([1, 0, 3], in: graph), TestOps.int32s([2, 3, 0], in: graph),
                        TestOps.int32s([1, 2, -2], in: graph),
                    ],
                    [
                        "T": t, "Index": .type(.int32), "begin_mask": .int(2), "end_mask": .int(0),
                        "ellipsis_mask": .int(0), "new_axis_mask": .int(0), "shrink_axis_mask": .int(1),
                    ]
                ).output()
            },
            GradientCase(description: "Tile", inputs: [matrix]) { xs in
                TestOps.node(
                    "Tile",
                    [xs[0], TestOps.int32s([2, 1], in: xs[0].graph)],
                    ["T": t, "Tmultiples": .type(.int32)]
                ).output()
            },
            GradientCase(description: "Pad", inputs: [matrix]) { xs in
                let paddings = OpBuilder.constant(try! Tensor([Int32(1), 0, 2, 1], shape: [2, 2]), in: xs[0].graph)
                return TestOps.node("Pad", [xs[0], paddings], ["T": t, "Tpaddings": .type(.int32)]).output()
            },
            GradientCase(
                description: "PadV2 int64 paddings",
                inputs: [matrix, GradientChecker.tensor([], seed: 45)],
                checked: [0]
            ) { xs in
                let paddings = OpBuilder.constant(try! Tensor([Int64(0), 1, 1, 1], shape: [2, 2]), in: xs[0].graph)
                return TestOps.node("PadV2", [xs[0], paddings, xs[1]], ["T": t, "Tpaddings": .type(.int64)]).output()
            },
            GradientCase(description: "MirrorPad REFLECT", inputs: [matrix]) { xs in
                let paddings = OpBuilder.constant(try! Tensor([Int32(1), 2, 2, 1], shape: [2, 2]), in: xs[0].graph)
                return TestOps.node(
                    "MirrorPad",
                    [xs[0], paddings],
                    ["T": t, "Tpaddings": .type(.int32), "mode": .string("REFLECT")]
                )
                .output()
            },
            GradientCase(description: "MirrorPad SYMMETRIC", inputs: [matrix]) { xs in
                let paddings = OpBuilder.constant(try! Tensor([Int32(2), 0, 1, 3], shape: [2, 2]), in: xs[0].graph)
                return TestOps.node(
                    "MirrorPad",
                    [xs[0], paddings],
                    ["T": t, "Tpaddings": .type(.int32), "mode": .string("SYMMETRIC")]
                ).output()
            },
            GradientCase(description: "Fill", inputs: [GradientChecker.tensor([], seed: 46)]) { xs in
                OpBuilder.fill(TestOps.int32s([2, 3], in: xs[0].graph), value: xs[0])
            },
            GradientCase(description: "Select", inputs: [matrix, matrix.negatedCopy]) { xs in
                OpBuilder.select(greater(xs[0], OpBuilder.scalar(0, like: xs[0])), xs[0] * xs[1], xs[1])
            },
            GradientCase(description: "Select by rows", inputs: [matrix, GradientChecker.tensor([3, 4], seed: 50)]) {
                xs in
                OpBuilder.select(OpBuilder.constant([true, false, true], in: xs[0].graph), xs[0], square(xs[1]))
            },
            GradientCase(
                description: "SelectV2 broadcasting",
                inputs: [GradientChecker.tensor([3, 1], seed: 47), GradientChecker.tensor([4], seed: 48)]
            ) { xs in
                let condition = OpBuilder.constant(
                    try! Tensor([true, false, false, true], shape: [1, 4]),
                    in: xs[0].graph
                )
                return OpBuilder.selectV2(condition, xs[0], xs[1])
            },
            GradientCase(description: "BroadcastTo", inputs: [GradientChecker.tensor([3, 1], seed: 49)]) { xs in
                OpBuilder.broadcastTo(xs[0], TestOps.int32s([2, 3, 4], in: xs[0].graph))
            },
            GradientCase(description: "ReverseV2", inputs: [x]) { xs in
                TestOps.node(
                    "ReverseV2",
                    [xs[0], TestOps.int32s([0, 2], in: xs[0].graph)],
                    ["T": t, "Tidx": .type(.int32)]
                ).output()
            },
            GradientCase(description: "Cumsum exclusive", inputs: [matrix]) { xs in
                OpBuilder.scan(
                    "Cumsum",
                    xs[0],
                    axis: OpBuilder.constant(Int32(1), in: xs[0].graph),
                    exclusive: true,
                    reverse: false
                )
            },
            GradientCase(description: "Cumsum reverse", inputs: [matrix]) { xs in
                OpBuilder.scan(
                    "Cumsum",
                    xs[0],
                    axis: OpBuilder.constant(Int32(0), in: xs[0].graph),
                    exclusive: false,
                    reverse: true
                )
            },
            GradientCase(description: "GatherV2 axis 0 with a repeated index", inputs: [matrix]) { xs in
                let graph = xs[0].graph
                return OpBuilder.gather(
                    xs[0],
                    TestOps.int32s([2, 0, 2], in: graph),
                    axis: OpBuilder.constant(Int32(0), in: graph)
                )
            },
            GradientCase(description: "GatherV2 axis 1, 2-D indices", inputs: [x]) { xs in
                let graph = xs[0].graph
                let indices = OpBuilder.constant(try! Tensor([Int64(3), 1, 3, 0], shape: [2, 2]), in: graph)
                return OpBuilder.gather(xs[0], indices, axis: OpBuilder.constant(Int32(-1), in: graph))
            },
            GradientCase(description: "GatherV2 axis from a placeholder-free Identity", inputs: [x]) { xs in
                let graph = xs[0].graph
                let axis = identity(OpBuilder.constant(Int32(1), in: graph))
                return OpBuilder.gather(xs[0], TestOps.int32s([2, 2, 0], in: graph), axis: axis)
            },
            GradientCase(description: "Gather", inputs: [matrix]) { xs in
                TestOps.node(
                    "Gather",
                    [xs[0], TestOps.int32s([1, 1, 2], in: xs[0].graph)],
                    ["Tparams": t, "Tindices": .type(.int32), "validate_indices": .bool(true)]
                ).output()
            },
            GradientCase(description: "UnsortedSegmentSum with a dropped id", inputs: [matrix]) { xs in
                OpBuilder.unsortedSegmentSum(
                    xs[0],
                    ids: TestOps.int32s([1, -1, 1], in: xs[0].graph),
                    count: OpBuilder.constant(Int32(3), in: xs[0].graph)
                )
            },
        ]
    }()

    @Test(arguments: cases) func arrayOp(_ test: GradientCase) throws { try test.check() }
}

extension Tensor {
    /// The same shape with every value negated.
    var negatedCopy: Tensor { (try? Tensor(doubleValues.map { -$0 }, shape: shape)) ?? self }
}
