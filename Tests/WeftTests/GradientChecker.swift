import Testing
import WeftRuntime

@testable import Weft

/// Compares the gradients `gradients(of:with:)` builds with central differences of the
/// forward computation, both run by a real session on float64 values.
///
/// For `y = f(x₁, …, xₙ)` it takes a fixed random `v` of `y`'s shape, builds the gradients with
/// `gradYs: [v]` (so each is `Jᵀv`) and compares every element with
/// `(⟨v, f(x + h·eᵢ)⟩ − ⟨v, f(x − h·eᵢ)⟩) / 2h`.
struct GradientChecker {
    /// The inputs, fed to float64 placeholders.
    var inputs: [Tensor]
    /// The step of the central differences.
    var step = 1e-6
    /// How close analytic and numeric must be: `|a − n| ≤ tolerance · (1 + |n|)`.
    var tolerance = 1e-6
    /// The gradient functions to check.
    var registry = GradientRegistry.standard

    /// Builds `f` on placeholders for the inputs and checks its gradient with respect to each
    /// input whose index is in `checked` (all by default); returns the largest error seen.
    @discardableResult
    func check(
        checked: Set<Int>? = nil,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ f: ([Output]) -> Output
    ) throws -> Double {
        let graph = Graph()
        let placeholders = graph.asDefault {
            inputs.enumerated().map { index, tensor in
                placeholder(tensor.dtype, shape: tensor.shape.dimensions.map { $0 }, name: "x\(index)")
            }
        }
        let y = graph.asDefault { f(placeholders) }
        let session = Session(graph: graph)
        defer { session.close() }
        let feeds = Dictionary(uniqueKeysWithValues: zip(placeholders, inputs))
        let forward = try session.run(y, feeding: feeds)
        let weights = Self.pseudoRandom(count: forward.elementCount, seed: 7)
        let v = try Tensor(converting: weights, to: y.dtype, shape: forward.shape)
        let indices = (checked ?? Set(inputs.indices)).sorted()
        let gradients = try graph.gradients(
            of: [y],
            with: indices.map { placeholders[$0] },
            gradYs: [graph.asDefault { constant(v, name: "v") }],
            registry: registry
        )
        var worst = 0.0
        for (index, gradient) in zip(indices, gradients) {
            let gradient = try #require(gradient, "input \(index) got no gradient", sourceLocation: sourceLocation)
            let analytic = try session.run(gradient, feeding: feeds)
            #expect(analytic.shape == inputs[index].shape, "input \(index)", sourceLocation: sourceLocation)
            var values = inputs[index].doubleValues
            for element in values.indices {
                let original = values[element]
                var sides: [Double] = []
                for sign in [1.0, -1.0] {
                    values[element] = original + sign * step
                    var shifted = feeds
                    shifted[placeholders[index]] = try Tensor(
                        converting: values,
                        to: inputs[index].dtype,
                        shape: inputs[index].shape
                    )
                    let output = try session.run(y, feeding: shifted).doubleValues
                    sides.append(zip(output, weights).reduce(0) { $0 + $1.0 * $1.1 })
                }
                values[element] = original
                let numeric = (sides[0] - sides[1]) / (2 * step)
                let got = analytic.doubleValues[element]
                let error = Swift.abs(got - numeric) / (1 + Swift.abs(numeric))
                worst = Swift.max(worst, error)
                #expect(
                    error <= tolerance,
                    "input \(index) element \(element): gradient \(got), finite differences \(numeric)",
                    sourceLocation: sourceLocation
                )
            }
        }
        return worst
    }

    /// Deterministic values in [-1, 1] that are never close to 0, so no weight hides an error.
    static func pseudoRandom(count: Int, seed: UInt64) -> [Double] {
        var state = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let unit = Double(state >> 11) / Double(1 << 53)
            return (unit < 0.5 ? -1 : 1) * (0.3 + 0.7 * (unit < 0.5 ? unit * 2 : unit * 2 - 1))
        }
    }

    /// A float64 tensor of `shape` with deterministic values spread over `range`.
    static func tensor(_ shape: [Int], seed: UInt64 = 1, range: ClosedRange<Double> = -1...1) -> Tensor {
        let count = shape.reduce(1, *)
        var state = seed &* 2_862_933_555_777_941_757 &+ 3_037_000_493
        let values = (0..<count).map { _ -> Double in
            state = state &* 2_862_933_555_777_941_757 &+ 3_037_000_493
            return range.lowerBound + (range.upperBound - range.lowerBound) * Double(state >> 11) / Double(1 << 53)
        }
        return (try? Tensor(values, shape: TensorShape(shape))) ?? Tensor(values)
    }
}
