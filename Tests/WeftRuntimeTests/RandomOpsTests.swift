import Testing
import WeftProto

@testable import WeftRuntime

@Suite struct PhiloxTests {
    /// Random123's known-answer vectors for Philox4x32-10, reached through TensorFlow's seeding
    /// (key = seed, counter high half = seed2) and `skip` (counter low half).
    @Test(arguments: [
        (UInt64(0), UInt64(0), UInt64(0), SIMD4<UInt32>(0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8)),
        (UInt64.max, UInt64.max, UInt64.max, SIMD4<UInt32>(0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD)),
        (
            0x299F_31D0_A409_3822, 0x0370_7344_1319_8A2E, 0x85A3_08D3_243F_6A88,
            SIMD4<UInt32>(0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1)
        ),
    ])
    func knownAnswers(seed: UInt64, seed2: UInt64, skip: UInt64, expected: SIMD4<UInt32>) {
        var generator = Philox(seed: seed, seed2: seed2)
        generator.skip(skip)
        #expect(generator.next() == expected)
    }

    @Test func skip_equalsDrawing() {
        var drawn = Philox(seed: 7, seed2: 3)
        for _ in 0..<5 { _ = drawn.next() }
        var skipped = Philox(seed: 7, seed2: 3)
        skipped.skip(5)
        #expect(drawn == skipped)
    }

    @Test(arguments: 0..<10)
    func wordsSkippingAhead_equalsReadingAndDiscarding(offset: Int) {
        var reading = PhiloxWords(Philox(seed: 11, seed2: 12))
        for _ in 0..<offset { _ = reading.next() }
        var skipping = PhiloxWords(Philox(seed: 11, seed2: 12), skippingWords: UInt64(offset))
        for _ in 0..<9 { #expect(reading.next() == skipping.next()) }
    }

    @Test func reservation_movesOn256BlocksPerOutput() {
        let guarded = GuardedPhilox(seed: 1, seed2: 2)
        let first = guarded.reserve(outputs: 10)
        var expected = first
        expected.skip(2560)
        #expect(guarded.reserve(outputs: 3) == expected)
    }

    /// TensorFlow's first values for seeds (1, 2), as `RandomUniform` and `RandomStandardNormal`
    /// computed them.
    @Test func firstValues_matchTensorFlow() {
        let bits = Philox(seed: 1, seed2: 2)
        var generator = bits
        var uniform = [Float](repeating: 0, count: 4)
        uniform.withUnsafeMutableBufferPointer { Float.uniform(generator.next(), into: $0.baseAddress!) }
        #expect(uniform == [0.40639675, 0.8575996, 0.05539584, 0.08587229])
        generator = bits
        var normal = [Float](repeating: 0, count: 4)
        normal.withUnsafeMutableBufferPointer { Float.normal(generator.next(), into: $0.baseAddress!) }
        #expect(normal == [-1.0467793, 0.8397046, 1.2358364, 2.0637853])
    }

    /// A fill split across tasks gives what one sequential pass over the blocks gives.
    @Test func parallelFill_equalsSequentialBlocks() throws {
        let count = PhiloxFill.groupsPerTask * 4 * 5 + 3
        let start = Philox(seed: 5, seed2: 6)
        let out = Tensor(uninitialized: .float, shape: TensorShape([count]))
        PhiloxFill.fill(out, .normal, from: start)
        var generator = start
        var expected = [Float](repeating: 0, count: count + 4)
        expected.withUnsafeMutableBufferPointer { buffer in
            for group in stride(from: 0, to: count, by: 4) {
                Float.normal(generator.next(), into: buffer.baseAddress! + group)
            }
        }
        #expect(try out.scalars(as: Float.self) == Array(expected.prefix(count)))
    }

    /// Truncated normal group `g` starts 256 words per value after the start, whatever task runs it.
    @Test func truncatedGroups_startAtTheirOwnOffset() throws {
        let count = PhiloxFill.groupsPerTask * 2 * 3 + 1
        let start = Philox(seed: 8, seed2: 9)
        let out = Tensor(uninitialized: .double, shape: TensorShape([count]))
        PhiloxFill.fill(out, .truncatedNormal, from: start)
        let values = try out.scalars(as: Double.self)
        let last = (count - 1) / 2
        var generator = start
        generator.skip(UInt64(last) * 2 * 64)
        var words = PhiloxWords(generator)
        var group = [Double](repeating: 0, count: 2)
        group.withUnsafeMutableBufferPointer {
            TruncatedNormalFloats<Double>().group(&words, into: $0.baseAddress!)
        }
        #expect(values[count - 1] == group[0])
        #expect(values.allSatisfy { abs($0) < 2 })
    }
}

@Suite struct RandomOpsTests {
    private static func seeds(_ seed: Int, _ seed2: Int) -> [String: Tensorflow_AttrValue] {
        ["seed": KernelHarness.int(seed), "seed2": KernelHarness.int(seed2)]
    }

