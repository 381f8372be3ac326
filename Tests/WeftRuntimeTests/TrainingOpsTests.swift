import Testing
import WeftProto

@testable import WeftRuntime

/// Runs update kernels on variables the way the executor does: ref inputs as `.ref`, the rest
/// as tensors.
private enum UpdateHarness {
    static func variable(_ name: String, _ value: Tensor) throws -> VariableResource {
        let variable = VariableResource(name: name, dtype: value.dtype, shape: PartialShape(value.shape.dimensions))
        try variable.assign(value, validateShape: true)
        return variable
    }

    /// Runs `op` with `inputs` (variables by reference), returning its outputs.
    @discardableResult
    static func run(
        _ op: String,
        _ inputs: [Value],
        _ attrs: [String: Tensorflow_AttrValue] = [:],
        resources: ResourceContainer = ResourceContainer()
    ) throws -> [Value] {
        let info = try KernelHarness.node(op, inputs: inputs.count, attrs: attrs)
        let kernel = try OpRegistry.standard.definition(of: op, node: info.name).makeKernel(info)
        return try kernel.compute(
            OpKernelContext(node: info.name, inputs: inputs, step: StepContext(id: 1, resources: resources))
        )
    }

    static func error(_ op: String, _ inputs: [Value], _ attrs: [String: Tensorflow_AttrValue] = [:]) -> WeftError? {
        do {
            try run(op, inputs, attrs)
            return nil
        } catch let error as WeftError {
            return error
        } catch {
            return WeftError(.unknown, "\(error)")
        }
    }
}

private func scalar(_ value: Float) -> Value { .tensor(Tensor(value)) }
private func floats(_ values: [Float], _ shape: TensorShape) -> Value { .tensor(tensor(values, shape)) }

@Suite struct TrainingOpsTests {
    @Test func adam_updatesVariableAndBothMoments() throws {
        let w = try UpdateHarness.variable("w", tensor([1, -2] as [Float], [2]))
        let m = try UpdateHarness.variable("m", tensor([0, 0] as [Float], [2]))
        let v = try UpdateHarness.variable("v", tensor([0, 0] as [Float], [2]))
        let outputs = try UpdateHarness.run(
            "ApplyAdam",
            [
                .ref(w), .ref(m), .ref(v), scalar(0.9), scalar(0.999), scalar(0.1), scalar(0.9), scalar(0.999),
                scalar(1e-8), floats([0.5, -0.25], [2]),
            ]
        )
        // First step: m = 0.1·g, v = 0.001·g², alpha = 0.1·√0.001 / 0.1, so the step is lr·sign(g).
        #expect(close(try m.read().doubleValues, [0.05, -0.025]))
        #expect(close(try v.read().doubleValues, [0.00025, 0.0000625]))
        #expect(close(try w.read().doubleValues, [0.9, -1.9]))
        guard case .ref(let out) = outputs.first else {
            Issue.record("ApplyAdam must output its variable")
            return
        }
        #expect(out === w)
    }

    @Test func uninitializedSlot_failsWithoutTouchingTheVariable() throws {
        let w = try UpdateHarness.variable("w", tensor([1, 2] as [Float], [2]))
        let accum = VariableResource(name: "w/Momentum", dtype: .float, shape: PartialShape([2]))
        let error = UpdateHarness.error(
            "ApplyMomentum",
            [.ref(w), .ref(accum), scalar(0.1), floats([1, 1], [2]), scalar(0.9)]
        )
        #expect(error?.code == .failedPrecondition)
        #expect(error?.message.contains("w/Momentum") == true)
        #expect(try w.read().doubleValues == [1, 2])
    }

