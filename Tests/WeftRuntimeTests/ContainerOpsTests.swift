import Testing
import WeftProto

@testable import WeftRuntime

/// Runs container kernels within one step, as the executor does for the nodes of a step.
private struct StepHarness {
    let step = StepContext(id: 1, resources: ResourceContainer())

    func run(_ op: String, _ inputs: [Tensor], _ attrs: [String: Tensorflow_AttrValue] = [:]) throws -> [Tensor] {
        let info = try KernelHarness.node(op, inputs: inputs.count, attrs: attrs)
        let kernel = try OpRegistry.standard.definition(of: op, node: info.name).makeKernel(info)
        let context = OpKernelContext(node: info.name, inputs: inputs.map { .tensor($0) }, step: step)
        return try kernel.compute(context).map { try $0.read() }
    }

    func error(_ op: String, _ inputs: [Tensor], _ attrs: [String: Tensorflow_AttrValue] = [:]) -> WeftError? {
        do {
            _ = try run(op, inputs, attrs)
            return nil
        } catch let error as WeftError {
            return error
        } catch {
            return WeftError(.unknown, "\(error)")
        }
    }
}

private let float = ["element_dtype": KernelHarness.type(.float)]

private func list(_ tensor: Tensor) throws -> TensorList {
    try #require(tensor.variants.first as? TensorList)
}

@Suite struct ContainerOpsTests {
    @Test func reserve_hugeNumElements_isResourceExhaustedNotATrap() {
        let error = KernelHarness.error(
            "TensorListReserve",
            [Tensor([Int32(2)]), Tensor(Int32.max)],
            float
        )
        #expect(error?.code == .resourceExhausted)
    }

