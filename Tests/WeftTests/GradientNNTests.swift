import Testing
import WeftProto
import WeftRuntime

@testable import Weft

/// Finite differences on the neural-network ops: products, convolutions, pools, batch norm,
/// losses.
@Suite struct GradientNNTests {
    static let t = Tensorflow_AttrValue.type(.double)

    static let products: [GradientCase] = {
        let a = GradientChecker.tensor([2, 3], seed: 51)
        let b = GradientChecker.tensor([3, 4], seed: 52)
        let aT = GradientChecker.tensor([3, 2], seed: 53)
        let bT = GradientChecker.tensor([4, 3], seed: 54)
        var cases = [(a, b, false, false), (a, bT, false, true), (aT, b, true, false), (aT, bT, true, true)].map {
            x,
            y,
            ta,
            tb in
            GradientCase(description: "MatMul transposeA \(ta) transposeB \(tb)", inputs: [x, y]) { xs in
                matMul(xs[0], xs[1], transposeA: ta, transposeB: tb)
            }
        }
        let left = GradientChecker.tensor([2, 1, 2, 3], seed: 55)
        let right = GradientChecker.tensor([3, 3, 2], seed: 56)
        let rightAdjoint = GradientChecker.tensor([3, 2, 3], seed: 57)
        let leftAdjoint = GradientChecker.tensor([2, 1, 3, 2], seed: 58)
        for (x, y, adjX, adjY) in [
            (left, right, false, false), (left, rightAdjoint, false, true), (leftAdjoint, right, true, false),
            (leftAdjoint, rightAdjoint, true, true),
        ] {
            cases.append(
                GradientCase(description: "BatchMatMulV2 broadcasting, adj_x \(adjX) adj_y \(adjY)", inputs: [x, y]) {
                    OpBuilder.batchMatMul($0[0], $0[1], adjointX: adjX, adjointY: adjY)
                }
            )
        }
        cases.append(
            GradientCase(
                description: "BatchMatMul",
                inputs: [GradientChecker.tensor([2, 2, 3], seed: 59), GradientChecker.tensor([2, 3, 2], seed: 60)]
            ) { xs in TestOps.node("BatchMatMul", xs, ["T": t, "adj_x": .bool(false), "adj_y": .bool(false)]).output() }
        )
        return cases
    }()

    @Test(arguments: products) func product(_ test: GradientCase) throws { try test.check() }

    static let layers: [GradientCase] = {
        let image = GradientChecker.tensor([2, 5, 5, 2], seed: 61)
        let filter = GradientChecker.tensor([3, 3, 2, 3], seed: 62)
        func conv(_ strides: [Int], _ padding: String) -> @Sendable ([Output]) -> Output {
            { xs in
                TestOps.node(
                    "Conv2D",
                    xs,
                    [
                        "T": t, "strides": .ints(strides), "padding": .string(padding),
                        "dilations": .ints([1, 1, 1, 1]),
                        "data_format": .string("NHWC"), "use_cudnn_on_gpu": .bool(true),
                    ]
                ).output()
            }
        }
        func pool(_ op: String, _ size: Int, _ stride: Int, _ padding: String) -> @Sendable ([Output]) -> Output {
            { xs in
                TestOps.node(
                    op,
                    xs,
                    [
                        "T": t, "ksize": .ints([1, size, size, 1]), "strides": .ints([1, stride, stride, 1]),
                        "padding": .string(padding), "data_format": .string("NHWC"),
                    ]
                ).output()
            }
        }
        return [
            GradientCase(
                description: "Conv2D SAME stride 2",
                inputs: [image, filter],
                build: conv([1, 2, 2, 1], "SAME")
            ),
            GradientCase(
                description: "Conv2D VALID stride 1",
                inputs: [image, filter],
                build: conv([1, 1, 1, 1], "VALID")
            ),
            GradientCase(
                description: "DepthwiseConv2dNative",
                inputs: [image, GradientChecker.tensor([2, 2, 2, 2], seed: 63)]
            ) {
                xs in
                TestOps.node(
                    "DepthwiseConv2dNative",
                    xs,
                    [
                        "T": t, "strides": .ints([1, 2, 2, 1]), "padding": .string("SAME"),
                        "data_format": .string("NHWC"), "dilations": .ints([1, 1, 1, 1]),
                    ]
                ).output()
            },
            GradientCase(description: "MaxPool 2×2 VALID", inputs: [image], build: pool("MaxPool", 2, 2, "VALID")),
            GradientCase(
                description: "MaxPool 3×3 SAME stride 2",
                inputs: [image],
                build: pool("MaxPool", 3, 2, "SAME")
            ),
            GradientCase(
                description: "AvgPool 3×3 SAME stride 2",
                inputs: [image],
                build: pool("AvgPool", 3, 2, "SAME")
            ),
            GradientCase(
                description: "AvgPool 2×2 VALID stride 1",
                inputs: [image],
                build: pool("AvgPool", 2, 1, "VALID")
            ),
            GradientCase(description: "BiasAdd NHWC", inputs: [image, GradientChecker.tensor([2], seed: 64)]) { xs in
                TestOps.node("BiasAdd", xs, ["T": t, "data_format": .string("NHWC")]).output()
            },
            GradientCase(description: "BiasAdd NCHW", inputs: [image, GradientChecker.tensor([5], seed: 65)]) { xs in
                TestOps.node("BiasAdd", xs, ["T": t, "data_format": .string("NCHW")]).output()
            },
            GradientCase(description: "L2Loss", inputs: [image]) { xs in TestOps.node("L2Loss", xs, ["T": t]).output()
            },
        ]
    }()