    private static func uniform(_ dims: [Int64], seed: Int = 1, seed2: Int = 2) throws -> Tensor {
        var attrs = seeds(seed, seed2)
        attrs["dtype"] = KernelHarness.type(.float)
        return try KernelHarness.run1("RandomUniform", [Tensor(dims)], attrs, setT: false)
    }

    @Test func negativeDimension_isInvalidArgument() {
        var attrs = Self.seeds(1, 2)
        attrs["dtype"] = KernelHarness.type(.float)
        let error = KernelHarness.error("RandomUniform", [Tensor([Int32(2), -1])], attrs)
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("Dimension -1 must be >= 0") == true)
    }

    @Test func overflowingShape_isInvalidArgument_andHugeShape_isResourceExhausted() {
        var attrs = Self.seeds(1, 2)
        attrs["dtype"] = KernelHarness.type(.float)
        let overflow = KernelHarness.error("RandomStandardNormal", [Tensor([Int64(1) << 40, 1 << 40])], attrs)
        #expect(overflow?.code == .invalidArgument)
        let huge = KernelHarness.error("RandomStandardNormal", [Tensor([Int64(1) << 40, 1 << 20])], attrs)
        #expect(huge?.code == .resourceExhausted)
    }

    @Test func scalarShape_isInvalidArgument() {
        var attrs = Self.seeds(1, 2)
        attrs["dtype"] = KernelHarness.type(.float)
        #expect(KernelHarness.error("TruncatedNormal", [Tensor(Int32(3))], attrs)?.code == .invalidArgument)
    }

    @Test func integerDtype_isRefused() throws {
        var attrs = Self.seeds(1, 2)
        attrs["dtype"] = KernelHarness.type(.int32)
        let info = try KernelHarness.node("RandomUniform", inputs: 1, attrs: attrs)
        let definition = try OpRegistry.standard.definition(of: "RandomUniform", node: info.name)
        #expect(throws: WeftError.self) { try definition.makeKernel(info) }
    }

    @Test func uniformInt_emptyBoundsAreInvalid_unlessNothingIsDrawn() throws {
        var attrs = Self.seeds(3, 4)
        attrs["Tout"] = KernelHarness.type(.int64)
        attrs["T"] = KernelHarness.type(.int32)
        let reversed = KernelHarness.error(
            "RandomUniformInt",
            [Tensor([Int32(4)]), Tensor(Int64(5)), Tensor(Int64(5))],
            attrs
        )
        #expect(reversed?.code == .invalidArgument)
        #expect(reversed?.message.contains("Need minval < maxval, got 5 >= 5") == true)
        let empty = try KernelHarness.run1(
            "RandomUniformInt",
            [Tensor([Int32(0)]), Tensor(Int64(5)), Tensor(Int64(5))],
            attrs,
            setT: false
        )
        #expect(empty.elementCount == 0)
    }

