import Testing
import WeftProto

@testable import WeftRuntime

/// The vectorised single-channel depthwise path and the direct `int32` convolutions, checked
/// against plain loops on sizes that leave SIMD remainders and windows half in the padding.
@Suite struct ConvFastPathTests {
    typealias H = KernelHarness

    /// A direct NHWC depthwise convolution with one filter per channel, in double precision.
    static func directDepthwise(
        _ x: [Float],
        _ xs: [Int],
        _ w: [Float],
        window: (Int, Int),
        stride: Int,
        same: Bool
    ) -> [Double] {
        let (n, h, wd, c) = (xs[0], xs[1], xs[2], xs[3])
        let oh = same ? (h + stride - 1) / stride : (h - window.0 + stride) / stride
        let ow = same ? (wd + stride - 1) / stride : (wd - window.1 + stride) / stride
        let top = same ? max(0, (oh - 1) * stride + window.0 - h) / 2 : 0
        let left = same ? max(0, (ow - 1) * stride + window.1 - wd) / 2 : 0
        var out = [Double](repeating: 0, count: n * oh * ow * c)
        for b in 0..<n {
            for y in 0..<oh {
                for x0 in 0..<ow {
                    for channel in 0..<c {
                        var total = 0.0
                        for ty in 0..<window.0 {
                            for tx in 0..<window.1 {
                                let (iy, ix) = (y * stride - top + ty, x0 * stride - left + tx)
                                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                                total +=
                                    Double(x[((b * h + iy) * wd + ix) * c + channel])
                                    * Double(w[(ty * window.1 + tx) * c + channel])
                            }
                        }
                        out[((b * oh + y) * ow + x0) * c + channel] = total
                    }
                }
            }
        }
        return out
    }

    @Test(arguments: [
        (channels: 19, window: 3, stride: 1, padding: "SAME"),
        (channels: 16, window: 3, stride: 2, padding: "SAME"),
        (channels: 8, window: 5, stride: 1, padding: "VALID"),
        (channels: 5, window: 3, stride: 2, padding: "VALID"),
        (channels: 24, window: 7, stride: 3, padding: "SAME"),
    ])
    func depthwise_singleChannel_matchesDirectLoops(channels: Int, window: Int, stride: Int, padding: String) throws {
        let xs = [2, 9, 7, channels]
        let x = NNOpsTests.values(xs.reduce(1, *), seed: 21)
        let w = NNOpsTests.values(window * window * channels, seed: 22)
        let out = try H.run1(
            "DepthwiseConv2dNative",
            [tensor(x, TensorShape(xs)), tensor(w, [window, window, channels, 1])],
            NNOpsTests.convAttributes(stride: stride, padding: padding)
        )
        let expected = Self.directDepthwise(x, xs, w, window: (window, window), stride: stride, same: padding == "SAME")
        #expect(out.elementCount == expected.count)
        #expect(close(out.doubleValues, expected, tolerance: 1e-5))
    }

