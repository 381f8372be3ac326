import Testing
import WeftProto

@testable import WeftRuntime

/// An element-wise kernel called in place (`SingleOutputKernel`) writes its result into the
/// buffer of an input that nothing else holds, and into a new one otherwise.
@Suite struct ElementwiseReuseTests {
    static func kernel(_ op: String, inputs: Int) throws -> any SingleOutputKernel {
        let info = try KernelHarness.node(op, inputs: inputs, attrs: ["T": .with { $0.type = .dtFloat }])
        let kernel = try OpRegistry.standard.definition(of: op, node: info.name).makeKernel(info)
        return try #require(kernel as? any SingleOutputKernel)
    }

    /// Runs `kernel` on a new tensor of `values` that only the context holds, and on one that
    /// the caller holds too; returns whether each result went into its input's buffer.
    static func wroteInPlace(_ kernel: any SingleOutputKernel, _ values: [Float], extra: [Value]) throws -> (Bool, Bool)
    {
        let step = StepContext(id: 1, resources: ResourceContainer())
        var context = OpKernelContext(node: "n", inputs: [.tensor(Tensor(values))] + extra, step: step)
        guard case .tensor(let input) = context.inputs[0] else { return (false, false) }
        let unshared = ObjectIdentifier(input.buffer)
        _ = consume input
        guard case .tensor(let alone) = try kernel.computeOutput(&context) else { return (false, false) }
        let held = Tensor(values)
        context = OpKernelContext(node: "n", inputs: [.tensor(held)] + extra, step: step)
        guard case .tensor(let beside) = try kernel.computeOutput(&context) else { return (false, false) }
        #expect(try held.scalars(as: Float.self) == values, "a held input keeps its values")
        return (
            ObjectIdentifier(alone.buffer) == unshared, ObjectIdentifier(beside.buffer) == ObjectIdentifier(held.buffer)
        )
    }

    @Test func unaryKernel_writesIntoAnInputNothingElseHolds() throws {
        let (alone, beside) = try Self.wroteInPlace(Self.kernel("Tanh", inputs: 1), [0.5, -1], extra: [])
        #expect(alone)
        #expect(!beside)
    }

    @Test func binaryKernel_writesIntoAnInputNothingElseHolds() throws {
        let other: [Value] = [.tensor(Tensor([Float(1), 2]))]
        let (alone, beside) = try Self.wroteInPlace(Self.kernel("Add", inputs: 2), [0.5, -1], extra: other)
        #expect(alone)
        #expect(!beside)
    }
}