    @Test func uniformInt_fullRange_staysInBounds() throws {
        var attrs = Self.seeds(3, 4)
        attrs["Tout"] = KernelHarness.type(.int32)
        let out = try KernelHarness.run1(
            "RandomUniformInt",
            [Tensor([Int32(1000)]), Tensor(Int32.min), Tensor(Int32.max)],
            attrs,
            setT: false
        )
        #expect(try out.scalars(as: Int32.self).allSatisfy { $0 < Int32.max })
    }

    @Test func shuffle_permutesRowsWhole() throws {
        let input = tensor((0..<12).map(Int64.init), [4, 3])
        let out = try KernelHarness.run1("RandomShuffle", [input], Self.seeds(5, 6))
        let values = try out.scalars(as: Int64.self)
        let rows = stride(from: 0, to: 12, by: 3).map { Array(values[$0..<$0 + 3]) }
        #expect(rows.sorted { $0[0] < $1[0] } == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]])
        #expect(rows.allSatisfy { $0[1] == $0[0] + 1 && $0[2] == $0[0] + 2 })
    }

    @Test func shuffle_scalarAndSingleRow_areUnchanged() throws {
        #expect(try KernelHarness.run1("RandomShuffle", [Tensor(Int32(7))], Self.seeds(5, 6)) == Tensor(Int32(7)))
        let row = tensor([Float(1), 2, 3], [1, 3])
        #expect(try KernelHarness.run1("RandomShuffle", [row], Self.seeds(5, 6)) == row)
    }

    @Test func multinomial_rowWithoutFiniteLogits_givesClassCount() throws {
        var attrs = Self.seeds(5, 6)
        attrs["output_dtype"] = KernelHarness.type(.int32)
        let logits = tensor([-Float.infinity, .nan, .infinity], [1, 3])
        let out = try KernelHarness.run1("Multinomial", [logits, Tensor(Int32(4))], attrs)
        #expect(try out.scalars(as: Int32.self) == [3, 3, 3, 3])
    }

    @Test func multinomial_negativeCount_isInvalidArgument() {
        let error = KernelHarness.error(
            "Multinomial",
            [tensor([Float(1), 2], [1, 2]), Tensor(Int32(-1))],
            Self.seeds(5, 6)
        )
        #expect(error?.code == .invalidArgument)
    }

    @Test func unseeded_opsDifferBetweenSessions() throws {
        let a = try Self.uniform([16], seed: 0, seed2: 0)
        let b = try Self.uniform([16], seed: 0, seed2: 0)
        #expect(a != b)
        #expect(try a.scalars(as: Float.self).allSatisfy { $0 >= 0 && $0 < 1 })
    }
}

/// The generator belongs to the session and the node, not to a plan: a new run signature builds
/// new kernels, and the stream must go on where it was, as in TensorFlow.
@Suite struct RandomStateTests {
    private static func graph() throws -> RuntimeGraph {
        func node(
            _ name: String,
            _ op: String,
            inputs: [String],
            attrs: [String: Tensorflow_AttrValue]
        ) -> Tensorflow_NodeDef {
            var def = Tensorflow_NodeDef()
            def.name = name
            def.op = op
            def.input = inputs
            def.attr = attrs
            return def
        }
        let seeds = ["seed": KernelHarness.int(4), "seed2": KernelHarness.int(5)]
        return try RuntimeGraph(nodes: [
            node("shape", "Placeholder", inputs: [], attrs: ["dtype": KernelHarness.type(.int32)]),
            node(
                "u",
                "RandomUniform",
                inputs: ["shape"],
                attrs: seeds.merging(["dtype": KernelHarness.type(.float), "T": KernelHarness.type(.int32)]) { $1 }
            ),
            node(
                "n",
                "RandomStandardNormal",
                inputs: ["shape"],
                attrs: seeds.merging(["dtype": KernelHarness.type(.double), "T": KernelHarness.type(.int32)]) { $1 }
            ),
        ])
    }