    @Test func negativeSizes_areInvalidArgument() throws {
        #expect(
            KernelHarness.error("TensorListReserve", [Tensor(Int32(-1)), Tensor(Int32(-3))], float)?.code
                == .invalidArgument
        )
        let reserved = try KernelHarness.run1("TensorListReserve", [Tensor(Int32(-1)), Tensor(Int32(2))], float)
        #expect(KernelHarness.error("TensorListResize", [reserved, Tensor(Int32(-1))])?.code == .invalidArgument)
        #expect(
            StepHarness().error("TensorArrayV3", [Tensor(Int32(-1))], ["dtype": KernelHarness.type(.float)])?.code
                == .invalidArgument
        )
    }

    @Test func growingWrites_toHugeIndices_areResourceExhausted() throws {
        let empty = try KernelHarness.run1("EmptyTensorList", [Tensor(Int32(-1)), Tensor(Int32(-1))], float)
        var resizing = float
        resizing["resize_if_index_out_of_bounds"] = KernelHarness.bool(true)
        let setError = KernelHarness.error(
            "TensorListSetItem",
            [empty, Tensor(Int32.max - 1), Tensor(Float(1))],
            resizing
        )
        #expect(setError?.code == .resourceExhausted)
        let scatterError = KernelHarness.error(
            "TensorListScatter",
            [tensor([1] as [Float], [1]), Tensor([Int32.max]), Tensor(Int32(-1))],
            float
        )
        #expect(scatterError?.code == .resourceExhausted)
        let arrayError = StepHarness().error(
            "TensorArrayV3",
            [Tensor(Int32.max)],
            ["dtype": KernelHarness.type(.float)]
        )
        #expect(arrayError?.code == .resourceExhausted)
    }

    @Test func setItem_leavesItsInputListAsItWas_andSharesUnchangedElements() throws {
        let rows = tensor([1, 2, 3, 4] as [Float], [2, 2])
        let original = try KernelHarness.run1("TensorListFromTensor", [rows, Tensor([Int32(2)])], float)
        let updated = try KernelHarness.run1(
            "TensorListSetItem",
            [original, Tensor(Int32(0)), tensor([9, 9] as [Float], [2])],
            float
        )
        let before = try list(original)
        let after = try list(updated)
        #expect(before.elements[0]?.doubleValues == [1, 2])
        #expect(after.elements[0]?.doubleValues == [9, 9])
        // The element that did not change is the same tensor, not a copy of its bytes.
        #expect(before.elements[1]?.buffer === after.elements[1]?.buffer)
    }

    @Test func getItem_ofAnUnsetSlot_mergesTheRequestedShapeWithTheList() throws {
        let reserved = try KernelHarness.run1("TensorListReserve", [Tensor([Int32(-1), 2]), Tensor(Int32(3))], float)
        let zeros = try KernelHarness.run1(
            "TensorListGetItem",
            [reserved, Tensor(Int32(1)), Tensor([Int32(3), -1])],
            float
        )
        #expect(zeros.shape == [3, 2])
        #expect(zeros.doubleValues == Array(repeating: 0, count: 6))
        let conflict = KernelHarness.error(
            "TensorListGetItem",
            [reserved, Tensor(Int32(1)), Tensor([Int32(3), 3])],
            float
        )
        #expect(conflict?.code == .invalidArgument)
        let unknown = KernelHarness.error("TensorListGetItem", [reserved, Tensor(Int32(1)), Tensor(Int32(-1))], float)
        #expect(unknown?.code == .invalidArgument)
    }

    @Test func stack_ofSplitPiecesThatDoNotFitTheDeclaredShape_failsWithoutWritingPastItsOutput() throws {
        // Split checks only the dimensions after the first against element_shape [2, 2].
        let pieces = try KernelHarness.run1(
            "TensorListSplit",
            [tensor((0..<8).map(Float.init), [4, 2]), Tensor([Int32(2), 2]), Tensor([Int64(1), 3])],
            float
        )
        let error = KernelHarness.error("TensorListStack", [pieces, Tensor(Int32(-1))], float)
        #expect(error?.code == .invalidArgument)
    }

    @Test func zerosLikeAndAddN_ofLists_keepUnsetSlotsUnset() throws {
        let reserved = try KernelHarness.run1("TensorListReserve", [Tensor([Int32(2)]), Tensor(Int32(2))], float)
        let one = try KernelHarness.run1(
            "TensorListSetItem",
            [reserved, Tensor(Int32(0)), tensor([1, 2] as [Float], [2])],
            float
        )
        let zeros = try list(try KernelHarness.run1("ZerosLike", [one]))
        #expect(zeros.elements[0]?.doubleValues == [0, 0])
        #expect(zeros.elements[1] == nil)
        let sum = try list(try KernelHarness.run1("AddN", [one, one], ["N": KernelHarness.int(2)]))
        #expect(sum.elements[0]?.doubleValues == [2, 4])
        #expect(sum.elements[1] == nil)
    }

    @Test func partialShapes_mergeAndRefuseConflicts() throws {
        let merged = try PartialShape([nil, 2]).merged(with: PartialShape([3, nil]), node: "n")
        #expect(merged == PartialShape([3, 2]))
        #expect(try PartialShape.unknown.merged(with: PartialShape([1]), node: "n") == PartialShape([1]))
        #expect(throws: WeftError.self) { try PartialShape([2]).merged(with: PartialShape([2, 1]), node: "n") }
        #expect(throws: WeftError.self) { try PartialShape([2]).merged(with: PartialShape([3]), node: "n") }
    }

    @Test func malformedInputs_areInvalidArgument() {
        let notAList = Tensor(uninitialized: .variant, shape: .scalar)
        #expect(KernelHarness.error("TensorListLength", [notAList])?.code == .invalidArgument)
        #expect(KernelHarness.error("TensorListLength", [Tensor(Float(1))])?.code == .invalidArgument)
        let rows = try? KernelHarness.run1(
            "TensorListFromTensor",
            [tensor([1, 2] as [Float], [2]), Tensor(Int32(-1))],
            float
        )
        let int64Index = rows.flatMap {
            KernelHarness.error("TensorListGetItem", [$0, Tensor(Int64(0)), Tensor(Int32(-1))], float)
        }
        #expect(int64Index?.code == .invalidArgument)
        let shapeOfFloats = KernelHarness.error("EmptyTensorList", [Tensor([Float(1)]), Tensor(Int32(-1))], float)
        #expect(shapeOfFloats?.code == .invalidArgument)
    }

    @Test func tensorArray_livesForItsStepOnly() throws {
        let first = StepHarness()
        let outputs = try first.run(
            "TensorArrayV3",
            [Tensor(Int32(2))],
            ["dtype": KernelHarness.type(.float), "element_shape": shape([2])]
        )
        let handle = outputs[0]
        let flow = outputs[1]
        _ = try first.run("TensorArrayWriteV3", [handle, Tensor(Int32(0)), tensor([1, 2] as [Float], [2]), flow])
        #expect(first.step.stepResources.count == 1)
        let read = try first.run(
            "TensorArrayReadV3",
            [handle, Tensor(Int32(0)), flow],
            ["dtype": KernelHarness.type(.float)]
        )
        #expect(read[0].doubleValues == [1, 2])
        // Another step does not see it.
        let error = StepHarness().error("TensorArraySizeV3", [handle, flow])
        #expect(error?.code == .notFound)
    }

    @Test func tensorArrayGrad_isOneArrayPerSource_andAddsRepeatedWrites() throws {
        let step = StepHarness()
        let float = ["dtype": KernelHarness.type(.float)]
        let created = try step.run("TensorArrayV3", [Tensor(Int32(1))], float)
        let source = ["source": KernelHarness.string("gradients")]
        let grad = try step.run("TensorArrayGradV3", [created[0], created[1]], source)
        let again = try step.run("TensorArrayGradV3", [created[0], created[1]], source)
        #expect(grad[0].handles == again[0].handles)
        for value in [Float(1), 2, 4] {
            _ = try step.run("TensorArrayWriteV3", [grad[0], Tensor(Int32(0)), Tensor(value), grad[1]])
        }
        let sum = try step.run("TensorArrayReadV3", [again[0], Tensor(Int32(0)), grad[1]], float)
        #expect(sum[0].doubleValues == [7])
        // The forward array cannot grow once its gradient exists, and refuses a second write.
        _ = try step.run("TensorArrayWriteV3", [created[0], Tensor(Int32(0)), Tensor(Float(1)), created[1]])
        #expect(
            step.error("TensorArrayWriteV3", [created[0], Tensor(Int32(0)), Tensor(Float(1)), created[1]])?.code
                == .invalidArgument
        )
    }

    @Test func stack_popsInReverse_andRefusesAnEmptyPop() throws {
        let step = StepHarness()
        let handle = try step.run("StackV2", [Tensor(Int32(-1))], ["elem_type": KernelHarness.type(.float)])[0]
        _ = try step.run("StackPushV2", [handle, Tensor(Float(1))])
        _ = try step.run("StackPushV2", [handle, Tensor(Float(2))])
        let pop = ["elem_type": KernelHarness.type(.float)]
        #expect(try step.run("StackPopV2", [handle], pop)[0].doubleValues == [2])
        #expect(try step.run("StackPopV2", [handle], pop)[0].doubleValues == [1])
        #expect(step.error("StackPopV2", [handle], pop)?.code == .invalidArgument)
        #expect(step.error("StackPushV2", [handle, Tensor(Int32(1))])?.code == .invalidArgument)
    }

    @Test func stepResources_areFreedWithTheirStep() throws {
        weak var array: TensorArrayResource?
        do {
            let step = StepHarness()
            let handle = try step.run("TensorArrayV3", [Tensor(Int32(1))], ["dtype": KernelHarness.type(.float)])[0]
            array = step.step.stepResources.lookup(try #require(handle.handles.first).key, as: TensorArrayResource.self)
            #expect(array != nil)
        }
        #expect(array == nil)
    }
}

private func shape(_ dimensions: [Int]) -> Tensorflow_AttrValue {
    var value = Tensorflow_AttrValue()
    value.value = .shape(TensorShape(dimensions).proto)
    return value
}