    /// A direct NHWC `int32` convolution with wrapping sums (SAME or VALID, groups, dilations).
    static func directIntegerConv(
        _ x: [Int32],
        _ xs: [Int],
        _ w: [Int32],
        _ ws: [Int],
        stride: Int,
        dilation: Int,
        same: Bool
    ) -> [Int32] {
        let (n, h, wd, c) = (xs[0], xs[1], xs[2], xs[3])
        let (kh, kw, ci, co) = (ws[0], ws[1], ws[2], ws[3])
        let groups = c / ci
        let (eh, ew) = ((kh - 1) * dilation + 1, (kw - 1) * dilation + 1)
        let oh = same ? (h + stride - 1) / stride : (h - eh + stride) / stride
        let ow = same ? (wd + stride - 1) / stride : (wd - ew + stride) / stride
        let top = same ? max(0, (oh - 1) * stride + eh - h) / 2 : 0
        let left = same ? max(0, (ow - 1) * stride + ew - wd) / 2 : 0
        var out = [Int32](repeating: 0, count: n * oh * ow * co)
        for b in 0..<n {
            for y in 0..<oh {
                for x0 in 0..<ow {
                    for o in 0..<co {
                        let group = o / (co / groups)
                        var total: Int32 = 0
                        for ty in 0..<kh {
                            for tx in 0..<kw {
                                let (iy, ix) = (y * stride - top + ty * dilation, x0 * stride - left + tx * dilation)
                                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                                for i in 0..<ci {
                                    let input = x[((b * h + iy) * wd + ix) * c + group * ci + i]
                                    total &+= input &* w[((ty * kw + tx) * ci + i) * co + o]
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

    /// Values spread over the whole `int32` range, so that the sums overflow.
    static func wideIntegers(_ count: Int, seed: Int) -> [Int32] {
        (0..<count).map { Int32(truncatingIfNeeded: ($0 &+ seed) &* 2_654_435_761 &+ seed &* 40_503) }
    }

    @Test(arguments: [
        (stride: 1, dilation: 1, padding: "SAME", inDepth: 3, filterDepth: 3),
        (stride: 2, dilation: 1, padding: "VALID", inDepth: 4, filterDepth: 2),
        (stride: 1, dilation: 2, padding: "SAME", inDepth: 2, filterDepth: 2),
    ])
    func conv2D_int32_wrapsLikeDirectLoops(
        stride: Int,
        dilation: Int,
        padding: String,
        inDepth: Int,
        filterDepth: Int
    ) throws {
        let (xs, ws) = ([2, 7, 6, inDepth], [3, 2, filterDepth, 4])
        let x = Self.wideIntegers(xs.reduce(1, *), seed: 1)
        let w = Self.wideIntegers(ws.reduce(1, *), seed: 2)
        let out = try H.run1(
            "Conv2D",
            [tensor(x, TensorShape(xs)), tensor(w, TensorShape(ws))],
            NNOpsTests.convAttributes(stride: stride, padding: padding, dilation: dilation)
        )
        let expected = Self.directIntegerConv(
            x,
            xs,
            w,
            ws,
            stride: stride,
            dilation: dilation,
            same: padding == "SAME"
        )
        #expect(out.dtype == .int32)
        #expect(try out.scalars(as: Int32.self) == expected)
    }

    /// In wrapping arithmetic the input gradient is exactly the adjoint of the convolution:
    /// ⟨conv(x, w), dy⟩ = ⟨x, backpropInput(w, dy)⟩ modulo 2³².
    @Test(arguments: [(1, "SAME"), (2, "SAME"), (2, "VALID")])
    func conv2DBackpropInput_int32_isTheExactAdjoint(stride: Int, padding: String) throws {
        let (xs, ws) = ([2, 7, 6, 3], [3, 3, 3, 4])
        let attrs = NNOpsTests.convAttributes(stride: stride, padding: padding)
        let x = tensor(Self.wideIntegers(xs.reduce(1, *), seed: 3), TensorShape(xs))
        let w = tensor(Self.wideIntegers(ws.reduce(1, *), seed: 4), TensorShape(ws))
        let y = try H.run1("Conv2D", [x, w], attrs)
        let dy = tensor(Self.wideIntegers(y.elementCount, seed: 5), y.shape)
        var gradientAttrs = attrs
        gradientAttrs["T"] = H.type(.int32)
        let dx = try H.run1("Conv2DBackpropInput", [tensor(xs.map { Int32($0) }, [4]), w, dy], gradientAttrs, setT: false)
        func dot(_ a: Tensor, _ b: Tensor) throws -> Int32 {
            zip(try a.scalars(as: Int32.self), try b.scalars(as: Int32.self)).reduce(0) { $0 &+ $1.0 &* $1.1 }
        }
        #expect(dx.shape == x.shape)
        #expect(try dot(x, dx) == dot(y, dy))
    }

    /// TensorFlow's CPU has no kernel for these: "No OpKernel was registered", InvalidArgument.
    @Test func integerConvolutions_TensorFlowLacks_areRefusedAsTensorFlowRefusesThem() {
        let attrs = NNOpsTests.convAttributes(stride: 1, padding: "SAME")
        let x = tensor([Int32](repeating: 1, count: 16), [1, 4, 4, 1])
        let filterGradient = H.error("Conv2DBackpropFilter", [x, tensor([1, 1, 1, 1] as [Int32], [4]), x], attrs)
        #expect(filterGradient?.code == .invalidArgument)
        let bytes = tensor([Int8](repeating: 1, count: 16), [1, 4, 4, 1])
        #expect(H.error("Conv2D", [bytes, tensor([Int8(1)], [1, 1, 1, 1])], attrs)?.code == .invalidArgument)
        let depthwise = H.error("DepthwiseConv2dNative", [x, tensor([Int32(1)], [1, 1, 1, 1])], attrs)
        #expect(depthwise?.code == .invalidArgument)
    }
}