    @Test func sparseIndexOutOfRange_isInvalidArgumentAndUpdatesNothing() throws {
        let table = try UpdateHarness.variable("table", tensor([1, 2, 3, 4] as [Float], [2, 2]))
        let accum = try UpdateHarness.variable("accum", tensor([1, 1, 1, 1] as [Float], [2, 2]))
        let inputs: [Value] = [
            .ref(table), .ref(accum), scalar(0.1), floats([1, 1, 1, 1], [2, 2]),
            .tensor(tensor([0, 2] as [Int32], [2])),
        ]
        let error = UpdateHarness.error("SparseApplyAdagrad", inputs)
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("Index 2 at offset 1 in indices is out of range") == true)
        #expect(try table.read().doubleValues == [1, 2, 3, 4])
        #expect(try accum.read().doubleValues == [1, 1, 1, 1])
    }

    @Test func sparseRepeatedRow_appliesTwiceInOrder() throws {
        let table = try UpdateHarness.variable("table", tensor([1, 2, 3, 4] as [Float], [2, 2]))
        try UpdateHarness.run(
            "SparseApplyProximalGradientDescent",
            [
                .ref(table), scalar(1), scalar(0), scalar(0), floats([1, 1, 2, 2], [2, 2]),
                .tensor(tensor([1, 1] as [Int64], [2])),
            ]
        )
        #expect(try table.read().doubleValues == [1, 2, 0, 1])
    }

    @Test func scatterOutOfRange_keepsTheRowsBeforeItLikeTensorFlow() throws {
        let table = try UpdateHarness.variable("table", tensor([1, 2, 3] as [Float], [3]))
        let error = UpdateHarness.error(
            "ScatterUpdate",
            [.ref(table), .tensor(tensor([0, 3, 1] as [Int32], [3])), floats([9, 9, 9], [3])]
        )
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("indices[1] = 3 is not in [0, 3)") == true)
        #expect(try table.read().doubleValues == [9, 2, 3])
    }

    @Test func integerScatterDivByZero_isRefusedNotTrapped() throws {
        let counts = try UpdateHarness.variable("counts", tensor([4, 5] as [Int32], [2]))
        let error = UpdateHarness.error(
            "ScatterDiv",
            [.ref(counts), .tensor(tensor([0] as [Int32], [1])), .tensor(tensor([0] as [Int32], [1]))]
        )
        #expect(error?.code == .invalidArgument)
        #expect(try counts.read().doubleValues == [4, 5])
    }

    @Test func gradientOfAnotherDType_isInvalidArgument() throws {
        let w = try UpdateHarness.variable("w", tensor([1, 2] as [Float], [2]))
        let error = UpdateHarness.error(
            "ApplyGradientDescent",
            [.ref(w), scalar(0.1), .tensor(tensor([1, 1] as [Double], [2]))]
        )
        #expect(error?.code == .invalidArgument)
    }

    /// Updates of overlapping variable sets, named in opposite orders, lock in one global order
    /// and so never deadlock; every increment lands.
    @Test func overlappingMultiVariableUpdates_neverDeadlock() async throws {
        let a = try UpdateHarness.variable("a", Tensor(Float(0)))
        let b = try UpdateHarness.variable("b", Tensor(Float(0)))
        let rounds = 500
        await withTaskGroup(of: Void.self) { group in
            for order in [[a, b], [b, a]] {
                group.addTask {
                    for _ in 0..<rounds {
                        try? VariableResource.update(order) { old in
                            old.map { Tensor(($0.scalar(as: Float.self) ?? 0) + 1) }
                        }
                    }
                }
            }
        }
        #expect(try a.read().scalar(as: Float.self) == Float(2 * rounds))
        #expect(try b.read().scalar(as: Float.self) == Float(2 * rounds))
    }
}

/// Resource variables: handles from `VarHandleOp`, variables in the session's container.
@Suite struct ResourceVariableOpsTests {
    private static func handle(_ name: String, resources: ResourceContainer) throws -> Value {
        let outputs = try UpdateHarness.run(
            "VarHandleOp",
            [],
            ["dtype": KernelHarness.type(.float), "shared_name": KernelHarness.string(name)],
            resources: resources
        )
        return try #require(outputs.first)
    }

    @Test func readingAVariableNeverAssigned_isFailedPreconditionNamingIt() throws {
        let resources = ResourceContainer()
        let handle = try Self.handle("w", resources: resources)
        do {
            try UpdateHarness.run(
                "ReadVariableOp",
                [handle],
                ["dtype": KernelHarness.type(.float)],
                resources: resources
            )
            Issue.record("reading an uninitialized resource variable must fail")
        } catch let error as WeftError {
            #expect(error.code == .failedPrecondition)
            #expect(error.message.contains("Could not find variable w"))
            #expect(error.message.contains("container=localhost"))
        }
    }

    @Test func emptySharedName_namesTheVariableAfterTheNode() throws {
        let outputs = try UpdateHarness.run("VarHandleOp", [], ["dtype": KernelHarness.type(.int32)])
        let handle = try #require(try outputs.first?.read().handles.first)
        #expect(handle.name == "k_VarHandleOp")
        #expect(handle.dtype == .int32)
    }

    /// The resource form runs the ref form's update: both give the same values.
    @Test func resourceMomentum_matchesTheRefForm() throws {
        let resources = ResourceContainer()
        let w = try Self.handle("w", resources: resources)
        let accum = try Self.handle("accum", resources: resources)
        for (handle, value) in [(w, tensor([1, 2] as [Float], [2])), (accum, tensor([0.5, 0.5] as [Float], [2]))] {
            try UpdateHarness.run("AssignVariableOp", [handle, .tensor(value)], resources: resources)
        }
        let refW = try UpdateHarness.variable("w", tensor([1, 2] as [Float], [2]))
        let refAccum = try UpdateHarness.variable("accum", tensor([0.5, 0.5] as [Float], [2]))
        let rest: [Value] = [
            .tensor(Tensor(Float(0.1))), .tensor(tensor([1, -3] as [Float], [2])), .tensor(Tensor(Float(0.9))),
        ]
        let nesterov = ["use_nesterov": KernelHarness.bool(true)]
        let none = try UpdateHarness.run("ResourceApplyMomentum", [w, accum] + rest, nesterov, resources: resources)
        try UpdateHarness.run("ApplyMomentum", [.ref(refW), .ref(refAccum)] + rest, nesterov)
        #expect(none.isEmpty)
        let key = ResourceContainer.ResourceKey(container: "", name: "w")
        #expect(try resources.resourceVariable(key)?.read() == refW.read())
    }

    @Test func gatherOutOfRange_namesTheIndexPosition() throws {
        let resources = ResourceContainer()
        let table = try Self.handle("table", resources: resources)
        try UpdateHarness.run(
            "AssignVariableOp",
            [table, .tensor(tensor([1, 2, 3, 4] as [Float], [2, 2]))],
            resources: resources
        )
        do {
            try UpdateHarness.run(
                "ResourceGather",
                [table, .tensor(tensor([1, 0, 1, 5] as [Int32], [2, 2]))],
                ["dtype": KernelHarness.type(.float)],
                resources: resources
            )
            Issue.record("an index out of range must fail")
        } catch let error as WeftError {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("indices[1,1] = 5 is not in [0, 2)"))
        }
    }
}
