import Testing
import WeftProto

@testable import WeftRuntime

/// The pooling ops with sizes as inputs, the reuse of large buffers and the per-operation
/// rounding of `bfloat16` updates.
@Suite struct NN3Tests {
    typealias H = KernelHarness

    private static let pooling: [String: Tensorflow_AttrValue] = ["padding": H.string("VALID")]

    @Test func maxPoolV2ChecksItsSizesAtRunTime() throws {
        let x = tensor([Float](repeating: 1, count: 16), [1, 4, 4, 1])
        let strides = tensor([Int32(1), 1, 1, 1], [4])
        let batch = H.error("MaxPoolV2", [x, tensor([Int32(2), 2, 2, 1], [4]), strides], Self.pooling)
        #expect(batch?.code == .unimplemented)
        let short = H.error("MaxPoolV2", [x, tensor([Int32(1), 2, 2], [3]), strides], Self.pooling)
        #expect(short?.code == .invalidArgument)
        let wide = H.error("MaxPoolV2", [x, tensor([Int64(1), 2, 2, 1], [4]), strides], Self.pooling)
        #expect(wide?.code == .invalidArgument)
        let y = try H.run1("MaxPoolV2", [x, tensor([Int32(1), 2, 2, 1], [4]), strides], Self.pooling)
        #expect(y.shape == [1, 3, 3, 1])
    }

    @Test func maxPoolGradGradIsZeroWhereNoTapMatches() throws {
        let x = tensor([Float(1), 2, 3, 4], [1, 2, 2, 1])
        let attrs = Self.pooling.merging(["ksize": H.ints([1, 2, 2, 1]), "strides": H.ints([1, 1, 1, 1])]) { $1 }
        let g = tensor([Float(10), 20, 30, 40], [1, 2, 2, 1])
        let matching = try H.run1("MaxPoolGradGrad", [x, tensor([Float(4)], [1, 1, 1, 1]), g], attrs)
        #expect(try matching.scalars(as: Float.self) == [40])
        let missing = try H.run1("MaxPoolGradGrad", [x, tensor([Float(7)], [1, 1, 1, 1]), g], attrs)
        #expect(try missing.scalars(as: Float.self) == [0])
    }

    @Test func largeBuffersAreReusedAndSmallOnesAreNot() {
        let size = LargeBufferCache.minimumBytes + 4096
        guard let block = MappedMemory.map(size), let small = MappedMemory.map(64) else {
            Issue.record("no mapping")
            return
        }
        #expect(LargeBufferCache.keep(block, byteCount: size))
        #expect(LargeBufferCache.take(size + 1) == nil)
        #expect(LargeBufferCache.take(size) == block)
        MappedMemory.unmap(block, byteCount: size)
        #expect(!LargeBufferCache.keep(small, byteCount: 64))
        MappedMemory.unmap(small, byteCount: 64)
    }

    @Test func bfloat16UpdatesRoundEveryOperation() {
        // 1 + 2⁻⁸ rounds to 1 in bfloat16 (ties to even), so (1 + 2⁻⁸) − 1 is 0 in two steps
        // where one rounding would keep 2⁻⁸.
        let one = BFloat16(1)
        let small = BFloat16(Float(1) / 256)
        #expect((one + small - one).float == 0)
        #expect((-small).float == -Float(1) / 256)
        #expect(BFloat16(-2.5).magnitude.float == 2.5)
    }

    @Test func trigonometricOpsRefuseIntegers() {
        let error = H.error("Tan", [tensor([Int32(1)], [1])])
        #expect(error?.code == .invalidArgument)
    }
}
