import Testing

@testable import WeftRuntime

/// String, resource and variant elements count in the memory budget as byte buffers do.
@Suite struct ObjectMemoryTests {
    @Test func storageBytes_countEachElementAndEveryStringsBytes() {
        let stride = MemoryLayout<[UInt8]>.stride
        #expect(ObjectElements.strings([[1, 2, 3], [], [4]]).storageBytes == 3 * stride + 4)
        // One string shared by every element is charged in each, as TensorFlow copies it.
        let shared = [UInt8](repeating: 7, count: 1000)
        #expect(ObjectElements.strings(Array(repeating: shared, count: 10)).storageBytes == 10 * (stride + 1000))
        let variants = ObjectElements.variants([EmptyVariant(), EmptyVariant()])
        #expect(variants.storageBytes == 2 * MemoryLayout<any VariantValue>.stride)
    }

    @Test func stringTensor_pastTheMemoryLimit_isResourceExhaustedNamingTheNode() {
        // Shared storage: the test allocates 1 MiB, the budget sees more than the whole limit.
        let megabyte = [UInt8](repeating: 0x61, count: 1 << 20)
        let count = TensorMemory.limit / (1 << 20) + 1
        let error = #expect(throws: WeftError.self) {
            try Tensor(strings: Array(repeating: megabyte, count: count), shape: [count], node: "fill")
        }
        #expect(error?.code == .resourceExhausted)
        #expect(error?.message.contains("node 'fill'") == true, "\(String(describing: error))")
    }

    @Test func stringTensors_countTheirBytesWhileTheyLive() throws {
        // Other tests allocate at the same time: 256 MiB of strings stand out from them.
        let size = 256 << 20
        let before = TensorMemory.liveBytes
        var tensor: Tensor? = try Tensor(strings: [[UInt8](repeating: 1, count: size)], shape: [1])
        #expect(TensorMemory.liveBytes - before >= size / 2)
        let during = TensorMemory.liveBytes
        withExtendedLifetime(tensor) {}
        tensor = nil
        #expect(during - TensorMemory.liveBytes >= size / 2)
    }
}
