"""bfloat16 and complex element-wise math, reductions and products, the ops that build and take
apart complex numbers, Cast's rounding between them, and Einsum's diagonals and ellipsis
broadcasting (`dtypes2_*`).

bfloat16 results are computed in float32 and rounded, as TensorFlow's CPU kernels do; where
TensorFlow rounds intermediate values of a composite function (sigmoid, softmax, a product's
running value) the case allows one bfloat16 step (rtol 1e-2)."""
import numpy as np
import tensorflow as tf

from lib import Case, tf1

raw = tf.raw_ops


def _complex(dtype, values):
    return np.array(values, dtype.as_numpy_dtype)


def _cast_cases():
    with Case("dtypes2_cast_bfloat16_rounding", "Cast float32 to bfloat16: ties to even, NaN, infinities, overflow, signed zero; and back.") as c:
        x = tf1.placeholder(tf.float32, [None], name="x")
        b = tf.cast(x, tf.bfloat16, name="to_bf16")
        outputs = [
            b,
            tf.cast(b, tf.float32, name="bf16_f32"),
            tf.cast(b, tf.float64, name="bf16_f64"),
            tf.cast(b, tf.float16, name="bf16_f16"),
            tf.cast(b, tf.int32, name="bf16_i32"),
            tf.cast(b, tf.uint8, name="bf16_u8"),
            tf.cast(b, tf.int64, name="bf16_i64"),
            tf.cast(b, tf.bool, name="bf16_bool"),
            tf.cast(b, tf.complex64, name="bf16_c64"),
        ]
        values = np.array(
            # Values out of uint8's range come first: TensorFlow saturates them in its vectorised
            # loop (8 elements at a time) but wraps them in its scalar loop over the rest.
            [1.00390625, 1.01171875, 70000.0, -1.00390625, 255.5, 256.5, 3.4e38, -129.0, np.inf, -np.inf,
             np.nan, -0.0, 1e-40, 1.0000001, -3.4e38],
            np.float32,
        )
        c.session([c.step(fetches=outputs, feeds={x: values})])

    with Case("dtypes2_cast_complex", "Cast from complex to real types takes the real part; to bool tests the real part; between complex types keeps both.") as c:
        z = tf1.placeholder(tf.complex64, [None], name="z")
        outputs = [
            tf.cast(z, tf.float32, name="c64_f32"),
            tf.cast(z, tf.int32, name="c64_i32"),
            tf.cast(z, tf.uint8, name="c64_u8"),
            tf.cast(z, tf.bfloat16, name="c64_bf16"),
            tf.cast(z, tf.float16, name="c64_f16"),
            tf.cast(z, tf.bool, name="c64_bool"),
            tf.cast(z, tf.complex128, name="c64_c128"),
            tf.cast(tf.constant([2**40 + 1, -7], tf.int64), tf.complex128, name="i64_c128"),
            tf.cast(tf.constant([1.5, -2.0], tf.bfloat16), tf.complex128, name="bf16_c128"),
            tf.cast(tf.constant([1e300 + 1j], tf.complex128), tf.complex64, name="c128_c64_overflow"),
        ]
        values = np.array([2.7 - 5j, -3.9 + 1j, 0 + 4j, np.nan + 1j, 1.00390625 + 0j, 300.5 - 1j], np.complex64)
        c.session([c.step(fetches=outputs, feeds={z: values})])

    with Case("dtypes2_cast_to_bfloat16", "Cast from integers, float64 and half to bfloat16 rounds once, to nearest even.") as c:
        outputs = [
            tf.cast(tf.constant([257, 258, 259, -2**31, 2**31 - 1], tf.int32), tf.bfloat16, name="i32"),
            tf.cast(tf.constant([2**63 - 1, 2**53 + 1], tf.int64), tf.bfloat16, name="i64"),
            tf.cast(tf.constant([255, 129], tf.uint8), tf.bfloat16, name="u8"),
            tf.cast(tf.constant([1.0039062500000002, 1e-320, 1e300], tf.float64), tf.bfloat16, name="f64"),
            tf.cast(tf.constant([0.1, 65504, -0.0], tf.float16), tf.bfloat16, name="f16"),
            tf.cast(tf.constant([True, False]), tf.bfloat16, name="bool"),
        ]
        c.session([c.step(fetches=outputs)])


