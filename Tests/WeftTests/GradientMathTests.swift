import Testing
import WeftProto
import WeftRuntime

@testable import Weft

/// A gradient to check by finite differences: inputs and the forward computation.
struct GradientCase: Sendable, CustomStringConvertible {
    var description: String
    var inputs: [Tensor]
    /// The inputs whose gradient is checked; `nil` for all.
    var checked: Set<Int>? = nil
    var step = 1e-6
    var tolerance = 1e-6
    var build: @Sendable ([Output]) -> Output

    func check() throws {
        try GradientChecker(inputs: inputs, step: step, tolerance: tolerance).check(checked: checked, build)
    }
}

/// Node builders for the gradient tests.
enum TestOps {
    /// A node of any op, with attributes.
    static func node(_ op: String, _ inputs: [Output], _ attributes: [String: Tensorflow_AttrValue] = [:]) -> Operation
    {
        OpBuilder.node(op, inputs, attributes)
    }

    /// An `int32` vector constant.
    static func int32s(_ values: [Int], in graph: Graph) -> Output {
        OpBuilder.constant(values.map(Int32.init), in: graph)
    }
}

/// Finite differences on every element-wise op with a gradient.
@Suite struct GradientMathTests {
    static let unary: [GradientCase] = {
        let wide = GradientChecker.tensor([2, 3], seed: 11, range: -2...2)
        let positive = GradientChecker.tensor([2, 3], seed: 12, range: 0.5...2)
        let ops = [
            "Neg", "Square", "Exp", "Expm1", "Tanh", "Sigmoid", "Sin", "Cos", "Erf", "Softplus", "Softsign", "Selu",
            "Elu",
            "Relu", "Abs", "Sign", "Identity", "Snapshot",
        ]
        return ops.map { op in GradientCase(description: op, inputs: [wide]) { OpBuilder.unary(op, $0[0]) } }
            + ["Log", "Log1p", "Sqrt", "Rsqrt", "Reciprocal"].map { op in
                GradientCase(description: op, inputs: [positive]) { OpBuilder.unary(op, $0[0]) }
            }
            + [
                GradientCase(description: "Relu6", inputs: [GradientChecker.tensor([3, 4], seed: 13, range: -3...9)]) {
                    OpBuilder.unary("Relu6", $0[0])
                },
                GradientCase(description: "LeakyRelu", inputs: [wide]) {
                    TestOps.node("LeakyRelu", $0, ["T": .type(.double), "alpha": .with { $0.f = 0.3 }]).output()
                },
                GradientCase(description: "Softmax", inputs: [wide]) { softmax($0[0]) },
                GradientCase(description: "LogSoftmax", inputs: [wide]) { OpBuilder.unary("LogSoftmax", $0[0]) },
                GradientCase(description: "Cast double→double", inputs: [wide]) {
                    cast($0[0], to: .double)
                },
            ]
    }()

    @Test(arguments: unary) func unaryOp(_ test: GradientCase) throws { try test.check() }

    static let binary: [GradientCase] = {
        let x = GradientChecker.tensor([2, 3], seed: 21, range: -2...2)
        let row = GradientChecker.tensor([3], seed: 22, range: -2...2)
        let column = GradientChecker.tensor([2, 1], seed: 23, range: 0.5...2)
        let ops = ["Add", "AddV2", "Sub", "Mul", "Maximum", "Minimum", "SquaredDifference"]
        var cases = ops.flatMap { op in
            [
                GradientCase(description: "\(op) [2,3]×[3]", inputs: [x, row]) { OpBuilder.binary(op, $0[0], $0[1]) },
                GradientCase(description: "\(op) [2,1]×[2,3]", inputs: [column, x]) {
                    OpBuilder.binary(op, $0[0], $0[1])
                },
            ]
        }
        cases += ["Div", "RealDiv", "DivNoNan"].map { op in
            GradientCase(description: "\(op) [2,3]/[2,1]", inputs: [x, column]) { OpBuilder.binary(op, $0[0], $0[1]) }
        }
        cases.append(
            GradientCase(
                description: "Pow [2,1]^[2,3]",
                inputs: [column, GradientChecker.tensor([2, 3], seed: 24, range: -1.5...1.5)]
            ) { pow($0[0], $0[1]) }
        )
        cases.append(
            GradientCase(description: "AddN", inputs: [x, x, x]) { xs in addN([xs[0], xs[1] * xs[2], xs[0]]) }
        )
        cases.append(
            GradientCase(description: "IdentityN", inputs: [x, row]) { xs in
                let op = TestOps.node("IdentityN", xs, ["T": .with { $0.list.type = [.dtDouble, .dtDouble] }])
                return op.output(0) * 2 + sum(op.output(1))
            }
        )
        return cases
    }()

    @Test(arguments: binary) func binaryOp(_ test: GradientCase) throws { try test.check() }

    static let reductions: [GradientCase] = {
        let x = GradientChecker.tensor([2, 3, 4], seed: 31, range: 0.5...1.5)
        var cases: [GradientCase] = []
        for op in ["Sum", "Mean", "Max", "Min", "Prod"] {
            for (axes, keep) in [([1], false), ([0, -1], true), ([-3, 1, 2], false)] {
                cases.append(
                    GradientCase(description: "\(op) axes \(axes) keepDims \(keep)", inputs: [x]) { xs in
                        OpBuilder.reduce(op, xs[0], axes: TestOps.int32s(axes, in: xs[0].graph), keepDims: keep)
                    }
                )
            }
            cases.append(
                GradientCase(description: "\(op) scalar axis", inputs: [x]) { xs in
                    OpBuilder.reduce(op, xs[0], axes: OpBuilder.constant(Int32(-2), in: xs[0].graph))
                }
            )
        }
        // Zeros in a product: the gradient is the product of the others, not a division.
        let zeros = try! Tensor([0.0, 2, 3, 0, 0, 1.5], shape: [2, 3])
        cases.append(GradientCase(description: "Prod with zeros", inputs: [zeros]) { product($0[0], axes: [1]) })
        return cases
    }()

    @Test(arguments: reductions) func reduction(_ test: GradientCase) throws { try test.check() }

    @Test func cast_toSingleAndBack_passesTheGradientConverted() throws {
        let graph = Graph()
        let (x, y) = graph.asDefault { () -> (Output, Output) in
            let x = placeholder(.double, shape: [3], name: "x")
            return (x, sum(cast(x, to: .float) * constant(Float(3))))
        }
        let gradient = try #require(try graph.gradients(of: y, with: x))
        #expect(gradient.dtype == .double)
        let value = try Session(graph: graph).run(gradient, feeding: [x: Tensor([1.0, 2, 3])])
        #expect(value.doubleValues == [3, 3, 3])
    }
}
