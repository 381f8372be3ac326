"""The core cases: the seed program, control dependencies, explicit devices, every dtype a
GraphDef can hold, strings. The test suites and the multi-process tests run these (`core_*`)."""
import numpy as np
import tensorflow as tf

from lib import Case, tf1


def _variable(name, value, **kwargs):
    return tf1.Variable(value, name=name, use_resource=False, **kwargs)


def cases():
    with Case("core_seed", "The seed: assign then read; a second session reads an uninitialized value; a third re-initializes.") as c:
        foo = _variable("foo", 42)
        init = tf1.global_variables_initializer()
        assign = tf1.assign(foo, 13, name="assign")
        c.session([c.step(targets=[init]), c.step(targets=[assign]), c.step(fetches=[foo])])
        c.session([c.step(fetches=[foo])])
        c.session([c.step(targets=[init]), c.step(fetches=[foo])])

    with Case("core_counter_control_deps", "AssignAdd, and a read ordered after it by a control dependency.") as c:
        counter = _variable("counter", 0.0)
        init = tf1.global_variables_initializer()
        increment = tf1.assign_add(counter, 1.5, name="increment")
        # read_value() reads the ref itself after the increment. (tf.identity(counter) would read
        # `counter/read`, which TensorFlow aliases to the variable's buffer and Weft snapshots.)
        with tf.control_dependencies([increment]):
            after = tf.identity(counter.read_value(), name="after")
        c.session([c.step(targets=[init]), c.step(fetches=[after]), c.step(fetches=[after]), c.step(fetches=[counter])])

    with Case("core_placed_ps_workers", "Explicit /job:ps and /job:worker devices: the variable lives on ps, a step crosses three tasks.") as c:
        with tf.device("/job:ps/task:0"):
            w = _variable("w", np.arange(6, dtype=np.float32).reshape(3, 2))
            init = tf1.global_variables_initializer()
        with tf.device("/job:worker/task:0"):
            x = tf1.placeholder(tf.float32, [None, 3], name="x")
            y = tf.matmul(x, w, name="y")
        with tf.device("/job:worker/task:1"):
            z = tf.reduce_sum(y * 2.0, name="z")
            update = tf1.assign(w, w * 2.0, name="double_w")
        feed = {x: np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)}
        c.session([c.step(targets=[init]), c.step(fetches=[y, z], feeds=feed), c.step(targets=[update]), c.step(fetches=[z], feeds=feed)])

    with Case("core_dtypes_const", "A Const of every dtype a GraphDef can hold, fetched through Identity.") as c:
        values = {
            "f32": np.array([1.5, -2.25, np.inf], np.float32),
            "f64": np.array([1e300, -0.0, np.nan], np.float64),
            "f16": np.array([0.1, 65504, -1], np.float16),
            "bf16": tf.constant([1.0, 3.14159, -1e30], tf.bfloat16),
            "i8": np.array([-128, 127], np.int8),
            "i16": np.array([-32768, 7], np.int16),
            "i32": np.array([2**31 - 1, -5], np.int32),
            "i64": np.array([2**62, -(2**40)], np.int64),
            "u8": np.array([255, 0], np.uint8),
            "u16": np.array([65535], np.uint16),
            "u32": np.array([2**32 - 1], np.uint32),
            "u64": np.array([2**64 - 1], np.uint64),
            "b": np.array([True, False]),
            "c64": np.array([1 + 2j, -3.5j], np.complex64),
            "c128": np.array([[1e-300 - 1j]], np.complex128),
            "s": np.array([b"hello", b"", "\u00e9t\u00e9".encode()], object),
        }
        outputs = []
        for name, value in values.items():
            constant = value if isinstance(value, tf.Tensor) else tf.constant(value, name=name + "_const")
            outputs.append(tf.identity(constant, name=name))
        c.session([c.step(fetches=outputs)])

    with Case("core_dtypes_cast", "Cast between float, half, bfloat16, integers, bool and complex, with rounding and wrap-around.") as c:
        x = tf1.placeholder(tf.float32, [None], name="x")
        casts = [
            tf.cast(x, tf.bfloat16, name="to_bf16"),
            tf.cast(tf.cast(x, tf.bfloat16), tf.float32, name="bf16_back"),
            tf.cast(x, tf.float16, name="to_f16"),
            tf.cast(x, tf.int32, name="to_i32"),
            tf.cast(x, tf.uint8, name="to_u8"),
            tf.cast(x, tf.bool, name="to_bool"),
            tf.cast(x, tf.complex64, name="to_c64"),
            tf.cast(tf.cast(x, tf.complex64), tf.float64, name="c64_real"),
            tf.cast(tf.cast(x, tf.complex64), tf.complex128, name="c64_c128"),
        ]
        c.session([c.step(fetches=casts, feeds={x: np.array([0.0, 1.5, -2.5, 3.00390625, 300.7, -1.0], np.float32)})])

    with Case("core_strings", "String placeholders, constants (with bytes that are not UTF-8) and Identity.") as c:
        s = tf1.placeholder(tf.string, [None], name="s")
        t = tf.identity(s, name="t")
        k = tf.constant([b"weft", b"\x00\xff binary"], name="k")
        c.session([
            c.step(fetches=[t, k], feeds={s: np.array([b"a", b"bc", b""], object)}),
        ])
