"""Element-wise math: unary functions, the zero-safe binary ops, float classification, and
Einsum."""
import numpy as np
import tensorflow as tf

from lib import Case, tf1

raw = tf.raw_ops


def _values(dtype):
    """A spread of values with the edges element-wise math must get right."""
    return np.array([-3.5, -1.0, -0.5, -1e-6, 0.0, 1e-6, 0.5, 1.0, 2.5, 7.0], dtype=dtype)


def _unary(name, op, dtypes=(np.float32, np.float64, np.float16), values=_values, rtol=1e-5, arg="x"):
    for dtype in dtypes:
        tag = np.dtype(dtype).name
        tol = 1e-3 if dtype == np.float16 else rtol
        with Case(f"math_{name}_{tag}", f"{op.__name__} on {tag}", rtol=tol, atol=1e-6 if dtype != np.float16 else 1e-3) as c:
            x = tf1.placeholder(dtype, [None], name="x")
            y = op(**{arg: x}, name="y")
            c.session([c.step(fetches=[y], feeds={x: values(dtype)})])


def _positive(dtype):
    return np.array([1e-6, 0.01, 0.5, 1.0, 2.0, 9.0, 100.0, 1e6], dtype=dtype)


def _nonspecial(dtype):
    return np.array([-9.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.49, -0.0, 0.0], dtype=dtype)


def cases():
    _unary("log1p", raw.Log1p, values=lambda d: np.array([-0.5, -1e-6, 0.0, 1e-7, 0.5, 3.0, 100.0], dtype=d))
    _unary("expm1", raw.Expm1)
    _unary("erf", raw.Erf)
    _unary("erfc", raw.Erfc)
    _unary("sin", raw.Sin)
    _unary("cos", raw.Cos)
    _unary("rsqrt", raw.Rsqrt, values=_positive)
    _unary("sqrt", raw.Sqrt, values=_positive)
    _unary("reciprocal", raw.Reciprocal)
    _unary("square", raw.Square)
    _unary("floor", raw.Floor, values=_nonspecial)
    _unary("ceil", raw.Ceil, values=_nonspecial)
    _unary("round", raw.Round, values=_nonspecial)
    _unary("sign", raw.Sign)
    _unary("softplus", raw.Softplus, arg="features")
    _unary("softsign", raw.Softsign, arg="features")
    _unary("elu", raw.Elu, values=lambda d: np.array([-3.5, -1.0, -0.5, 0.0, 0.5, 2.0], dtype=d), arg="features")
    _unary("selu", raw.Selu, values=lambda d: np.array([-3.5, -1.0, -0.5, 0.0, 0.5, 2.0], dtype=d), arg="features")
    _unary("relu", raw.Relu, arg="features")
    _unary("relu6", raw.Relu6, arg="features")

    with Case("math_sin_cos_large", "Sin and Cos far from zero and on ±inf / NaN") as c:
        x = tf1.placeholder(tf.float32, [None], name="x")
        s, k = raw.Sin(x=x, name="s"), raw.Cos(x=x, name="k")
        c.session([c.step(fetches=[s, k], feeds={x: np.array([100.0, -1000.5, 3.14159265, np.inf, np.nan], np.float32)})])

    with Case("math_leaky_relu_alpha", "LeakyRelu with the default alpha and alpha=0.01, float32 and float64") as c:
        x = tf1.placeholder(tf.float32, [2, 3], name="x")
        d = tf1.placeholder(tf.float64, [3], name="d")
        a = raw.LeakyRelu(features=x, name="default")
        b = raw.LeakyRelu(features=x, alpha=0.01, name="small")
        e = raw.LeakyRelu(features=d, alpha=0.3, name="double")
        c.session([c.step(fetches=[a, b, e], feeds={
            x: np.array([[-2.0, -0.5, 0.0], [0.5, 3.0, -100.0]], np.float32),
            d: np.array([-1.0, 0.0, 2.0]),
        })])

    with Case("math_special_values", "Elu, Selu, Softplus, Softsign on ±inf and NaN; Softplus far from 0") as c:
        x = tf1.placeholder(tf.float32, [None], name="x")
        outs = [raw.Elu(features=x, name="elu"), raw.Selu(features=x, name="selu"),
                raw.Softplus(features=x, name="softplus"), raw.Softsign(features=x, name="softsign")]
        c.session([c.step(fetches=outs, feeds={x: np.array([-np.inf, -200.0, -20.0, 20.0, 200.0, np.inf], np.float32)})])

    with Case("math_relu_int32", "Relu and Relu6 on int32") as c:
        x = tf1.placeholder(tf.int32, [None], name="x")
        c.session([c.step(fetches=[raw.Relu(features=x, name="r"), raw.Relu6(features=x, name="r6")],
                          feeds={x: np.array([-5, 0, 3, 6, 9], np.int32)})])

    with Case("math_erf_large", "Erf and Erfc on float64 far from zero") as c:
        x = tf1.placeholder(tf.float64, [None], name="x")
        c.session([c.step(fetches=[raw.Erf(x=x, name="e"), raw.Erfc(x=x, name="ec")],
                          feeds={x: np.array([-30.0, -6.0, -1e-3, 6.0, 30.0])})])

    for name, op in [("div_no_nan", raw.DivNoNan), ("xlogy", raw.Xlogy), ("xdivy", raw.Xdivy)]:
        for dtype in (np.float32, np.float64):
            tag = np.dtype(dtype).name
            with Case(f"math_{name}_{tag}", f"{op.__name__} with broadcasting and zeros on {tag}") as c:
                x = tf1.placeholder(dtype, [None, 3], name="x")
                y = tf1.placeholder(dtype, [3], name="y")
                z = op(x=x, y=y, name="z")
                c.session([c.step(fetches=[z], feeds={
                    x: np.array([[0.0, 1.0, -2.0], [0.0, 0.0, 3.0], [np.nan, 4.0, 0.0]], dtype),
                    y: np.array([0.0, 2.0, 0.5], dtype),
                })])
        with Case(f"math_{name}_incompatible", f"{op.__name__} on shapes that do not broadcast") as c:
            x = tf1.placeholder(tf.float32, None, name="x")
            y = tf1.placeholder(tf.float32, None, name="y")
            z = op(x=x, y=y, name="z")
            c.session([c.step(fetches=[z], feeds={x: np.ones((2, 3), np.float32), y: np.ones((2,), np.float32)})])

    with Case("math_xlogy_nan_and_zero", "Xlogy(0, 0) is 0, Xlogy(0, nan) is 0, Xlogy(x, 0) is -inf") as c:
        x = tf1.placeholder(tf.float32, [None], name="x")
        y = tf1.placeholder(tf.float32, [None], name="y")
        z = raw.Xlogy(x=x, y=y, name="z")
        w = raw.Xdivy(x=x, y=y, name="w")
        c.session([c.step(fetches=[z, w], feeds={
            x: np.array([0.0, 0.0, 2.0, -1.0, np.nan], np.float32),
            y: np.array([0.0, np.nan, 0.0, 0.0, 1.0], np.float32),
        })])

    for name, op in [("is_finite", raw.IsFinite), ("is_nan", raw.IsNan), ("is_inf", raw.IsInf)]:
        with Case(f"math_{name}", f"{op.__name__} on float32 and float16, including an empty tensor") as c:
            x = tf1.placeholder(tf.float32, None, name="x")
            h = tf1.placeholder(tf.float16, None, name="h")
            a, b = op(x=x, name="a"), op(x=h, name="b")
            special = [np.nan, np.inf, -np.inf, 0.0, -1.5, 3e38]
            c.session([
                c.step(fetches=[a, b], feeds={x: np.array(special, np.float32).reshape(2, 3),
                                              h: np.array(special[:5], np.float16)}),
                c.step(fetches=[a], feeds={x: np.zeros((0, 4), np.float32)}),
            ])

    _einsum_cases()


