import Testing
import WeftProto

@testable import WeftRuntime

/// Sizes and values from outside (a GraphDef, a message) that must get an error, never a trap.
@Suite struct TensorBoundsTests {
    @Test(arguments: [[1 << 62, 1 << 62], [1 << 40, 1 << 40, 1], [-1, 0]])
    func checkedElementCount_refusesSizesThatOverflowOrAreNegative(dimensions: [Int]) {
        let error = #expect(throws: WeftError.self) {
            try TensorShape(dimensions).checkedElementCount(dtype: .float)
        }
        #expect(error?.code == .resourceExhausted)
    }

    /// TensorFlow counts a shape with a 0 as empty whatever its other sizes, in any order.
    @Test(arguments: [[0, 1 << 62, 1 << 62], [1 << 62, 1 << 62, 0]])
    func emptyShapesWithHugeSizes_areEmptyInAnyOrder(dimensions: [Int]) throws {
        let shape = TensorShape(dimensions)
        #expect(try shape.checkedElementCount(dtype: .float) == 0)
        #expect(try KernelChecks.allocate(.float, shape, node: "fill").byteCount == 0)
    }

    @Test func allocate_pastTheMemoryLimit_namesTheNode() {
        let error = #expect(throws: WeftError.self) {
            try KernelChecks.allocate(.float, [TensorMemory.limit / 4 + 1], node: "fill")
        }
        #expect(error?.code == .resourceExhausted)
        #expect(error?.message.contains("node 'fill'") == true)
    }

    @Test func elementCount_withAZeroSize_isZeroWhateverTheOthers() {
        #expect(TensorShape([1 << 62, 1 << 62, 0]).elementCount == 0)
    }

    @Test func checkedElementCount_emptyTensorWithSaneSizes_isZero() throws {
        #expect(try TensorShape([0, 1 << 20, 3]).checkedElementCount(dtype: .float) == 0)
    }

    @Test func tensorProto_pastTheMemoryLimit_isResourceExhausted() {
        var proto = Tensorflow_TensorProto()
        proto.dtype = .dtFloat
        proto.tensorShape = TensorShape([TensorMemory.limit / 4 + 1]).proto
        let error = #expect(throws: WeftError.self) { try Tensor(proto: proto) }
        #expect(error?.code == .resourceExhausted)
    }

    @Test func description_of64BitIntegers_isExact() throws {
        #expect(Tensor([UInt64.max, 0]).description == "[18446744073709551615, 0]")
        #expect(Tensor([Int64.min]).description == "[-9223372036854775808]")
    }

    @Test func tensorBuffers_countTheirBytesWhileTheyLive() {
        // Other tests allocate at the same time: a 256 MiB buffer stands out from them.
        let size = 256 << 20
        let before = TensorMemory.liveBytes
        var buffer: TensorBuffer? = TensorBuffer(byteCount: size)
        #expect(TensorMemory.liveBytes - before >= size / 2)
        let during = TensorMemory.liveBytes
        withExtendedLifetime(buffer) {}
        buffer = nil
        #expect(during - TensorMemory.liveBytes >= size / 2)
    }
}
