/// TensorFlow's stateless random ops: the distributions of `RandomOps`, with a generator made
/// afresh on every run from a seed tensor (`StatelessRandomUniform`, …) or from an explicit key
/// and counter (the `…V2` ops that `tf.random.stateless_uniform` and friends build), so equal
/// inputs give equal outputs, bit for bit as TensorFlow's CPU kernels.
enum StatelessRandomOps {
    /// The ops of this family, for `OpRegistry.standard`.
    static let definitions: [OpDefinition] = [
        seeded("StatelessRandomUniform", .uniform),
        seeded("StatelessRandomNormal", .normal),
        seeded("StatelessTruncatedNormal", .truncatedNormal),
        seededInteger,
        keyed("StatelessRandomUniformV2", .uniform),
        keyed("StatelessRandomNormalV2", .normal),
        keyed("StatelessTruncatedNormalV2", .truncatedNormal),
        keyedInteger,
        keyedFullRangeInteger,
        keyCounter("StatelessRandomGetKeyCounter", withAlgorithm: false),
        keyCounter("StatelessRandomGetKeyCounterAlg", withAlgorithm: true),
        OpDefinition(
            "StatelessRandomGetAlg",
            inputCount: 0,
            isExpensive: false,
            outputTypes: { _, _ in [OutputType(.int32)] },
            makeKernel: { _ in ClosureKernel { _ in [.tensor(Tensor(philoxAlgorithm))] } }
        ),
        multinomial,
    ]

    /// TensorFlow's id of the Philox algorithm (`RNG_ALG_PHILOX`); 3 (auto-select) means it too.
    static let philoxAlgorithm: Int32 = 1
    private static let autoSelectAlgorithm: Int32 = 3

    // MARK: Ops seeded by a tensor