def _bfloat16_cases():
    with Case("dtypes2_bfloat16_binary", "bfloat16 arithmetic with broadcasting, computed in float32 and rounded (TensorFlow rounds SquaredDifference's difference first).", rtol=1e-2) as c:
        x = tf1.placeholder(tf.bfloat16, [2, 3], name="x")
        y = tf1.placeholder(tf.bfloat16, [3], name="y")
        outputs = [
            tf.add(x, y, name="add"),
            tf.subtract(x, y, name="sub"),
            tf.multiply(x, y, name="mul"),
            tf.realdiv(x, y, name="realdiv"),
            raw.Div(x=x, y=y, name="div"),
            tf.maximum(x, y, name="maximum"),
            tf.minimum(x, y, name="minimum"),
            tf.pow(x, y, name="pow"),
            tf.math.squared_difference(x, y, name="squared_difference"),
            tf.math.floordiv(x, y, name="floordiv"),
            tf.math.floormod(x, y, name="floormod"),
            tf.math.add_n([x, x, x], name="add_n"),
        ]
        feeds = {
            x: np.array([[1.5, -2.25, 3.0], [100.5, 0.0078125, -7.0]], np.float32),
            y: np.array([0.5, 3.0, -1.75], np.float32),
        }
        c.session([c.step(fetches=outputs, feeds=feeds)])

    with Case("dtypes2_bfloat16_unary", "bfloat16 unary math as TensorFlow registers it.", rtol=1e-2, atol=1e-3) as c:
        x = tf1.placeholder(tf.bfloat16, [None], name="x")
        p = tf.abs(x) + tf.constant(0.125, tf.bfloat16)
        outputs = [
            tf.negative(x, name="neg"), tf.abs(x, name="abs"), tf.square(x, name="square"),
            tf.sqrt(p, name="sqrt"), tf.math.rsqrt(p, name="rsqrt"), tf.exp(x, name="exp"), tf.math.log(p, name="log"),
            tf.tanh(x, name="tanh"), tf.sigmoid(x, name="sigmoid"), tf.sign(x, name="sign"),
            tf.math.reciprocal(p, name="reciprocal"), tf.floor(x, name="floor"), tf.math.ceil(x, name="ceil"),
            tf.round(x, name="round"), tf.math.log1p(p, name="log1p"), tf.math.expm1(x, name="expm1"),
            tf.math.erf(x, name="erf"), tf.math.erfc(x, name="erfc"), tf.sin(x, name="sin"), tf.cos(x, name="cos"),
            tf.math.is_nan(x, name="is_nan"), tf.math.is_finite(x, name="is_finite"),
        ]
        c.session([c.step(fetches=outputs, feeds={x: np.array([-2.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.75, -10.0], np.float32)})])

    with Case("dtypes2_bfloat16_special", "bfloat16 unary math on NaN and infinities.") as c:
        x = tf1.placeholder(tf.bfloat16, [None], name="x")
        outputs = [
            tf.negative(x, name="neg"), tf.abs(x, name="abs"), tf.sign(x, name="sign"), tf.exp(x, name="exp"),
            tf.math.is_nan(x, name="is_nan"), tf.math.is_inf(x, name="is_inf"), tf.nn.relu(x, name="relu"),
            tf.math.floor(x, name="floor"), tf.math.reciprocal(x, name="reciprocal"),
        ]
        c.session([c.step(fetches=outputs, feeds={x: np.array([np.nan, np.inf, -np.inf, -0.0, 0.0], np.float32)})])

    with Case("dtypes2_bfloat16_compare", "bfloat16 comparisons with broadcasting and NaN.") as c:
        x = tf1.placeholder(tf.bfloat16, [2, 3], name="x")
        y = tf1.placeholder(tf.bfloat16, [3], name="y")
        outputs = [
            tf.less(x, y, name="less"), tf.less_equal(x, y, name="less_equal"), tf.greater(x, y, name="greater"),
            tf.greater_equal(x, y, name="greater_equal"), tf.equal(x, y, name="equal"),
            tf.not_equal(x, y, name="not_equal"),
        ]
        feeds = {
            x: np.array([[1.0, np.nan, 3.0], [1.00390625, 2.0, -np.inf]], np.float32),
            y: np.array([1.0, 2.0, -np.inf], np.float32),
        }
        c.session([c.step(fetches=outputs, feeds=feeds)])

    with Case("dtypes2_bfloat16_reduce", "bfloat16 reductions over axes (negative, keep_dims, all, none) and ArgMax/ArgMin.", rtol=1e-2) as c:
        x = tf1.placeholder(tf.bfloat16, [2, 3, 4], name="x")
        outputs = [
            tf.reduce_sum(x, axis=[0, 2], name="sum"),
            tf.reduce_mean(x, axis=-1, keepdims=True, name="mean"),
            tf.reduce_max(x, axis=1, name="max"),
            tf.reduce_min(x, name="min"),
            tf.reduce_prod(x[:, :, :2], axis=[1], name="prod"),
            tf.reduce_sum(x, axis=[], name="sum_none"),
            tf.math.argmax(x, axis=2, name="argmax"),
            tf.math.argmin(x, axis=0, output_type=tf.int32, name="argmin"),
            tf.reduce_sum(tf.ones([1000], tf.bfloat16), name="sum_many"),
        ]
        values = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 11.5) * 0.25
        c.session([c.step(fetches=outputs, feeds={x: values})])

    with Case("dtypes2_bfloat16_nn", "bfloat16 MatMul, BatchMatMulV2, BiasAdd, activations, Softmax, Conv2D, pooling and Einsum.", rtol=1e-2, atol=1e-2) as c:
        a = tf1.placeholder(tf.bfloat16, [2, 3], name="a")
        b = tf1.placeholder(tf.bfloat16, [4, 3], name="b")
        image = tf.reshape(tf.cast(tf.range(32), tf.bfloat16) * 0.125 - 2.0, [1, 4, 4, 2], name="image")
        kernel = tf.reshape(tf.cast(tf.range(24), tf.bfloat16) * 0.0625 - 0.75, [2, 2, 2, 3], name="kernel")
        depthwise = tf.reshape(tf.cast(tf.range(8), tf.bfloat16) * 0.25 - 1.0, [2, 2, 2, 1], name="depthwise")
        bias = tf.constant([0.5, -1.0, 0.25, 2.0], tf.bfloat16, name="bias")
        product = tf.matmul(a, b, transpose_b=True, name="matmul")
        outputs = [
            product,
            tf.linalg.matmul(tf.reshape(b, [2, 2, 3]), tf.reshape(a, [1, 3, 2]), name="batch_matmul"),
            tf.nn.bias_add(product, bias, name="bias_add"),
            tf.nn.relu(product, name="relu"), tf.nn.relu6(product, name="relu6"), tf.nn.elu(product, name="elu"),
            tf.nn.selu(product, name="selu"), tf.nn.softplus(product, name="softplus"),
            tf.nn.leaky_relu(product, alpha=0.1, name="leaky_relu"),
            tf.nn.softmax(product, name="softmax"), tf.nn.log_softmax(product, name="log_softmax"),
            tf.nn.l2_loss(a, name="l2_loss"),
            tf.nn.conv2d(image, kernel, strides=1, padding="SAME", name="conv2d"),
            tf.nn.depthwise_conv2d(image, depthwise, strides=[1, 1, 1, 1], padding="VALID", name="depthwise"),
            tf.nn.max_pool2d(image, 2, 2, "VALID", name="max_pool"),
            tf.nn.avg_pool2d(image, 2, 1, "SAME", name="avg_pool"),
            tf.einsum("ij,kj->ik", a, b, name="einsum"),
            tf.nn.softmax_cross_entropy_with_logits(labels=tf.nn.softmax(product), logits=product, name="xent"),
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[1, 3], logits=product, name="sparse_xent"),
            tf.math.unsorted_segment_sum(b, [1, 0, 1, 1], num_segments=2, name="segment_sum"),
            tf.math.top_k(product, k=2, name="top_k").values,
        ]
        feeds = {
            a: np.array([[1.0, -2.0, 0.5], [3.25, 0.75, -1.5]], np.float32),
            b: np.array([[0.5, 1.0, -1.0], [2.0, 0.0, 1.5], [-0.25, 0.5, 4.0], [1.0, 1.0, 1.0]], np.float32),
        }
        c.session([c.step(fetches=outputs, feeds=feeds)])


