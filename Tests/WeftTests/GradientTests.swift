import Testing
import WeftRuntime

@testable import Weft

/// The gradient walk itself: aggregation, stops, unconnected inputs, errors, names.
@Suite struct GradientTests {
    @Test func twoPaths_addUp() throws {
        let x = GradientChecker.tensor([2, 3], seed: 3)
        try GradientChecker(inputs: [x]).check { xs in xs[0] * xs[0] + tanh(xs[0]) }
    }

    @Test func matMulAndBroadcastAdd() throws {
        let a = GradientChecker.tensor([2, 3], seed: 1)
        let b = GradientChecker.tensor([3, 4], seed: 2)
        let c = GradientChecker.tensor([4], seed: 3)
        try GradientChecker(inputs: [a, b, c]).check { xs in matMul(xs[0], xs[1]) + xs[2] }
    }
}
