"""Assert, tf.strings.format, tf.print and StringJoin: what TF1 programs use strings for."""
import sys

import numpy as np
import tensorflow as tf

from lib import Case, tf1


def cases():
    with Case("strings_format_summarize", "tf.strings.format: nested brackets, first and last entries of long dimensions, floats in TensorFlow's shortest form, quoted strings") as c:
        x = tf1.placeholder(tf.float32, None, name="x")
        y = tf1.placeholder(tf.int64, None, name="y")
        s = tf.constant(["hi", "there"], name="s")
        f = tf.strings.format("x={} y={} s={}!", [x, y, s], summarize=2, name="f")
        g = tf.strings.format("{}|{}", [tf.constant([True, False]), tf.constant(0.1, tf.float64)], name="g")
        h = tf.strings.format("all {}", [y], summarize=-1, name="h")
        c.session([
            c.step(fetches=[f, g, h], feeds={x: np.array([[1.5, 2, 3], [4, 5, 6], [7, 8, 9]], np.float32), y: np.arange(7)}),
            c.step(fetches=[f], feeds={x: np.array([1e-7, 123456789.0, np.nan, -np.inf], np.float32), y: np.zeros([0], np.int64)}),
            c.step(fetches=[f], feeds={x: np.float32(2.5), y: np.arange(24).reshape(2, 3, 4)}),
        ])

    with Case("strings_assert", "Assert passes silently, and fails with InvalidArgument when its condition is false") as c:
        x = tf1.placeholder(tf.float32, [None], name="x")
        # The raw op: tf.debugging.assert_* wrap it in a cond (If), which is control flow.
        check = tf.raw_ops.Assert(
            condition=tf.reduce_all(x >= 0), data=["x must not be negative:", x], summarize=3, name="check"
        )
        with tf.control_dependencies([check]):
            y = tf.identity(x, name="y")
        c.session([
            c.step(fetches=[y], feeds={x: np.array([1, 2], np.float32)}),
            c.step(fetches=[y], feeds={x: np.array([1, -2], np.float32)}),
            c.step(fetches=[y], feeds={x: np.array([3], np.float32)}),
        ])

    with Case("controlflow_strings_assert_guarded", "tf.debugging.assert_non_negative: Assert inside a cond (If)") as c:
        x = tf1.placeholder(tf.float32, [None], name="x")
        check = tf1.debugging.assert_non_negative(x, message="x must not be negative", name="check")
        with tf.control_dependencies([check]):
            y = tf.identity(x, name="y")
        c.session([
            c.step(fetches=[y], feeds={x: np.array([1, 2], np.float32)}),
            c.step(fetches=[y], feeds={x: np.array([1, -2], np.float32)}),
        ])

    with Case("strings_print_and_join", "tf.print in a graph (StringFormat + PrintV2) ordered before a read; StringJoin with a broadcast scalar") as c:
        x = tf1.placeholder(tf.float32, [None], name="x")
        printed = tf.print("x is", x, output_stream=sys.stderr, name="printed")
        with tf.control_dependencies([printed]):
            y = tf.identity(x * 2, name="y")
        joined = tf.strings.join([tf.constant(["a", "b"]), tf.constant("c")], separator="-", name="joined")
        c.session([c.step(fetches=[y, joined], feeds={x: np.array([1, 2], np.float32)})])