def _complex_cases():
    for dtype in (tf.complex64, tf.complex128):
        suffix = "c64" if dtype == tf.complex64 else "c128"
        with Case(f"dtypes2_complex_binary_{suffix}", f"{dtype.name} arithmetic with broadcasting, powers and squared differences.") as c:
            x = tf1.placeholder(dtype, [2, 3], name="x")
            y = tf1.placeholder(dtype, [3], name="y")
            outputs = [
                tf.add(x, y, name="add"), tf.subtract(x, y, name="sub"), tf.multiply(x, y, name="mul"),
                tf.realdiv(x, y, name="realdiv"), raw.Div(x=x, y=y, name="div"), tf.pow(x, y, name="pow"),
                tf.math.squared_difference(x, y, name="squared_difference"), tf.math.add_n([x, x], name="add_n"),
            ]
            feeds = {
                x: _complex(dtype, [[1 + 2j, -3.5 + 0.5j, 0.25 - 1j], [2j, -1 - 1j, 4 + 0j]]),
                y: _complex(dtype, [0.5 - 1j, 2 + 0j, -1 + 3j]),
            }
            c.session([c.step(fetches=outputs, feeds=feeds)])

        with Case(f"dtypes2_complex_unary_{suffix}", f"{dtype.name} unary math as TensorFlow registers it.", rtol=1e-5, atol=1e-6) as c:
            x = tf1.placeholder(dtype, [None], name="x")
            outputs = [
                tf.negative(x, name="neg"), tf.square(x, name="square"), tf.sqrt(x, name="sqrt"),
                tf.math.rsqrt(x, name="rsqrt"), tf.exp(x, name="exp"), tf.math.log(x, name="log"),
                tf.tanh(x, name="tanh"), tf.sigmoid(x, name="sigmoid"), tf.sign(x, name="sign"),
                tf.math.reciprocal(x, name="reciprocal"), tf.math.log1p(x, name="log1p"),
                tf.math.expm1(x, name="expm1"), tf.sin(x, name="sin"), tf.cos(x, name="cos"),
            ]
            values = _complex(dtype, [1 + 2j, -3.5 + 0.5j, 0.25 - 1j, -4 - 0j, 1e-4 + 2e-4j, -0.5 + 0.75j, 3 - 4j])
            c.session([c.step(fetches=outputs, feeds={x: values})])

        with Case(f"dtypes2_complex_parts_{suffix}", f"Real, Imag, Angle, ComplexAbs, Conj and Complex (broadcasting) on {dtype.name}.") as c:
            x = tf1.placeholder(dtype, [None], name="x")
            real = tf1.placeholder(dtype.real_dtype, [2, 1], name="real")
            imag = tf1.placeholder(dtype.real_dtype, [3], name="imag")
            outputs = [
                tf.math.real(x, name="real_part"), tf.math.imag(x, name="imag_part"),
                tf.math.angle(x, name="angle"), tf.abs(x, name="complex_abs"), tf.math.conj(x, name="conj"),
                tf.complex(real, imag, name="complex"),
            ]
            feeds = {
                x: _complex(dtype, [1 + 2j, -3.5 + 0.5j, 0j, -1 - 0j, 3e30 + 4e30j, -2j]),
                real: np.array([[1.5], [-2.0]], dtype.real_dtype.as_numpy_dtype),
                imag: np.array([0.0, -1.0, 2.5], dtype.real_dtype.as_numpy_dtype),
            }
            c.session([c.step(fetches=outputs, feeds=feeds)])

        with Case(f"dtypes2_complex_reduce_{suffix}", f"Sum, Mean and Prod of {dtype.name} over axes, and Equal/NotEqual.") as c:
            x = tf1.placeholder(dtype, [2, 3], name="x")
            outputs = [
                tf.reduce_sum(x, axis=1, name="sum"), tf.reduce_mean(x, axis=0, keepdims=True, name="mean"),
                tf.reduce_prod(x, name="prod"), tf.reduce_sum(x, axis=[-2, -1], name="sum_all"),
                tf.equal(x, x[0], name="equal"), tf.not_equal(x, x[:, :1], name="not_equal"),
            ]
            feeds = {x: _complex(dtype, [[1 + 2j, -3.5 + 0.5j, 0.25 - 1j], [1 + 2j, -1 - 1j, 0.25 - 1j]])}
            c.session([c.step(fetches=outputs, feeds=feeds)])

        with Case(f"dtypes2_complex_matmul_{suffix}", f"{dtype.name} MatMul (transposes without conjugating), BatchMatMulV2 (adjoints conjugate), BiasAdd and Einsum.") as c:
            a = tf1.placeholder(dtype, [2, 3], name="a")
            b = tf1.placeholder(dtype, [3, 2], name="b")
            outputs = [
                tf.matmul(a, b, name="matmul"),
                raw.MatMul(a=a, b=a, transpose_a=True, name="matmul_ta"),
                raw.BatchMatMulV2(x=tf.reshape(a, [1, 2, 3]), y=tf.reshape(a, [2, 1, 3]), adj_y=True, name="bmm_adj_y"),
                raw.BatchMatMulV2(x=b, y=b, adj_x=True, name="bmm_adj_x"),
                tf.nn.bias_add(a, a[0], name="bias_add"),
                tf.nn.bias_add(tf.reshape(a, [1, 2, 3, 1]), a[:, 0], data_format="NCHW", name="bias_add_nchw"),
                tf.einsum("ij,jk->ik", a, b, name="einsum"),
                tf.einsum("ij->j", a, name="einsum_sum"),
            ]
            feeds = {
                a: _complex(dtype, [[1 + 2j, -3.5 + 0.5j, 0.25 - 1j], [2j, -1 - 1j, 4 + 0j]]),
                b: _complex(dtype, [[0.5 - 1j, 2 + 0j], [-1 + 3j, 1j], [1 + 1j, -2 + 0.5j]]),
            }
            c.session([c.step(fetches=outputs, feeds=feeds)])

    with Case("dtypes2_complex_special", "complex64 division by zero (NaN in TensorFlow's vectorised kernel, which four elements take) and square roots of zero.") as c:
        x = tf1.placeholder(tf.complex64, [None], name="x")
        zero = tf.zeros_like(x)
        outputs = [
            tf.realdiv(x, zero, name="div_zero"), tf.math.reciprocal(x, name="reciprocal"),
            tf.sqrt(x, name="sqrt"), tf.math.rsqrt(x, name="rsqrt"),
        ]
        c.session([c.step(fetches=outputs, feeds={x: np.array([1 + 2j, 3 - 1j, -4 + 0j, 0j], np.complex64)})])

    with Case("dtypes2_complex_refused_floordiv", "FloorDiv has no complex kernel in TensorFlow: InvalidArgument.") as c:
        x = tf1.placeholder(tf.complex64, [2], name="x")
        y = raw.FloorDiv(x=x, y=x, name="y")
        c.session([c.step(fetches=[y], feeds={x: np.array([1 + 1j, 2j], np.complex64)})])

    with Case("dtypes2_complex_refused_round", "Round has no complex kernel in TensorFlow: InvalidArgument.") as c:
        x = tf1.placeholder(tf.complex128, [2], name="x")
        y = tf.round(x, name="y")
        c.session([c.step(fetches=[y], feeds={x: np.array([1.5 + 1j, 2j], np.complex128)})])

    with Case("dtypes2_complex_refused_real_tout", "Real of complex128 with Tout float32 has no kernel: InvalidArgument.") as c:
        x = tf1.placeholder(tf.complex128, [2], name="x")
        y = raw.Real(input=x, Tout=tf.float32, name="y")
        c.session([c.step(fetches=[y], feeds={x: np.array([1.5 + 1j, 2j], np.complex128)})])