    @Test func newPlanInSameSession_continuesTheStream() throws {
        let graph = try Self.graph()
        let shape = TensorName(node: "shape", index: 0)
        let onlyU = try StepPlan(graph: graph, feeds: [shape], fetches: [TensorName(node: "u", index: 0)], targets: [])
        let both = try StepPlan(
            graph: graph,
            feeds: [shape],
            fetches: [TensorName(node: "u", index: 0), TensorName(node: "n", index: 0)],
            targets: []
        )
        let feed = [Tensor([Int32(5)])]

        let session = ResourceContainer()
        let first = try onlyU.run(feeds: feed, step: StepContext(id: 1, resources: session))[0]
        let second = try both.run(feeds: feed, step: StepContext(id: 2, resources: session))[0]

        let reference = ResourceContainer()
        let referenceFirst = try onlyU.run(feeds: feed, step: StepContext(id: 1, resources: reference))[0]
        let referenceSecond = try onlyU.run(feeds: feed, step: StepContext(id: 2, resources: reference))[0]

        #expect(first == referenceFirst)
        #expect(second == referenceSecond)
        #expect(first != second)
    }

    @Test func closedSession_restartsTheStream() throws {
        let graph = try Self.graph()
        let plan = try StepPlan(
            graph: graph,
            feeds: [TensorName(node: "shape", index: 0)],
            fetches: [TensorName(node: "n", index: 0)],
            targets: []
        )
        let feed = [Tensor([Int32(3)])]
        let session = ResourceContainer()
        let first = try plan.run(feeds: feed, step: StepContext(id: 1, resources: session))[0]
        session.removeAll()
        #expect(try plan.run(feeds: feed, step: StepContext(id: 2, resources: session))[0] == first)
    }
}

@Suite struct StatelessRandomOpsTests {
    /// The key and counter TensorFlow's `StatelessRandomGetKeyCounter` gave for seed [7, 11].
    @Test func keyCounter_matchesTensorFlow() throws {
        let outputs = try KernelHarness.run(
            "StatelessRandomGetKeyCounter",
            [Tensor([Int32(7), 11])],
            ["Tseed": KernelHarness.type(.int32)],
            setT: false
        )
        #expect(try outputs[0].scalars(as: UInt64.self) == [6_232_233_517_653_123_107])
        #expect(try outputs[1].scalars(as: UInt64.self) == [0, 17_336_993_267_840_886_171])
    }

    @Test func sameSeed_sameValues_everyRun() throws {
        let attrs = ["dtype": KernelHarness.type(.double)]
        let first = try KernelHarness.run1(
            "StatelessRandomNormal",
            [Tensor([Int32(9)]), Tensor([Int64(1), 2])],
            attrs
        )
        let second = try KernelHarness.run1(
            "StatelessRandomNormal",
            [Tensor([Int32(9)]), Tensor([Int64(1), 2])],
            attrs
        )
        #expect(first == second)
    }

    @Test func seedOfWrongShape_isInvalidArgument() {
        let error = KernelHarness.error(
            "StatelessRandomUniform",
            [Tensor([Int32(3)]), Tensor([Int64(1), 2, 3])],
            ["dtype": KernelHarness.type(.float)]
        )
        #expect(error?.code == .invalidArgument)
    }

    /// TensorFlow checks only that a Philox counter has one word but reads two; Weft refuses.
    @Test func shortCounter_isInvalidArgument() {
        let inputs = [Tensor([Int32(3)]), Tensor([UInt64(1)]), Tensor([UInt64(5)]), Tensor(Int32(1))]
        let error = KernelHarness.error("StatelessRandomUniformV2", inputs, ["dtype": KernelHarness.type(.float)])
        #expect(error?.code == .invalidArgument)
    }

    @Test func counterOfWrongDtype_isInvalidArgument() {
        let inputs = [Tensor([Int32(3)]), Tensor([UInt64(1)]), Tensor([Int64(5), 6]), Tensor(Int32(1))]
        let error = KernelHarness.error("StatelessRandomUniformV2", inputs, ["dtype": KernelHarness.type(.float)])
        #expect(error?.code == .invalidArgument)
    }
}