    @Test(arguments: layers) func layer(_ test: GradientCase) throws { try test.check() }

    static let losses: [GradientCase] = {
        let logits = GradientChecker.tensor([3, 4], seed: 71, range: -2...2)
        let labels = probabilities(GradientChecker.tensor([3, 4], seed: 72, range: 0.1...1))
        let sparse = Tensor([Int32(2), 0, 3])
        return [
            GradientCase(description: "SoftmaxCrossEntropyWithLogits loss", inputs: [logits, labels]) { xs in
                TestOps.node("SoftmaxCrossEntropyWithLogits", xs, ["T": t]).output(0)
            },
            GradientCase(
                description: "SoftmaxCrossEntropyWithLogits loss and backprop",
                inputs: [logits, labels],
                checked: [0]
            ) { xs in
                let op = TestOps.node("SoftmaxCrossEntropyWithLogits", xs, ["T": t])
                return op.output(0) + sum(op.output(1) * op.output(1), axes: [1])
            },
            GradientCase(description: "SparseSoftmaxCrossEntropyWithLogits", inputs: [logits, sparse], checked: [0]) {
                xs in
                TestOps.node("SparseSoftmaxCrossEntropyWithLogits", xs, ["T": t, "Tlabels": .type(.int32)]).output(0)
            },
            GradientCase(
                description: "SparseSoftmaxCrossEntropyWithLogits loss and backprop",
                inputs: [logits, sparse],
                checked: [0]
            ) { xs in
                let op = TestOps.node("SparseSoftmaxCrossEntropyWithLogits", xs, ["T": t, "Tlabels": .type(.int32)])
                return op.output(0) * 2 + sum(square(op.output(1)), axes: [1])
            },
        ]
    }()

    @Test(arguments: losses) func loss(_ test: GradientCase) throws { try test.check() }

    /// Batch normalization runs in single precision only (as in TensorFlow), so the differences
    /// use a larger step and tolerance.
    static let batchNorms: [GradientCase] = {
        let x = single(GradientChecker.tensor([2, 3, 2, 3], seed: 81, range: -2...2))
        let scale = single(GradientChecker.tensor([3], seed: 82, range: 0.5...1.5))
        let offset = single(GradientChecker.tensor([3], seed: 83))
        let mean = single(GradientChecker.tensor([3], seed: 84))
        let variance = single(GradientChecker.tensor([3], seed: 85, range: 0.5...2))
        let xNCHW = single(GradientChecker.tensor([2, 3, 2, 2], seed: 86, range: -2...2))
        func batchNorm(_ op: String, training: Bool, format: String = "NHWC") -> @Sendable ([Output]) -> Output {
            { xs in
                var attributes: [String: Tensorflow_AttrValue] = [
                    "T": .type(.float), "epsilon": .with { $0.f = 0.001 }, "is_training": .bool(training),
                    "data_format": .string(format),
                ]
                if op != "FusedBatchNorm" { attributes["U"] = .type(.float) }
                let empty = OpBuilder.constant(Tensor([Float]()), in: xs[0].graph)
                let statistics = training ? [empty, empty] : [xs[3], xs[4]]
                return TestOps.node(op, [xs[0], xs[1], xs[2]] + statistics, attributes).output(0)
            }
        }
        return [
            GradientCase(
                description: "FusedBatchNormV3 training",
                inputs: [x, scale, offset],
                step: 1e-2,
                tolerance: 2e-3,
                build: batchNorm("FusedBatchNormV3", training: true)
            ),
            GradientCase(
                description: "FusedBatchNorm training",
                inputs: [x, scale, offset],
                step: 1e-2,
                tolerance: 2e-3,
                build: batchNorm("FusedBatchNorm", training: true)
            ),
            GradientCase(
                description: "FusedBatchNormV2 inference",
                inputs: [x, scale, offset, mean, variance],
                checked: [0, 1, 2],
                step: 1e-2,
                tolerance: 2e-3,
                build: batchNorm("FusedBatchNormV2", training: false)
            ),
            GradientCase(
                description: "FusedBatchNormV3 inference NCHW",
                inputs: [xNCHW, scale, offset, mean, variance],
                checked: [0, 1, 2],
                step: 1e-2,
                tolerance: 2e-3,
                build: batchNorm("FusedBatchNormV3", training: false, format: "NCHW")
            ),
        ]
    }()

    @Test(arguments: batchNorms) func batchNorm(_ test: GradientCase) throws { try test.check() }

    /// Rows scaled to sum to 1: the labels the dense cross-entropy kernel assumes, as its
    /// backprop output (and so TensorFlow's gradient) is `softmax − labels`.
    static func probabilities(_ tensor: Tensor) -> Tensor {
        let columns = tensor.shape.dimensions.last ?? 1
        let values = tensor.doubleValues
        let scaled = stride(from: 0, to: values.count, by: columns).flatMap { start in
            let row = values[start..<start + columns]
            let total = row.reduce(0, +)
            return row.map { $0 / total }
        }
        return (try? Tensor(scaled, shape: tensor.shape)) ?? tensor
    }

    static func single(_ tensor: Tensor) -> Tensor {
        (try? Tensor(converting: tensor.doubleValues, to: .float, shape: tensor.shape)) ?? tensor
    }
}
