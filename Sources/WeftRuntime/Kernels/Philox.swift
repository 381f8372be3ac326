import Synchronization

// TensorFlow's stateful random ops draw their bits from Philox4x32-10 (Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC 2011): a counter-based generator whose n-th 128-bit
// block is a pure function of (key, counter + n). Reproducing TensorFlow's numbers bit for bit
// needs the same key and counter layout, the same skip arithmetic and the same per-op
// reservation of blocks, all of which this file follows.

/// The Philox4x32-10 generator as TensorFlow seeds and advances it: a 64-bit key and a 128-bit
/// counter; each call returns one block of four 32-bit words and moves the counter by one.
struct Philox: Sendable, Equatable {
    /// The counter, least significant word first.
    private(set) var counter: SIMD4<UInt32>
    /// The key, least significant word first.
    private(set) var key: SIMD2<UInt32>

    /// The generator TensorFlow makes from an op's `seed` and `seed2`: `seed` is the key and
    /// `seed2` the upper half of the counter.
    init(seed: UInt64, seed2: UInt64) {
        key = SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        counter = SIMD4(0, 0, UInt32(truncatingIfNeeded: seed2), UInt32(truncatingIfNeeded: seed2 >> 32))
    }

    /// The generator at `counter` under `key`.
    init(counter: SIMD4<UInt32>, key: SIMD2<UInt32>) {
        self.counter = counter
        self.key = key
    }

    /// The generator a stateless op derives from its two seeds (TensorFlow's `GenerateKey`):
    /// one Philox block of the seeds under a fixed key scrambles them into the key and the
    /// upper half of the counter, so weak seeds in either half still give unrelated streams.
    init(statelessSeed seed0: UInt64, _ seed1: UInt64) {
        var scrambler = Philox(
            counter: SIMD4(
                UInt32(truncatingIfNeeded: seed0),
                UInt32(truncatingIfNeeded: seed0 >> 32),
                UInt32(truncatingIfNeeded: seed1),
                UInt32(truncatingIfNeeded: seed1 >> 32)
            ),
            key: SIMD2(0x3EC8_F720, 0x0246_1E29)
        )
        let mix = scrambler.next()
        self.init(counter: SIMD4(0, 0, mix.z, mix.w), key: SIMD2(mix.x, mix.y))
    }

    /// Moves past `count` blocks. The carry out of the low 64 bits follows TensorFlow's
    /// `PhiloxRandom::Skip` exactly, including where it drops a carry, so streams stay aligned.
    mutating func skip(_ count: UInt64) {
        let low = UInt32(truncatingIfNeeded: count)
        var high = UInt32(truncatingIfNeeded: count >> 32)
        counter.x &+= low
        if counter.x < low { high &+= 1 }
        counter.y &+= high
        if counter.y < high {
            counter.z &+= 1
            if counter.z == 0 { counter.w &+= 1 }
        }
    }

    /// The next block of 128 random bits: ten rounds on the counter, the key raised between
    /// rounds, then the counter moved on by one.
    @inline(__always)
    mutating func next() -> SIMD4<UInt32> {
        var (c0, c1, c2, c3) = (counter.x, counter.y, counter.z, counter.w)
        var (k0, k1) = (key.x, key.y)
        for round in 0..<10 {
            if round > 0 {
                k0 &+= 0x9E37_79B9
                k1 &+= 0xBB67_AE85
            }
            let product0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let product1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            (c0, c1, c2, c3) = (
                UInt32(truncatingIfNeeded: product1 >> 32) ^ c1 ^ k0,
                UInt32(truncatingIfNeeded: product1),
                UInt32(truncatingIfNeeded: product0 >> 32) ^ c3 ^ k1,
                UInt32(truncatingIfNeeded: product0)
            )
        }
        advance()
        return SIMD4(c0, c1, c2, c3)
    }

    /// Moves the counter on by one block, carrying through all four words.
    @inline(__always)
    private mutating func advance() {
        counter.x &+= 1
        guard counter.x == 0 else { return }
        counter.y &+= 1
        guard counter.y == 0 else { return }
        counter.z &+= 1
        if counter.z == 0 { counter.w &+= 1 }
    }
}

/// Hands out a generator's words one at a time, as TensorFlow's `SingleSampleAdapter` does
/// for distributions that consume a variable number of words (truncated normal, shuffles).
struct PhiloxWords {
    private var generator: Philox
    private var block = SIMD4<UInt32>()
    private var used = 4

    /// Reads words from `generator`'s current position.
    init(_ generator: Philox) {
        self.generator = generator
    }

    /// Reads words from `generator`'s position moved on by `words` words, so that a task can
    /// start in the middle of a stream that TensorFlow reads in one sequence.
    init(_ generator: Philox, skippingWords words: UInt64) {
        self.generator = generator
        self.generator.skip(words / 4)
        if words % 4 != 0 {
            block = self.generator.next()
            used = Int(words % 4)
        }
    }

    /// The next 32 random bits.
    @inline(__always)
    mutating func next() -> UInt32 {
        if used == 4 {
            block = generator.next()
            used = 0
        }
        defer { used += 1 }
        return block[used]
    }
}

/// One random op's generator for the life of a session, shared by every step that runs the
/// node: TensorFlow's `GuardedPhiloxRandom`. Each run reserves a stretch of blocks under the
/// lock and then computes without it.
final class GuardedPhilox: Sendable {
    /// Blocks TensorFlow reserves per output element: enough for a rejection sampler to draw
    /// 256 words per value. Part of the stream layout, so it must stay TensorFlow's number.
    static let blocksPerOutput: UInt64 = 256

    private let generator: Mutex<Philox>

    /// Starts at `generator`.
    init(_ generator: Philox) {
        self.generator = Mutex(generator)
    }

    /// Seeds from the op's attributes; when both are 0 the op asked for no seed and gets a
    /// random one, as in TensorFlow.
    convenience init(seed: Int64, seed2: Int64) {
        var seed = UInt64(bitPattern: seed)
        var seed2 = UInt64(bitPattern: seed2)
        if seed == 0 && seed2 == 0 {
            var system = SystemRandomNumberGenerator()
            seed = system.next()
            seed2 = system.next()
        }
        self.init(Philox(seed: seed, seed2: seed2))
    }

    /// The generator positioned at the start of `blocks` blocks that no other run will use.
    func reserve(blocks: UInt64) -> Philox {
        generator.withLock { current in
            let reserved = current
            current.skip(blocks)
            return reserved
        }
    }

    /// The reservation TensorFlow makes for an op with `outputs` values (`ReserveRandomOutputs`).
    func reserve(outputs: Int) -> Philox {
        reserve(blocks: UInt64(outputs) &* Self.blocksPerOutput)
    }

    /// The reservation for `words` single words (`ReserveSamples32`).
    func reserve(words: Int) -> Philox {
        reserve(blocks: (UInt64(words) &+ 3) / 4)
    }
}
