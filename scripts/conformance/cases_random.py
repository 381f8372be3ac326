"""Stateful random ops (RandomUniform, RandomStandardNormal, TruncatedNormal, RandomUniformInt,
RandomShuffle, Multinomial): seeded by a graph-level seed and op seeds, the values must equal
TensorFlow's bit for bit. Each case runs steps twice or more in one session (the generator moves
on between runs) and again in a second session (which starts the stream afresh).

Large tensors (more than 64k values, so TensorFlow and Weft both split the work) are checked
through exact integer checksums rather than listed: each value scaled by a power of two (exact)
and truncated to int64, summed plainly and weighted by position."""
import numpy as np
import tensorflow as tf

from lib import Case, tf1


def _twice(c, fetches, feeds=None, sessions=2):
    """Runs `fetches` twice per session, in `sessions` sessions."""
    for _ in range(sessions):
        c.session([c.step(fetches=fetches, feeds=feeds), c.step(fetches=fetches, feeds=feeds)])


def _checksum(x, scale, name):
    """[Σ q, Σ q·(i mod 1009 + 1)] for q = int64(x · scale) mod 1000003 over the flattened x:
    exact (the scale is a power of two, the sums cannot overflow), and sensitive to every bit of
    every value and to its position."""
    flat = tf.reshape(x, [-1])
    if flat.dtype.is_floating:
        flat = flat * tf.constant(scale, dtype=flat.dtype)
    q = tf.math.floormod(tf.cast(flat, tf.int64), tf.constant(1000003, tf.int64))
    weights = tf.range(tf.size(q, out_type=tf.int64), dtype=tf.int64) % 1009 + 1
    return tf.stack([tf.reduce_sum(q), tf.reduce_sum(q * weights)], name=name)