def _einsum_cases():
    def value(*shape):
        return np.arange(np.prod(shape), dtype=np.float32).reshape(shape) - 3.0

    with Case("dtypes2_einsum_diagonal", "Einsum with labels repeated within an operand (diagonals) or in the output (placed on a diagonal).") as c:
        m = tf1.placeholder(tf.float32, [3, 3], name="m")
        t = tf1.placeholder(tf.float32, [2, 2, 3], name="t")
        u = tf1.placeholder(tf.float32, [2, 3, 2], name="u")
        v = tf1.placeholder(tf.float32, [3], name="v")
        b = tf1.placeholder(tf.float32, [2, 3, 3], name="b")
        outputs = [
            raw.Einsum(inputs=[m], equation="ii->i", name="diag"),
            raw.Einsum(inputs=[m], equation="ii->", name="trace"),
            raw.Einsum(inputs=[t], equation="iij->j", name="iij"),
            raw.Einsum(inputs=[v], equation="i->ii", name="inflate"),
            raw.Einsum(inputs=[u], equation="iji->ij", name="iji"),
            raw.Einsum(inputs=[u], equation="iji->jii", name="iji_inflate"),
            raw.Einsum(inputs=[m, v], equation="ii,i->i", name="diag_times"),
            raw.Einsum(inputs=[b], equation="bii->b", name="batch_trace"),
            raw.Einsum(inputs=[b, m], equation="bij,ii->bj", name="with_diagonal"),
            raw.Einsum(inputs=[m], equation="ii->ii", name="keep_diagonal"),
            raw.Einsum(inputs=[tf.cast(m, tf.int32)], equation="ii->i", name="diag_int"),
        ]
        feeds = {m: value(3, 3), t: value(2, 2, 3), u: value(2, 3, 2), v: value(3), b: value(2, 3, 3)}
        c.session([c.step(fetches=outputs, feeds=feeds)])

    with Case("dtypes2_einsum_diagonal_mismatch", "A repeated label over dimensions of different sizes is InvalidArgument.") as c:
        m = tf1.placeholder(tf.float32, [None, None], name="m")
        y = raw.Einsum(inputs=[m], equation="ii->i", name="y")
        c.session([c.step(fetches=[y], feeds={m: value(2, 3)})])

    with Case("dtypes2_einsum_ellipsis", "Einsum with '...' over batch dimensions of different ranks that broadcast.") as c:
        a = tf1.placeholder(tf.float32, [2, 1, 2, 3], name="a")
        b = tf1.placeholder(tf.float32, [4, 3, 2], name="b")
        x = tf1.placeholder(tf.float32, [2, 3, 4], name="x")
        p = tf1.placeholder(tf.float32, [3, 2], name="p")
        q = tf1.placeholder(tf.float32, [2], name="q")
        r = tf1.placeholder(tf.float32, [2, 3, 5], name="r")
        s = tf1.placeholder(tf.float32, [3, 2, 1], name="s")
        w = tf1.placeholder(tf.float32, [2, 4, 2], name="w")
        outputs = [
            raw.Einsum(inputs=[a, b], equation="...ij,...jk->...ik", name="batch_matmul"),
            raw.Einsum(inputs=[x], equation="i...->...", name="sum_leading"),
            raw.Einsum(inputs=[p, q], equation="...i,...i->...", name="dot_batched"),
            raw.Einsum(inputs=[r, s], equation="ij...,jk...->ik...", name="trailing"),
            raw.Einsum(inputs=[w], equation="i...i->...", name="trace_ellipsis"),
            raw.Einsum(inputs=[x], equation="...->...", name="identity"),
            raw.Einsum(inputs=[x], equation="...ij->...ji", name="transpose"),
            raw.Einsum(inputs=[x, tf.ones([4, 2])], equation="...j,jk->...k", name="unbatched_rhs"),
        ]
        feeds = {a: value(2, 1, 2, 3), b: value(4, 3, 2), x: value(2, 3, 4), p: value(3, 2), q: value(2),
                 r: value(2, 3, 5), s: value(3, 2, 1), w: value(2, 4, 2)}
        c.session([c.step(fetches=outputs, feeds=feeds)])

    with Case("dtypes2_einsum_ellipsis_mismatch", "Ellipsis dimensions that do not broadcast are InvalidArgument.") as c:
        a = tf1.placeholder(tf.float32, [None, 2, 3], name="a")
        b = tf1.placeholder(tf.float32, [None, 3, 2], name="b")
        y = raw.Einsum(inputs=[a, b], equation="...ij,...jk->...ik", name="y")
        c.session([c.step(fetches=[y], feeds={a: value(2, 2, 3), b: value(3, 3, 2)})])

    with Case("dtypes2_einsum_complex_bfloat16", "Einsum on complex128 (diagonal and product) and on bfloat16 with an ellipsis.", rtol=1e-2) as c:
        z = tf.constant(np.array([[1 + 1j, 2], [3j, -1 - 2j]], np.complex128), name="z")
        h = tf.constant(np.arange(12, dtype=np.float32).reshape(2, 2, 3) * 0.5, tf.bfloat16, name="h")
        outputs = [
            raw.Einsum(inputs=[z], equation="ii->i", name="complex_diag"),
            raw.Einsum(inputs=[z, z], equation="ij,jk->ik", name="complex_product"),
            raw.Einsum(inputs=[h, h], equation="...ij,...kj->...ik", name="bf16_batched"),
        ]
        c.session([c.step(fetches=outputs)])


