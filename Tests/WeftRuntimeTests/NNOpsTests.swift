import Foundation
import Testing
import WeftProto

@testable import WeftRuntime

/// Properties of the convolution, pooling, batch-norm, loss and einsum kernels that the
/// TensorFlow-made conformance cases do not pin: agreement with a direct computation on
/// irregular sizes, adjointness of the gradients, and the errors for inputs TensorFlow refuses.
@Suite struct NNOpsTests {
    typealias H = KernelHarness

    /// Deterministic values in [-1, 1).
    static func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float((($0 &* 7919 &+ seed &* 104_729) % 2003)) / 1001.5 - 1 }
    }

    static func convAttributes(stride: Int, padding: String, dilation: Int = 1) -> [String: Tensorflow_AttrValue] {
        [
            "strides": H.ints([1, stride, stride, 1]), "padding": H.string(padding),
            "dilations": H.ints([1, dilation, dilation, 1]),
        ]
    }

    /// A direct NHWC convolution in double precision, for SAME or VALID padding and groups.
    static func directConv(
        _ x: [Float],
        _ xs: [Int],
        _ w: [Float],
        _ ws: [Int],
        stride: Int,
        dilation: Int,
        same: Bool
    ) -> [Double] {
        let (n, h, wd, c) = (xs[0], xs[1], xs[2], xs[3])
        let (kh, kw, ci, co) = (ws[0], ws[1], ws[2], ws[3])
        let groups = c / ci
        let (eh, ew) = ((kh - 1) * dilation + 1, (kw - 1) * dilation + 1)
        let oh = same ? (h + stride - 1) / stride : (h - eh + stride) / stride
        let ow = same ? (wd + stride - 1) / stride : (wd - ew + stride) / stride
        let top = same ? max(0, (oh - 1) * stride + eh - h) / 2 : 0
        let left = same ? max(0, (ow - 1) * stride + ew - wd) / 2 : 0
        var out = [Double](repeating: 0, count: n * oh * ow * co)
        for b in 0..<n {
            for y in 0..<oh {
                for x0 in 0..<ow {
                    for o in 0..<co {
                        let group = o / (co / groups)
                        var total = 0.0
                        for ty in 0..<kh {
                            for tx in 0..<kw {
                                let iy = y * stride - top + ty * dilation
                                let ix = x0 * stride - left + tx * dilation
                                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                                for i in 0..<ci {
                                    let input = x[((b * h + iy) * wd + ix) * c + group * ci + i]
                                    total += Double(input) * Double(w[((ty * kw + tx) * ci + i) * co + o])
                                }
                            }
                        }
                        out[((b * oh + y) * ow + x0) * co + o] = total
                    }
                }
            }
        }
        return out
    }

    @Test(arguments: [
        (stride: 1, dilation: 1, padding: "SAME", inDepth: 3, filterDepth: 3),
        (stride: 2, dilation: 1, padding: "SAME", inDepth: 3, filterDepth: 3),
        (stride: 2, dilation: 1, padding: "VALID", inDepth: 4, filterDepth: 2),
        (stride: 1, dilation: 2, padding: "SAME", inDepth: 2, filterDepth: 2),
        (stride: 3, dilation: 2, padding: "VALID", inDepth: 6, filterDepth: 2),
    ])
    func conv2D_matchesDirectConvolution(
        stride: Int,
        dilation: Int,
        padding: String,
        inDepth: Int,
        filterDepth: Int
    ) throws {
        let xs = [3, 9, 8, inDepth]
        let ws = [3, 2, filterDepth, 6]
        let x = Self.values(xs.reduce(1, *), seed: 1)
        let w = Self.values(ws.reduce(1, *), seed: 2)
        let out = try H.run1(
            "Conv2D",
            [tensor(x, TensorShape(xs)), tensor(w, TensorShape(ws))],
            Self.convAttributes(stride: stride, padding: padding, dilation: dilation)
        )
        let expected = Self.directConv(x, xs, w, ws, stride: stride, dilation: dilation, same: padding == "SAME")
        #expect(out.elementCount == expected.count)
        #expect(close(out.doubleValues, expected, tolerance: 1e-5))
    }

    /// The gradients are the adjoints of the convolution: ⟨conv(x, w), dy⟩ equals both
    /// ⟨x, backpropInput(w, dy)⟩ and ⟨w, backpropFilter(x, dy)⟩.
    @Test(arguments: [(1, "SAME"), (2, "SAME"), (2, "VALID"), (1, "VALID")])
    func convGradients_areAdjoints(stride: Int, padding: String) throws {
        let xs = [2, 7, 6, 3]
        let ws = [3, 3, 3, 4]
        var attrs = Self.convAttributes(stride: stride, padding: padding)
        attrs["T"] = H.type(.float)
        let x = tensor(Self.values(xs.reduce(1, *), seed: 3), TensorShape(xs))
        let w = tensor(Self.values(ws.reduce(1, *), seed: 4), TensorShape(ws))
        let y = try H.run1("Conv2D", [x, w], attrs)
        let dy = tensor(Self.values(y.elementCount, seed: 5), y.shape)
        let dx = try H.run1("Conv2DBackpropInput", [tensor(xs.map { Int32($0) }, [4]), w, dy], attrs)
        let dw = try H.run1("Conv2DBackpropFilter", [x, tensor(ws.map { Int32($0) }, [4]), dy], attrs)
        func dot(_ a: Tensor, _ b: Tensor) -> Double {
            zip(a.doubleValues, b.doubleValues).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let reference = dot(y, dy)
        #expect(abs(dot(x, dx) - reference) <= 1e-4 * abs(reference))
        #expect(abs(dot(w, dw) - reference) <= 1e-4 * abs(reference))
    }

    @Test func depthwiseGradients_areAdjoints() throws {
        let xs = [2, 6, 5, 3]
        let ws = [3, 2, 3, 2]
        var attrs = Self.convAttributes(stride: 2, padding: "SAME")
        attrs["T"] = H.type(.float)
        let x = tensor(Self.values(xs.reduce(1, *), seed: 6), TensorShape(xs))
        let w = tensor(Self.values(ws.reduce(1, *), seed: 7), TensorShape(ws))
        let y = try H.run1("DepthwiseConv2dNative", [x, w], attrs)
        #expect(y.shape == [2, 3, 3, 6])
        let dy = tensor(Self.values(y.elementCount, seed: 8), y.shape)
        let dx = try H.run1("DepthwiseConv2dNativeBackpropInput", [tensor(xs.map { Int32($0) }, [4]), w, dy], attrs)
        let dw = try H.run1("DepthwiseConv2dNativeBackpropFilter", [x, tensor(ws.map { Int32($0) }, [4]), dy], attrs)
        func dot(_ a: Tensor, _ b: Tensor) -> Double {
            zip(a.doubleValues, b.doubleValues).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let reference = dot(y, dy)
        #expect(abs(dot(x, dx) - reference) <= 1e-4 * abs(reference))
        #expect(abs(dot(w, dw) - reference) <= 1e-4 * abs(reference))
    }

    @Test func convFilterGradient_hugeFilterSizes_isResourceExhausted() {
        let x = tensor([Float](repeating: 1, count: 4), [1, 2, 2, 1])
        let dy = tensor([Float](repeating: 1, count: 4), [1, 2, 2, 1])
        let sizes = tensor([1 << 30, 1 << 30, 1, 1] as [Int32], [4])
        let error = H.error("Conv2DBackpropFilter", [x, sizes, dy], Self.convAttributes(stride: 1, padding: "SAME"))
        #expect(error?.code == .resourceExhausted)
    }

    @Test func convBackpropInput_hugeInputSizes_isRefused() {
        let w = tensor([Float](repeating: 1, count: 1), [1, 1, 1, 1])
        let dy = tensor([Float](repeating: 1, count: 1), [1, 1, 1, 1])
        let sizes = tensor([1, Int64.max, 1, 1] as [Int64], [4])
        var attrs = Self.convAttributes(stride: 1, padding: "VALID")
        attrs["T"] = H.type(.float)
        let error = H.error("Conv2DBackpropInput", [sizes, w, dy], attrs)
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("below 2^31") == true)
    }

    @Test func convGradients_refuseDilationsAndGroups_likeTensorFlowsCPU() {
        let x = tensor(Self.values(2 * 5 * 5 * 4, seed: 9), [2, 5, 5, 4])
        let dy = tensor(Self.values(2 * 5 * 5 * 6, seed: 10), [2, 5, 5, 6])
        let grouped = tensor([3, 3, 2, 6] as [Int32], [4])
        #expect(
            H.error("Conv2DBackpropFilter", [x, grouped, dy], Self.convAttributes(stride: 1, padding: "SAME"))?.code
                == .invalidArgument
        )
        let dilated = Self.convAttributes(stride: 1, padding: "SAME", dilation: 2)
        let filterSizes = tensor([3, 3, 4, 6] as [Int32], [4])
        #expect(H.error("Conv2DBackpropFilter", [x, filterSizes, dy], dilated)?.code == .invalidArgument)
        let w = tensor(Self.values(3 * 3 * 4 * 1, seed: 11), [3, 3, 4, 1])
        #expect(H.error("DepthwiseConv2dNative", [x, w], dilated)?.code == .unimplemented)
    }

    @Test func conv2D_badStridesAttribute_isInvalidArgument() {
        let x = tensor([Float](repeating: 1, count: 16), [1, 4, 4, 1])
        let w = tensor([Float](repeating: 1, count: 1), [1, 1, 1, 1])
        var attrs = Self.convAttributes(stride: 1, padding: "SAME")
        attrs["strides"] = H.ints([2, 1, 1, 1])
        #expect(H.error("Conv2D", [x, w], attrs)?.code == .invalidArgument)
        attrs["strides"] = H.ints([1, 0, 1, 1])
        #expect(H.error("Conv2D", [x, w], attrs)?.code == .invalidArgument)
        attrs["strides"] = H.ints([1, 1, 1, 1])
        attrs["padding"] = H.string("EXPLICIT")
        attrs["explicit_paddings"] = H.ints([0, 0, 1, 1, 1, Int(Int64.max), 0, 0])
        #expect(H.error("Conv2D", [x, w], attrs)?.code == .invalidArgument)
    }

    @Test func maxPoolGrad_sendsGradientToFirstMaximum() throws {
        let x = tensor([2, 5, 5, 1] as [Float], [1, 2, 2, 1])
        let attrs: [String: Tensorflow_AttrValue] = [
            "ksize": H.ints([1, 2, 2, 1]), "strides": H.ints([1, 2, 2, 1]), "padding": H.string("VALID"),
        ]
        let y = try H.run1("MaxPool", [x], attrs)
        #expect(try y.scalars(as: Float.self) == [5])
        let dx = try H.run1("MaxPoolGrad", [x, y, tensor([3] as [Float], [1, 1, 1, 1])], attrs)
        #expect(try dx.scalars(as: Float.self) == [0, 3, 0, 0])
    }

    /// Taps in the padding cost nothing, so a window of 2³¹ − 1 pixels per side pools a small
    /// input at once (and no size computation overflows).
    @Test func pooling_hugeWindow_visitsOnlyTapsInsideTheInput() throws {
        let x = tensor([1, 4, 2, 3] as [Float], [1, 2, 2, 1])
        let huge = Int(Int32.max)
        let attrs: [String: Tensorflow_AttrValue] = [
            "ksize": H.ints([1, huge, huge, 1]), "strides": H.ints([1, 1, 1, 1]), "padding": H.string("SAME"),
        ]
        #expect(try H.run1("MaxPool", [x], attrs).scalars(as: Float.self) == [4, 4, 4, 4])
        #expect(try H.run1("AvgPool", [x], attrs).scalars(as: Float.self) == [2.5, 2.5, 2.5, 2.5])
    }

    @Test func avgPool_same_countsOnlyTapsInsideTheInput() throws {
        let x = tensor([1, 2, 3, 4] as [Float], [1, 2, 2, 1])
        let attrs: [String: Tensorflow_AttrValue] = [
            "ksize": H.ints([1, 3, 3, 1]), "strides": H.ints([1, 1, 1, 1]), "padding": H.string("SAME"),
        ]
        #expect(try H.run1("AvgPool", [x], attrs).scalars(as: Float.self) == [2.5, 2.5, 2.5, 2.5])
    }

    @Test func fusedBatchNorm_training_normalisesEachChannel() throws {
        let x = tensor(Self.values(4 * 3 * 2 * 2, seed: 12).map { $0 * 5 + 3 }, [4, 3, 2, 2])
        let ones = tensor([Float](repeating: 1, count: 3), [3])
        let zeros = tensor([Float](repeating: 0, count: 3), [3])
        let empty = tensor([Float](), [0])
        var epsilon = Tensorflow_AttrValue()
        epsilon.value = .f(0)
        let outputs = try H.run(
            "FusedBatchNormV3",
            [x, ones, zeros, empty, empty],
            ["data_format": H.string("NCHW"), "epsilon": epsilon, "U": H.type(.float)]
        )
        #expect(outputs.count == 6)
        let y = try outputs[0].scalars(as: Float.self)
        for channel in 0..<3 {
            let values = (0..<4).flatMap { image in (0..<4).map { Double(y[(image * 3 + channel) * 4 + $0]) } }
            let mean = values.reduce(0, +) / 16
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 16
            #expect(abs(mean) < 1e-5)
            #expect(abs(variance - 1) < 1e-4)
        }
        // The unbiased variance is 16/15 of the biased one kept in reserve_space_2.
        let unbiased = outputs[2].doubleValues
        let biased = outputs[4].doubleValues
        #expect(close(unbiased, biased.map { $0 * 16 / 15 }))
    }

    @Test func sparseCrossEntropy_outOfRangeLabel_isInvalidArgument() {
        let logits = tensor([Float](repeating: 0, count: 6), [2, 3])
        let error = H.error(
            "SparseSoftmaxCrossEntropyWithLogits",
            [logits, tensor([0, 3] as [Int32], [2])],
            ["Tlabels": H.type(.int32)]
        )
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("outside the valid range of [0, 3)") == true)
    }

    @Test func crossEntropy_ofUniformLogits_isLogOfClassCount() throws {
        let logits = tensor([Float](repeating: 7, count: 8), [2, 4])
        let labels = tensor([0.25, 0.25, 0.25, 0.25] as [Float], [4])
        let outputs = try H.run("SoftmaxCrossEntropyWithLogits", [logits, labels])
        #expect(close(outputs[0].doubleValues, [log(4), log(4)]))
        #expect(close(outputs[1].doubleValues, [Double](repeating: 0, count: 8)))
    }

    @Test func einsum_malformedEquationsAreInvalid() {
        let x = tensor([Float](repeating: 1, count: 9), [3, 3])
        let einsum = { (equation: String) in
            H.error("Einsum", [x], ["equation": H.string(equation), "N": H.int(1)])
        }
        #expect(einsum("ij")?.code == .invalidArgument)
        #expect(einsum("ij->k")?.code == .invalidArgument)
        #expect(einsum("ijk->ij")?.code == .invalidArgument)
        #expect(einsum("i.j->ij")?.code == .invalidArgument)
    }

    @Test func einsum_broadcastsEllipsis() throws {
        let a = tensor(Self.values(2 * 1 * 2 * 3, seed: 13), [2, 1, 2, 3])
        let b = tensor(Self.values(4 * 3 * 2, seed: 14), [4, 3, 2])
        let out = try H.run1("Einsum", [a, b], ["equation": H.string("...ij,...jk->...ik"), "N": H.int(2)])
        #expect(out.shape == [2, 4, 2, 2])
        let matmul = try H.run1("BatchMatMulV2", [a, b])
        #expect(close(out.doubleValues, matmul.doubleValues))
    }

    @Test func gradientOps_requireOneShape() {
        let a = tensor([1, 2, 3] as [Float], [3])
        let b = tensor([1, 2] as [Float], [2])
        for op in ["ReluGrad", "TanhGrad", "SigmoidGrad", "SqrtGrad", "LeakyReluGrad"] {
            #expect(H.error(op, [a, b])?.code == .invalidArgument, "\(op)")
        }
    }
}