def _einsum_cases():
    rng = np.random.default_rng(7)

    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    two = [
        ("matmul", "ij,jk->ik", (3, 4), (4, 5)),
        ("batch_matmul", "bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
        ("attention_scores", "bhqd,bhkd->bhqk", (2, 3, 4, 5), (2, 3, 6, 5)),
        ("attention_values", "bhqk,bhkd->bhqd", (2, 3, 4, 6), (2, 3, 6, 5)),
        ("outer", "i,j->ij", (3,), (4,)),
        ("dot", "i,i->", (5,), (5,)),
        ("contract_two", "abc,bcd->ad", (2, 3, 4), (3, 4, 5)),
        ("sum_one_side", "ij,k->ik", (2, 3), (4,)),
        ("ellipsis", "...ij,...jk->...ik", (2, 2, 3), (2, 3, 4)),
        ("ellipsis_broadcast", "...ij,...jk->...ik", (2, 1, 2, 3), (3, 3, 4)),
        ("transposed_output", "ij,jk->ki", (3, 4), (4, 5)),
    ]
    for name, equation, a_shape, b_shape in two:
        with Case(f"math_einsum_{name}", f"Einsum '{equation}'", rtol=1e-4, atol=1e-5) as c:
            a = tf1.placeholder(tf.float32, a_shape, name="a")
            b = tf1.placeholder(tf.float32, b_shape, name="b")
            z = raw.Einsum(inputs=[a, b], equation=equation, name="z")
            c.session([c.step(fetches=[z], feeds={a: f32(*a_shape), b: f32(*b_shape)})])
    one = [
        ("transpose", "ij->ji", (3, 4)),
        ("reduce", "ijk->ik", (2, 3, 4)),
        ("reduce_all", "ij->", (3, 4)),
        ("permute3", "abc->cab", (2, 3, 4)),
    ]
    for name, equation, shape in one:
        with Case(f"math_einsum_{name}", f"Einsum '{equation}'", rtol=1e-4, atol=1e-5) as c:
            a = tf1.placeholder(tf.float32, shape, name="a")
            z = raw.Einsum(inputs=[a], equation=equation, name="z")
            c.session([c.step(fetches=[z], feeds={a: f32(*shape)})])
    with Case("math_einsum_double", "Einsum 'bij,bjk->bik' on float64") as c:
        a = tf1.placeholder(tf.float64, (2, 2, 3), name="a")
        b = tf1.placeholder(tf.float64, (2, 3, 2), name="b")
        z = raw.Einsum(inputs=[a, b], equation="bij,bjk->bik", name="z")
        c.session([c.step(fetches=[z], feeds={a: rng.standard_normal((2, 2, 3)), b: rng.standard_normal((2, 3, 2))})])
    with Case("math_einsum_mismatch", "Einsum 'ij,jk->ik' with contracted sizes that differ") as c:
        a = tf1.placeholder(tf.float32, None, name="a")
        b = tf1.placeholder(tf.float32, None, name="b")
        z = raw.Einsum(inputs=[a, b], equation="ij,jk->ik", name="z")
        c.session([c.step(fetches=[z], feeds={a: f32(2, 3), b: f32(4, 2)})])
