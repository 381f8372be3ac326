import Testing

@testable import WeftRuntime

@Suite struct ArrayOpsTests {
    // MARK: Refusals

    @Test func gatherV2_negativeIndex_isInvalidArgument() {
        let error = KernelHarness.error(
            "GatherV2",
            [tensor([Float(1), 2, 3], [3]), tensor([Int32(0), -1], [2]), Tensor(Int32(0))]
        )
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("indices[1] = -1 is not in [0, 3)") == true)
    }

    @Test func broadcastTo_hugeShape_isResourceExhausted() {
        let error = KernelHarness.error("BroadcastTo", [Tensor(Float(1)), Tensor([Int64(1) << 40, Int64(1) << 40])])
        #expect(error?.code == .resourceExhausted)
    }

    @Test func pad_overflowingPaddings_isResourceExhausted() {
        let paddings = tensor([Int64.max, Int64.max], [1, 2])
        let error = KernelHarness.error("Pad", [tensor([Float(1)], [1]), paddings])
        #expect(error?.code == .resourceExhausted)
    }

    @Test func dynamicStitch_hugeIndex_isRefusedNotTrapped() {
        let error = KernelHarness.error(
            "DynamicStitch",
            [Tensor([Int64.max]), Tensor([Float(1)])],
            ["N": KernelHarness.int(1), "T": KernelHarness.type(.float)]
        )
        #expect(error?.code == .resourceExhausted)
    }

    @Test func stridedSliceGrad_emptyShapeWithHugeDimension_allocatesNothing() throws {
        let out = try KernelHarness.run1(
            "StridedSliceGrad",
            [
                Tensor([Int64(0), Int64(1) << 50]), Tensor([Int64(0), 0]), Tensor([Int64(0), 0]),
                Tensor([Int64(1), 1]),
                tensor([Float](), [0, 0]),
            ],
            ["T": KernelHarness.type(.float)]
        )
        #expect(out.shape == [0, 1 << 50])
    }

    @Test func unsortedSegmentSum_idPastNumSegments_isInvalidArgument() {
        let error = KernelHarness.error(
            "UnsortedSegmentSum",
            [tensor([Float(1), 2], [2]), Tensor([Int32(0), 2]), Tensor(Int32(2))]
        )
        #expect(error?.code == .invalidArgument)
    }

    // MARK: Properties

    /// Data movement is by element size, so every dtype moves the same way.
    @Test func gatherAndSlice_moveAnyDType() throws {
        let x = tensor((0..<12).map { UInt16($0) }, [3, 4])
        let rows = try KernelHarness.run1("GatherV2", [x, Tensor([Int32(2), 0]), Tensor(Int32(0))])
        #expect(try rows.scalars(as: UInt16.self) == [8, 9, 10, 11, 0, 1, 2, 3])
        let cut = try KernelHarness.run1("Slice", [x, Tensor([Int32(1), 1]), Tensor([Int32(2), -1])])
        #expect(cut.shape == [2, 3])
        #expect(try cut.scalars(as: UInt16.self) == [5, 6, 7, 9, 10, 11])
    }

    /// `StridedSliceGrad` puts every element `StridedSlice` read back where it came from.
    @Test(arguments: [
        ([1, 0], [3, 4], [1, 2]),
        ([2, -1], [-4, 0], [-1, -3]),
        ([0, 1], [3, 3], [2, 1]),
    ])
    func stridedSliceGrad_invertsStridedSlice(begin: [Int], end: [Int], strides: [Int]) throws {
        let values = (0..<12).map { Double($0 + 1) }
        let x = tensor(values, [3, 4])
        let spec = [Tensor(begin.map(Int32.init)), Tensor(end.map(Int32.init)), Tensor(strides.map(Int32.init))]
        let sliced = try KernelHarness.run1("StridedSlice", [x] + spec)
        let grad = try KernelHarness.run1(
            "StridedSliceGrad",
            [Tensor([Int32(3), 4])] + spec + [sliced],
            ["T": KernelHarness.type(.double)]
        )
        let picked = try grad.scalars(as: Double.self).filter { $0 != 0 }
        #expect(Set(picked) == Set(try sliced.scalars(as: Double.self)))
        #expect(zip(try grad.scalars(as: Double.self), values).allSatisfy { $0 == 0 || $0 == $1 })
    }

    /// The bounded-heap path for small `k` picks what a full sort picks, ties included.
    @Test func topK_smallK_matchesFullSort() throws {
        let row = (0..<64).map { Int32(($0 * 7) % 5) }
        let outputs = try KernelHarness.run(
            "TopKV2",
            [tensor(row, [1, 64]), Tensor(Int32(3))],
            ["index_type": KernelHarness.type(.int32)]
        )
        let expected = row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(3)
        #expect(try outputs[1].scalars(as: Int32.self) == expected.map(Int32.init))
        #expect(try outputs[0].scalars(as: Int32.self) == expected.map { row[$0] })
    }

    @Test func mirrorPad_reflectAndSymmetric() throws {
        let x = tensor([Int32(1), 2, 3], [3])
        let paddings = tensor([Int32(2), 2], [1, 2])
        let reflect = try KernelHarness.run1("MirrorPad", [x, paddings], ["mode": KernelHarness.string("REFLECT")])
        #expect(try reflect.scalars(as: Int32.self) == [3, 2, 1, 2, 3, 2, 1])
        let symmetric = try KernelHarness.run1("MirrorPad", [x, paddings], ["mode": KernelHarness.string("SYMMETRIC")])
        #expect(try symmetric.scalars(as: Int32.self) == [2, 1, 1, 2, 3, 3, 2])
    }

    /// `BatchToSpaceND` with zero crops undoes `SpaceToBatchND` with zero paddings.
    @Test func batchToSpace_invertsSpaceToBatch() throws {
        let x = tensor((0..<48).map { Int16($0) }, [2, 4, 6, 1])
        let block = Tensor([Int32(2), 3])
        let zeros = tensor([Int32](repeating: 0, count: 4), [2, 2])
        let batched = try KernelHarness.run1("SpaceToBatchND", [x, block, zeros])
        #expect(batched.shape == [12, 2, 2, 1])
        let back = try KernelHarness.run1("BatchToSpaceND", [batched, block, zeros])
        #expect(back == x)
    }

    @Test func depthToSpace_invertsSpaceToDepth() throws {
        let x = tensor((0..<96).map { Float($0) }, [2, 4, 6, 2])
        let attrs = ["block_size": KernelHarness.int(2)]
        let deep = try KernelHarness.run1("SpaceToDepth", [x], attrs)
        #expect(deep.shape == [2, 2, 3, 8])
        #expect(try KernelHarness.run1("DepthToSpace", [deep], attrs) == x)
    }

    /// Empty tensors can have dimensions whose product overflows; kernels must not multiply them.
    @Test func emptyTensorsWithHugeDimensions_doNotTrap() throws {
        let empty = Tensor(uninitialized: .float, shape: [0, 1 << 40, 1 << 40])
        let part = try KernelHarness.run1("MatrixDiagPart", [empty])
        #expect(part.shape == [0, 1 << 40])
        let band = try KernelHarness.run1("MatrixBandPart", [empty, Tensor(Int64(1)), Tensor(Int64(-1))])
        #expect(band.shape == empty.shape)
        let scattered = try KernelHarness.run1(
            "ScatterNd",
            [
                tensor([Int32](), [0, 1]), tensor([Float](), [0, 1 << 40, 1 << 40]),
                Tensor([Int64(0), 1 << 40, 1 << 40]),
            ],
            ["T": KernelHarness.type(.float)]
        )
        #expect(scattered.elementCount == 0)
        let cut = try KernelHarness.run1("Slice", [empty, Tensor([Int32(0), 1, 0]), Tensor([Int32(0), -1, 1 << 30])])
        #expect(cut.shape == [0, (1 << 40) - 1, 1 << 30])
        let gathered = try KernelHarness.run1("GatherV2", [empty, Tensor([Int32]()), Tensor(Int32(0))])
        #expect(gathered.shape == empty.shape)
        let summed = try KernelHarness.run1("Cumsum", [empty, Tensor(Int32(2))])
        #expect(summed.shape == empty.shape)
    }

    @Test func spaceToDepth_hugeBlockSize_isRefused() {
        let error = KernelHarness.error(
            "SpaceToDepth",
            [Tensor(uninitialized: .float, shape: [1, 0, 0, 1])],
            ["block_size": KernelHarness.int(1 << 40)]
        )
        #expect(error?.code == .invalidArgument)
    }

    /// Segment means divide by the row count; empty segments are 0 and sorted ids are required.
    @Test func segmentMean_andUnsortedIds() throws {
        let data = tensor([Float(1), 3, 10, 20], [4, 1])
        let mean = try KernelHarness.run1("SegmentMean", [data, Tensor([Int32(0), 0, 2, 2])])
        #expect(try mean.scalars(as: Float.self) == [2, 0, 15])
        let error = KernelHarness.error("SegmentSum", [data, Tensor([Int32(1), 0, 2, 2])])
        #expect(error?.code == .invalidArgument)
    }
}