def cases():
    with Case("random_uniform_float32_shapes", "RandomUniform float32 with a graph seed: scalar, odd sizes, "
              "minval/maxval; the stream moves on between runs, also when a new fetch set makes a new plan") as c:
        tf1.set_random_seed(1234)
        a = tf.random.uniform([], name="a")
        b = tf.random.uniform([7], name="b")
        d = tf.random.uniform([3, 5], seed=11, name="d")
        e = tf.random.uniform([2, 3, 3], minval=-2.0, maxval=3.0, seed=12, name="e")
        z = tf.random.uniform([0, 4], seed=13, name="z")
        for _ in range(2):
            c.session([
                c.step(fetches=[a, b, d, e, z]),
                c.step(fetches=[a, b, d, e, z]),
                c.step(fetches=[b, e]),
                c.step(fetches=[a, d]),
            ])

    with Case("random_uniform_float64_half", "RandomUniform float64 (two values per block) and float16") as c:
        tf1.set_random_seed(99)
        x = tf.random.uniform([5], dtype=tf.float64, seed=1, name="x")
        y = tf.random.uniform([3, 3], minval=1.0, maxval=2.0, dtype=tf.float64, seed=2, name="y")
        h = tf.random.uniform([9], dtype=tf.float16, seed=3, name="h")
        _twice(c, [x, y, h])

    with Case("random_standard_normal_dtypes", "RandomStandardNormal by Box-Muller: float32, float64, float16, "
              "with mean and stddev") as c:
        tf1.set_random_seed(2024)
        f = tf.random.normal([9], seed=1, name="f")
        g = tf.random.normal([3, 5], mean=1.5, stddev=0.25, seed=2, name="g")
        d = tf.random.normal([7], dtype=tf.float64, seed=3, name="d")
        h = tf.random.normal([5, 3], dtype=tf.float16, seed=4, name="h")
        _twice(c, [f, g, d, h])

    with Case("random_truncated_normal_dtypes", "TruncatedNormal: rejection outside ±2 with TensorFlow's "
              "sample consumption, float32, float64, float16") as c:
        tf1.set_random_seed(77)
        f = tf.random.truncated_normal([13], seed=1, name="f")
        g = tf.random.truncated_normal([4, 5], mean=-1.0, stddev=3.0, seed=2, name="g")
        d = tf.random.truncated_normal([9], dtype=tf.float64, seed=3, name="d")
        h = tf.random.truncated_normal([11], dtype=tf.float16, seed=4, name="h")
        _twice(c, [f, g, d, h])

    with Case("random_uniform_int_ranges", "RandomUniformInt int32 and int64 (64 random bits per value), "
              "ranges that overflow the signed type") as c:
        tf1.set_random_seed(5)
        a = tf.random.uniform([11], minval=-5, maxval=17, dtype=tf.int32, seed=1, name="a")
        b = tf.random.uniform([2, 3], minval=-2**31, maxval=2**31 - 1, dtype=tf.int32, seed=2, name="b")
        d = tf.random.uniform([5], minval=-2**40, maxval=2**50, dtype=tf.int64, seed=3, name="d")
        e = tf.random.uniform([3], minval=-2**63, maxval=2**63 - 1, dtype=tf.int64, seed=4, name="e")
        _twice(c, [a, b, d, e])

    with Case("random_uniform_int_bounds_error", "RandomUniformInt refuses minval >= maxval and non-scalar "
              "bounds, except for an empty output") as c:
        lo = tf1.placeholder(tf.int32, None, name="lo")
        n = tf1.placeholder(tf.int32, [None], name="n")
        r = tf.raw_ops.RandomUniformInt(shape=n, minval=lo, maxval=tf.constant(4), seed=3, seed2=4, name="r")
        c.session([
            c.step(fetches=[r], feeds={lo: 4, n: [3]}),
            c.step(fetches=[r], feeds={lo: 9, n: [0]}),
            c.step(fetches=[r], feeds={lo: [1], n: [3]}),
            c.step(fetches=[r], feeds={lo: 1, n: [5]}),
        ])

    with Case("random_shuffle_ranks", "RandomShuffle: 1-D, 2-D and 3-D (rows move whole), one row, scalar; "
              "size - 1 words per shuffle") as c:
        tf1.set_random_seed(31)
        v = tf.random.shuffle(tf.range(10), seed=1, name="v")
        m = tf.random.shuffle(tf.reshape(tf.range(18, dtype=tf.float32), [6, 3]), seed=2, name="m")
        t = tf.random.shuffle(tf.reshape(tf.range(24, dtype=tf.int64), [4, 3, 2]), seed=3, name="t")
        one = tf.random.shuffle(tf.constant([[1.0, 2.0, 3.0]]), seed=4, name="one")
        s = tf.random.shuffle(tf.constant(7), seed=5, name="s")
        h = tf.random.shuffle(tf.constant([1.5, 2.5, 3.5, 4.5, 5.5], dtype=tf.float16), seed=6, name="h")
        b = tf.random.shuffle(tf.constant([True, False, False, True, True, False]), seed=7, name="b")
        _twice(c, [v, m, t, one, s, h, b])

    with Case("random_large_checksums", "Tensors of more than 64k values (work split across threads), "
              "checked through exact int64 checksums of every value") as c:
        tf1.set_random_seed(4321)
        shape = [263, 257]
        sums = [
            _checksum(tf.random.uniform(shape, seed=1), 2.0**23, "uniform32"),
            _checksum(tf.random.normal(shape, seed=2), 2.0**20, "normal32"),
            _checksum(tf.random.truncated_normal(shape, seed=3), 2.0**21, "truncated32"),
            _checksum(tf.random.uniform([70001], dtype=tf.float64, seed=4), 2.0**52, "uniform64"),
            _checksum(tf.random.normal([70001], dtype=tf.float64, seed=5), 2.0**40, "normal64"),
            _checksum(tf.random.truncated_normal([70001], dtype=tf.float64, seed=6), 2.0**40, "truncated64"),
            _checksum(tf.random.normal([66001], dtype=tf.float16, seed=7), 2.0**10, "normal16"),
            _checksum(tf.random.uniform([65539], minval=-1000, maxval=2**40, dtype=tf.int64, seed=8), 1, "int64"),
            _checksum(tf.random.uniform([65539], minval=-7, maxval=100003, dtype=tf.int32, seed=9), 1, "int32"),
            _checksum(tf.random.shuffle(tf.range(70000), seed=10), 1, "shuffle"),
        ]
        _twice(c, sums)

    with Case("random_seed_attrs", "Seeds as TensorFlow sets them: an op seed without a graph seed, seed 0 with "
              "seed2 set, negative and 64-bit seeds") as c:
        a = tf.random.uniform([6], seed=42, name="a")
        b = tf.raw_ops.RandomUniform(shape=[6], dtype=tf.float32, seed=0, seed2=9, name="b")
        d = tf.raw_ops.RandomStandardNormal(shape=[5], dtype=tf.float32, seed=-3, seed2=2**62 + 7, name="d")
        e = tf.raw_ops.TruncatedNormal(shape=[5], dtype=tf.float32, seed=2**40 + 1, seed2=-1, name="e")
        _twice(c, [a, b, d, e])

    with Case("random_unseeded", "Without any seed the values differ per session; they stay in range") as c:
        u = tf.random.uniform([50], name="u")
        t = tf.random.truncated_normal([50], name="t")
        ok = tf.reduce_all(tf.stack([
            tf.reduce_all(tf.logical_and(u >= 0.0, u < 1.0)),
            tf.reduce_all(tf.abs(t) < 2.0),
        ]), name="ok")
        _twice(c, [ok, tf.shape(u)])

    with Case("random_initializers_variables", "Seeded initializers on variables: glorot uniform, truncated "
              "normal, random normal, random uniform; initializing again draws new values") as c:
        tf1.set_random_seed(8)
        v1 = tf1.get_variable("glorot", [5, 7], initializer=tf1.glorot_uniform_initializer(seed=1),
                              use_resource=False)
        v2 = tf1.get_variable("trunc", [3, 3, 4, 2], initializer=tf1.truncated_normal_initializer(stddev=0.1, seed=2),
                              use_resource=False)
        v3 = tf1.get_variable("normal", [6], initializer=tf1.random_normal_initializer(1.0, 2.0, seed=3),
                              use_resource=False)
        v4 = tf1.get_variable("uniform", [3, 2], initializer=tf1.random_uniform_initializer(-1.0, 1.0),
                              use_resource=False)
        v5 = tf1.get_variable("he", [4, 3], initializer=tf1.initializers.he_normal(seed=5), use_resource=False)
        init = tf1.global_variables_initializer()
        fetched = [v1, v2, v3, v4, v5]
        for _ in range(2):
            c.session([
                c.step(targets=[init]),
                c.step(fetches=fetched),
                c.step(targets=[init]),
                c.step(fetches=fetched),
            ])

    with Case("random_shape_errors", "A random op's shape input: negative dimension, not a vector, more than "
              "2**63 - 1 elements") as c:
        s32 = tf1.placeholder(tf.int32, None, name="s32")
        s64 = tf1.placeholder(tf.int64, None, name="s64")
        u = tf.raw_ops.RandomUniform(shape=s32, dtype=tf.float32, seed=1, seed2=2, name="u")
        n = tf.raw_ops.RandomStandardNormal(shape=s64, dtype=tf.float32, seed=1, seed2=2, name="n")
        c.session([
            c.step(fetches=[u], feeds={s32: [2, -1]}),
            c.step(fetches=[u], feeds={s32: [[2]]}),
            c.step(fetches=[u], feeds={s32: 3}),
            c.step(fetches=[n], feeds={s64: [2**40, 2**40]}),
            c.step(fetches=[u], feeds={s32: [2, 2]}),
        ])

    with Case("random_multinomial_logits", "Multinomial over float32, float64 and float16 logits, int64 and int32 "
              "indices; non-finite logits are skipped and a row with none finite yields num_classes") as c:
        tf1.set_random_seed(606)
        f = tf.random.categorical(tf.constant([[0.0, 1.0, 2.0, -1.0, 0.5], [3.0, 3.0, 3.0, 3.0, 3.0],
                                               [-50.0, 10.0, 9.5, 0.0, 1.0]]), 7, seed=1, name="f")
        d = tf.random.categorical(tf.constant([[0.1, 0.2, 0.3, 0.4], [1e-3, 5.0, -5.0, 2.0]], tf.float64), 9,
                                  dtype=tf.int32, seed=2, name="d")
        h = tf.random.categorical(tf.constant([[1.0, 0.0, -1.0], [0.25, 0.5, 0.75]], tf.float16), 5, seed=3,
                                  name="h")
        n = tf.random.categorical(tf.constant([[np.nan, np.inf, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf, -np.inf]]),
                                  4, seed=4, name="n")
        _twice(c, [f, d, h, n])

    with Case("random_multinomial_errors", "Multinomial refuses logits that are not a matrix, a negative "
              "num_samples and zero classes; an empty batch or no samples give an empty result") as c:
        logits = tf1.placeholder(tf.float32, None, name="logits")
        count = tf1.placeholder(tf.int32, [], name="count")
        m = tf.raw_ops.Multinomial(logits=logits, num_samples=count, seed=5, seed2=6, name="m")
        c.session([
            c.step(fetches=[m], feeds={logits: [1.0, 2.0], count: 2}),
            c.step(fetches=[m], feeds={logits: [[1.0, 2.0]], count: -1}),
            c.step(fetches=[m], feeds={logits: np.zeros((2, 0), np.float32), count: 2}),
            c.step(fetches=[m], feeds={logits: np.zeros((0, 3), np.float32), count: 2}),
            c.step(fetches=[m], feeds={logits: np.zeros((2, 3), np.float32), count: 0}),
            c.step(fetches=[m], feeds={logits: [[1.0, 2.0, 3.0]], count: 6}),
        ])

    with Case("random_stateless_v2_dtypes", "tf.random.stateless_* (StatelessRandomGetKeyCounter and the V2 "
              "ops): uniform, normal, truncated normal in three float types, bounded and full-range integers; "
              "the same seed gives the same values in every run") as c:
        seed = tf.constant([7, 11], name="seed")
        fetches = [
            tf.random.stateless_uniform([9], seed=seed, name="u32"),
            tf.random.stateless_uniform([3, 3], seed=seed, dtype=tf.float64, name="u64"),
            tf.random.stateless_uniform([7], seed=seed, dtype=tf.float16, name="u16"),
            tf.random.stateless_normal([2, 5], seed=[1, 2], mean=1.0, stddev=2.0, name="n32"),
            tf.random.stateless_normal([5], seed=[1, 2], dtype=tf.float64, name="n64"),
            tf.random.stateless_truncated_normal([11], seed=[-3, 2**40], name="t32"),
            tf.random.stateless_truncated_normal([5], seed=[-3, 2**40], dtype=tf.float64, name="t64"),
            tf.random.stateless_uniform([7], seed=[5, 6], minval=-4, maxval=9, dtype=tf.int32, name="i32"),
            tf.random.stateless_uniform([5], seed=[5, 6], minval=-2**40, maxval=2**41, dtype=tf.int64, name="i64"),
            tf.random.stateless_uniform([6], seed=[5, 6], minval=None, maxval=None, dtype=tf.uint32, name="full32"),
            tf.random.stateless_uniform([3], seed=[5, 6], minval=None, maxval=None, dtype=tf.int64, name="full64"),
            tf.random.stateless_categorical([[0.0, 1.0, 2.0], [1.0, 1.0, -1.0]], 6, seed=[8, 9], name="cat"),
        ]
        key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(seed=seed, name="kc")
        _twice(c, fetches + [key, counter])

    with Case("random_stateless_v1_ops", "The first stateless ops, seeded by a tensor: StatelessRandomUniform, "
              "Normal, TruncatedNormal, UniformInt, Multinomial") as c:
        s32 = tf.constant([3, 4])
        s64 = tf.constant([-1, 2**50], tf.int64)
        fetches = [
            tf.raw_ops.StatelessRandomUniform(shape=[5], seed=s32, dtype=tf.float32, name="u"),
            tf.raw_ops.StatelessRandomNormal(shape=[3, 3], seed=s64, dtype=tf.float64, name="n"),
            tf.raw_ops.StatelessTruncatedNormal(shape=[9], seed=s32, dtype=tf.float16, name="t"),
            tf.raw_ops.StatelessRandomUniformInt(shape=[6], seed=s64, minval=tf.constant(-3, tf.int64),
                                                 maxval=tf.constant(100, tf.int64), name="i"),
            tf.raw_ops.StatelessMultinomial(logits=[[1.0, 2.0, 0.5]], num_samples=5, seed=s32, name="m"),
        ]
        _twice(c, fetches, sessions=1)

    with Case("random_stateless_large_checksums", "Stateless ops over more than 64k values, through exact "
              "checksums") as c:
        sums = [
            _checksum(tf.random.stateless_uniform([70001], seed=[1, 2]), 2.0**23, "uniform32"),
            _checksum(tf.random.stateless_normal([263, 257], seed=[3, 4], dtype=tf.float64), 2.0**40, "normal64"),
            _checksum(tf.random.stateless_truncated_normal([70001], seed=[5, 6]), 2.0**21, "truncated32"),
            _checksum(tf.random.stateless_uniform([65539], seed=[7, 8], minval=-9, maxval=2**40, dtype=tf.int64),
                      1, "int64"),
        ]
        _twice(c, sums, sessions=1)

    with Case("random_stateless_errors", "Stateless ops refuse a seed that is not of shape [2], a key that is "
              "not [1], an algorithm other than Philox, and minval >= maxval") as c:
        seed = tf1.placeholder(tf.int64, None, name="seed")
        key = tf1.placeholder(tf.uint64, None, name="key")
        alg = tf1.placeholder(tf.int32, None, name="alg")
        lo = tf1.placeholder(tf.int32, None, name="lo")
        u = tf.raw_ops.StatelessRandomUniform(shape=[3], seed=seed, dtype=tf.float32, name="u")
        v = tf.raw_ops.StatelessRandomUniformV2(shape=[3], key=key, counter=tf.constant([0, 5], tf.uint64), alg=alg,
                                                name="v")
        i = tf.raw_ops.StatelessRandomUniformIntV2(shape=[3], key=tf.constant([9], tf.uint64),
                                                   counter=tf.constant([1, 2], tf.uint64), alg=tf.constant(1),
                                                   minval=lo, maxval=tf.constant(4), name="i")
        c.session([
            c.step(fetches=[u], feeds={seed: [1, 2, 3]}),
            c.step(fetches=[u], feeds={seed: [1, 2]}),
            c.step(fetches=[v], feeds={key: [1, 2], alg: 1}),
            c.step(fetches=[v], feeds={key: [1], alg: 2}),
            c.step(fetches=[v], feeds={key: [1], alg: 3}),
            c.step(fetches=[i], feeds={lo: 4}),
            c.step(fetches=[i], feeds={lo: -4}),
        ])
