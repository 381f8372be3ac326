import Foundation
import Testing
import WeftRuntime

@testable import Weft

/// Element-wise kernels write their result into an input's buffer only when nothing else holds
/// it: a fetched value, a fed tensor, a variable and a loop's carried value keep theirs.
@Suite struct BufferForwardingTests {
    @Test func chainOfElementwiseOps_leavesFetchedAndFedValuesIntact() throws {
        let graph = Graph()
        let (x, shifted, scaled, negated) = graph.asDefault { () -> (Output, Output, Output, Output) in
            let x = placeholder(.float, shape: [3], name: "x")
            let shifted = x + 1
            return (x, shifted, tanh(shifted) * 2, negate(x))
        }
        let fed = Tensor([Float(-1), 0, 2])
        let session = Session(graph: graph)
        defer { session.close() }
        for _ in 0..<2 {
            let values = try session.run([shifted, scaled, negated], feeding: [x: fed])
            #expect(try values[0].scalars(as: Float.self) == [0, 1, 3])
            expectClose(try values[1].scalars(as: Float.self), [0, 1, 3].map { 2 * tanhf($0) })
            #expect(try values[2].scalars(as: Float.self) == [1, 0, -2])
            #expect(try fed.scalars(as: Float.self) == [-1, 0, 2])
        }
    }

    @Test func variableReadByAChain_keepsItsValue() throws {
        let graph = Graph()
        let (variable, result) = graph.asDefault { () -> (Variable, Output) in
            let variable = Variable([Float(1), 2], name: "v")
            return (variable, tanh(variable.value + 1) - 1)
        }
        let session = Session(graph: graph)
        defer { session.close() }
        try session.run(graph.asDefault { globalVariablesInitializer() })
        for _ in 0..<2 {
            let value = try session.run(result)
            expectClose(try value.scalars(as: Float.self), [2, 3].map { tanhf($0) - 1 })
            #expect(try session.run(variable.value).scalars(as: Float.self) == [1, 2])
        }
    }

    @Test func loopCarryingAVector_matchesTheSameStepsUnrolled() throws {
        let graph = Graph()
        let result = graph.asDefault { () -> Output in
            let start = constant([Float(0.5), -0.25])
            let step = constant([Float(0.1), 0.2])
            let outputs = whileLoop([constant(Int32(0)), start]) {
                less($0[0], constant(Int32(3)))
            } body: {
                [$0[0] + 1, tanh($0[1] + step) * 2]
            }
            return outputs[1] - start
        }
        let session = Session(graph: graph)
        defer { session.close() }
        var expected: [Float] = [0.5, -0.25]
        for _ in 0..<3 { expected = zip(expected, [Float(0.1), 0.2]).map { 2 * tanhf($0 + $1) } }
        let value = try session.run(result)
        expectClose(try value.scalars(as: Float.self), zip(expected, [Float(0.5), -0.25]).map { $0 - $1 })
    }

    /// Weft's `Tanh` is a vectorised approximation within a few ulp of the C library's.
    private func expectClose(_ actual: [Float], _ expected: [Float], sourceLocation: SourceLocation = #_sourceLocation)
    {
        #expect(actual.count == expected.count, sourceLocation: sourceLocation)
        for (a, e) in zip(actual, expected) {
            #expect(abs(a - e) <= 1e-6, "\(actual) against \(expected)", sourceLocation: sourceLocation)
        }
    }
}