def _einsum_gradient_cases():
    def value(*shape):
        return np.arange(np.prod(shape), dtype=np.float32).reshape(shape) * 0.5 - 1.0

    with Case("dtypes2_einsum_grad_diagonal", "Gradients of Einsum through diagonals and traces.") as c:
        m = tf1.placeholder(tf.float32, [3, 3], name="m")
        t = tf1.placeholder(tf.float32, [2, 2, 3], name="t")
        v = tf1.placeholder(tf.float32, [3], name="v")
        diag = raw.Einsum(inputs=[m], equation="ii->i", name="diag")
        trace = raw.Einsum(inputs=[m], equation="ii->", name="trace")
        iij = raw.Einsum(inputs=[t], equation="iij->j", name="iij")
        mixed = raw.Einsum(inputs=[m, v], equation="ii,i->i", name="mixed")
        weights = tf.constant([1.0, -2.0, 3.0])
        loss = tf.add_n([
            tf.reduce_sum(diag * weights), trace * 2.0, tf.reduce_sum(iij * weights), tf.reduce_sum(mixed * weights),
        ], name="loss")
        grads = tf.gradients(loss, [m, t, v], name="grads")
        c.session([c.step(fetches=grads, feeds={m: value(3, 3), t: value(2, 2, 3), v: value(3)})])

    with Case("dtypes2_einsum_grad_ellipsis", "Gradients of Einsum with '...' and broadcast batch dimensions.") as c:
        a = tf1.placeholder(tf.float32, [2, 1, 2, 3], name="a")
        b = tf1.placeholder(tf.float32, [4, 3, 2], name="b")
        x = tf1.placeholder(tf.float32, [2, 3, 4], name="x")
        product = raw.Einsum(inputs=[a, b], equation="...ij,...jk->...ik", name="product")
        summed = raw.Einsum(inputs=[x], equation="i...->...", name="summed")
        loss = tf.add(
            tf.reduce_sum(product * tf.reshape(tf.range(32, dtype=tf.float32), [2, 4, 2, 2])),
            tf.reduce_sum(summed * summed),
            name="loss",
        )
        grads = tf.gradients(loss, [a, b, x], name="grads")
        c.session([c.step(fetches=grads, feeds={a: value(2, 1, 2, 3), b: value(4, 3, 2), x: value(2, 3, 4)})])


def cases():
    _cast_cases()
    _bfloat16_cases()
    _complex_cases()
    _einsum_cases()
    _einsum_gradient_cases()