    /// A float op taking `shape` and a `seed` of two integers.
    private static func seeded(_ name: String, _ distribution: RandomOps.FloatDistribution) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 2,
            outputTypes: { node, _ throws(WeftError) in
                [OutputType(try RandomOps.dtype(node, in: RandomOps.floatTypes, op: name))]
            },
            makeKernel: { node throws(WeftError) in
                let dtype = try RandomOps.dtype(node, in: RandomOps.floatTypes, op: name)
                return ClosureKernel { context throws(WeftError) in
                    let (out, seed) = try seededOutput(context, dtype)
                    guard out.elementCount > 0 else { return [.tensor(out)] }
                    PhiloxFill.fill(out, distribution, from: try generator(seed: seed, node: context.node))
                    return [.tensor(out)]
                }
            }
        )
    }

    /// `StatelessRandomUniformInt`: `shape`, `seed`, `minval`, `maxval`.
    private static let seededInteger = OpDefinition(
        "StatelessRandomUniformInt",
        inputCount: 4,
        outputTypes: { node, _ throws(WeftError) in
            [OutputType(try RandomOps.dtype(node, in: RandomOps.integerTypes, op: "StatelessRandomUniformInt"))]
        },
        makeKernel: { node throws(WeftError) in
            let dtype = try RandomOps.dtype(node, in: RandomOps.integerTypes, op: "StatelessRandomUniformInt")
            return ClosureKernel { context throws(WeftError) in
                let (out, seed) = try seededOutput(context, dtype)
                guard out.elementCount > 0 else { return [.tensor(out)] }
                let start = try generator(seed: seed, node: context.node)
                let bounds = try scalarBounds(context, first: 2)
                try PhiloxFill.fillIntegers(out, bounds: bounds, node: context.node) { start }
                return [.tensor(out)]
            }
        }
    )

    /// `StatelessMultinomial`: `logits`, `num_samples`, `seed`.
    private static let multinomial = OpDefinition(
        "StatelessMultinomial",
        inputCount: 3,
        outputTypes: { node, _ throws(WeftError) in
            [OutputType(try RandomOps.multinomialType(node, op: "StatelessMultinomial"))]
        },
        makeKernel: { node throws(WeftError) in
            let dtype = try RandomOps.multinomialType(node, op: "StatelessMultinomial")
            return ClosureKernel { context throws(WeftError) in
                let seed = try context.input(2)
                try checkSeedShape(seed, node: context.node)
                let start = try generator(seed: seed, node: context.node)
                let out = try Multinomial.sample(
                    logits: try context.input(0),
                    count: try context.input(1),
                    as: dtype,
                    generator: GuardedPhilox(start),
                    node: context.node
                )
                return [.tensor(out)]
            }
        }
    )

    /// The output for `shape` (input 0) and the checked `seed` (input 1), in TensorFlow's order.
    private static func seededOutput(_ context: OpKernelContext, _ dtype: DType) throws(WeftError) -> (Tensor, Tensor) {
        let shape = try RandomOps.outputShape(try context.input(0), node: context.node)
        let seed = try context.input(1)
        try checkSeedShape(seed, node: context.node)
        return (try KernelChecks.allocate(dtype, shape, node: context.node), seed)
    }

    private static func checkSeedShape(_ seed: Tensor, node: String) throws(WeftError) {
        guard seed.shape == TensorShape([2]) else {
            throw .invalidArgument("seed must have shape [2], not \(seed.shape)", node: node)
        }
    }

    /// The generator TensorFlow derives from a seed of two int32 or int64 values (sign-extended).
    private static func generator(seed: Tensor, node: String) throws(WeftError) -> Philox {
        let words: [Int64]
        switch seed.dtype {
        case .int32: words = seed.withElements(of: Int32.self) { $0.map(Int64.init) }
        case .int64: words = seed.elements(as: Int64.self)
        default: throw .invalidArgument("Invalid seed type: \(seed.dtype)", node: node)
        }
        return Philox(statelessSeed: UInt64(bitPattern: words[0]), UInt64(bitPattern: words[1]))
    }

    // MARK: Ops given a key and counter

    /// A float op taking `shape`, `key`, `counter` and `alg`.
    private static func keyed(_ name: String, _ distribution: RandomOps.FloatDistribution) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 4,
            outputTypes: { node, _ throws(WeftError) in
                [OutputType(try RandomOps.dtype(node, in: RandomOps.floatTypes, op: name))]
            },
            makeKernel: { node throws(WeftError) in
                let dtype = try RandomOps.dtype(node, in: RandomOps.floatTypes, op: name)
                return ClosureKernel { context throws(WeftError) in
                    let (out, keyed) = try keyedOutput(context, dtype)
                    guard out.elementCount > 0 else { return [.tensor(out)] }
                    PhiloxFill.fill(out, distribution, from: try keyed.philox(node: context.node))
                    return [.tensor(out)]
                }
            }
        )
    }

    /// `StatelessRandomUniformIntV2`: `shape`, `key`, `counter`, `alg`, `minval`, `maxval`.
    private static let keyedInteger = OpDefinition(
        "StatelessRandomUniformIntV2",
        inputCount: 6,
        outputTypes: { node, _ throws(WeftError) in
            [OutputType(try RandomOps.dtype(node, in: RandomOps.integerTypes, op: "StatelessRandomUniformIntV2"))]
        },
        makeKernel: { node throws(WeftError) in
            let dtype = try RandomOps.dtype(node, in: RandomOps.integerTypes, op: "StatelessRandomUniformIntV2")
            return ClosureKernel { context throws(WeftError) in
                let (out, keyed) = try keyedOutput(context, dtype)
                guard out.elementCount > 0 else { return [.tensor(out)] }
                let bounds = try scalarBounds(context, first: 4)
                try PhiloxFill.fillIntegers(out, bounds: bounds, node: context.node) { () throws(WeftError) in
                    try keyed.philox(node: context.node)
                }
                return [.tensor(out)]
            }
        }
    )

    /// `StatelessRandomUniformFullIntV2`: integers over the whole range of `dtype`.
    private static let keyedFullRangeInteger = OpDefinition(
        "StatelessRandomUniformFullIntV2",
        inputCount: 4,
        outputTypes: { node, _ throws(WeftError) in
            [OutputType(try RandomOps.dtype(node, in: fullRangeTypes, op: "StatelessRandomUniformFullIntV2"))]
        },
        makeKernel: { node throws(WeftError) in
            let dtype = try RandomOps.dtype(node, in: fullRangeTypes, op: "StatelessRandomUniformFullIntV2")
            return ClosureKernel { context throws(WeftError) in
                let (out, keyed) = try keyedOutput(context, dtype)
                guard out.elementCount > 0 else { return [.tensor(out)] }
                let start = try keyed.philox(node: context.node)
                switch dtype {
                case .int32: fillFullRange(out, Int32.self, from: start)
                case .int64: fillFullRange(out, Int64.self, from: start)
                case .uint32: fillFullRange(out, UInt32.self, from: start)
                default: fillFullRange(out, UInt64.self, from: start)
                }
                return [.tensor(out)]
            }
        }
    )

    /// `StatelessRandomGetKeyCounter` (and `…Alg`, which adds the algorithm): the key and
    /// counter a `seed` of two integers gives, for the `…V2` ops.
    private static func keyCounter(_ name: String, withAlgorithm: Bool) -> OpDefinition {
        OpDefinition(
            name,
            inputCount: 1,
            isExpensive: false,
            outputTypes: { _, _ in
                [OutputType(.uint64), OutputType(.uint64)] + (withAlgorithm ? [OutputType(.int32)] : [])
            },
            makeKernel: { _ in
                ClosureKernel { context throws(WeftError) in
                    let seed = try context.input(0)
                    try checkSeedShape(seed, node: context.node)
                    let philox = try generator(seed: seed, node: context.node)
                    let key = UInt64(philox.key.x) | UInt64(philox.key.y) << 32
                    let counter = [
                        UInt64(philox.counter.x) | UInt64(philox.counter.y) << 32,
                        UInt64(philox.counter.z) | UInt64(philox.counter.w) << 32,
                    ]
                    let outputs: [Value] = [.tensor(Tensor([key])), .tensor(Tensor(counter))]
                    return outputs + (withAlgorithm ? [.tensor(Tensor(philoxAlgorithm))] : [])
                }
            }
        )
    }

    /// A `…V2` op's key, counter and algorithm, checked as TensorFlow checks them.
    private struct KeyCounter {
        let key: Tensor
        let counter: Tensor
        let algorithm: Int32

        /// The generator at the counter under the key; only Philox runs on CPU.
        func philox(node: String) throws(WeftError) -> Philox {
            guard algorithm == StatelessRandomOps.philoxAlgorithm else {
                throw .invalidArgument("Unsupported algorithm id: \(algorithm)", node: node)
            }
            // TensorFlow asks for at least `algorithm` counter words but reads two.
            guard counter.elementCount >= 2 else {
                throw .invalidArgument(
                    "counter must be a vector with length at least 2 for Philox; got shape: \(counter.shape)",
                    node: node
                )
            }
            let key = self.key.withElements(of: UInt64.self) { $0[0] }
            let words = counter.withElements(of: UInt64.self) { ($0[0], $0[1]) }
            return Philox(
                counter: SIMD4(
                    UInt32(truncatingIfNeeded: words.0),
                    UInt32(truncatingIfNeeded: words.0 >> 32),
                    UInt32(truncatingIfNeeded: words.1),
                    UInt32(truncatingIfNeeded: words.1 >> 32)
                ),
                key: SIMD2(UInt32(truncatingIfNeeded: key), UInt32(truncatingIfNeeded: key >> 32))
            )
        }
    }

    /// Checks inputs 1–3 (key, counter, alg), then makes the output for `shape` (input 0).
    private static func keyedOutput(
        _ context: OpKernelContext,
        _ dtype: DType
    ) throws(WeftError) -> (Tensor, KeyCounter) {
        let node = context.node
        let key = try context.input(1)
        let counter = try context.input(2)
        let alg = try context.input(3)
        guard alg.shape.rank == 0 else {
            throw .invalidArgument("input 3 (0-based) must have shape [], not \(alg.shape)", node: node)
        }
        guard alg.dtype == .int32 else {
            throw .invalidArgument("dtype of input 3 (0-based) must be int32, not \(alg.dtype)", node: node)
        }
        var algorithm = alg.withElements(of: Int32.self) { $0[0] }
        if algorithm == autoSelectAlgorithm { algorithm = philoxAlgorithm }
        guard key.shape == TensorShape([1]), key.dtype == .uint64 else {
            throw .invalidArgument(
                "key must have shape [1], not \(key.shape). (Note that batched keys are not supported yet.)",
                node: node
            )
        }
        guard counter.shape.rank == 1, counter.shape.dimensions[0] >= Int(algorithm), counter.dtype == .uint64 else {
            throw .invalidArgument(
                "counter must be a vector with length at least \(algorithm); got shape: \(counter.shape). (Note that batched counters are not supported yet.)",
                node: node
            )
        }
        let shape = try RandomOps.outputShape(try context.input(0), node: node)
        let out = try KernelChecks.allocate(dtype, shape, node: node)
        return (out, KeyCounter(key: key, counter: counter, algorithm: algorithm))
    }

    // MARK: Helpers

    private static let fullRangeTypes: [DType] = [.int32, .int64, .uint32, .uint64]

    /// `minval` and `maxval` at inputs `first` and `first + 1`, which must be scalars.
    private static func scalarBounds(_ context: OpKernelContext, first: Int) throws(WeftError) -> [Tensor] {
        let bounds = [try context.input(first), try context.input(first + 1)]
        for (bound, name) in zip(bounds, ["minval", "maxval"]) where bound.shape.rank != 0 {
            throw .invalidArgument("\(name) must be 0-D, got shape \(bound.shape)", node: context.node)
        }
        return bounds
    }

    private static func fillFullRange<T: FixedWidthInteger & TensorElement>(
        _ out: Tensor,
        _ type: T.Type,
        from start: Philox
    ) {
        out.withMutableElements(of: T.self) { PhiloxFill.blocks($0, FullRangeIntegers<T>(), from: start) }
    }
}
